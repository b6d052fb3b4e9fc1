"""The local stack's task worker: a real ARQ worker (PyPI arq) on the stack's Redis, database 1,
as the guide's compose file runs `task-worker` (AI_DOCS_TASK_QUEUE__REDIS_URL=redis://dragonfly:6379,
database 1). Its tasks stand in for the application's: they take a little time and return a
status, like the original's tasks do."""
import asyncio
import logging
import os

from arq.connections import RedisSettings

# run_worker does not set up logging as the arq command does: the container's log shows the worker's
logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


async def process_document(ctx, doc_id, seconds=0.1):
    await asyncio.sleep(float(seconds))
    return {"status": "completed", "doc_id": doc_id}


async def ping(ctx):
    return "pong"


class WorkerSettings:
    functions = [process_document, ping]
    redis_settings = RedisSettings(
        host=os.environ.get("TASK_QUEUE_REDIS_HOST", "dragonfly"),
        port=int(os.environ.get("TASK_QUEUE_REDIS_PORT", "6379")),
        database=int(os.environ.get("TASK_QUEUE_REDIS_DB", "1")),
    )
    queue_name = os.environ.get("TASK_QUEUE_NAME", "arq:queue")
    health_check_interval = 10
    max_jobs = 10
