#!/bin/bash
# The guide's daily health verification script (Daily Operations / Daily Checklist), as the
# guide has it, with only the substitutions needed to run it against the local stack here:
#   - `docker-compose ps`        -> `docker ps --filter label=com.docker.compose.project=$PROJECT`
#                                   (no docker-compose on this machine; the same containers)
#   - `curl localhost:6333/health | jq` -> `curl 127.0.0.1:$QDRANT_PORT/healthz` (Qdrant has no
#                                   /health; /healthz answers plain text, which jq cannot parse)
#   - `redis-cli ...`            -> `redis-cli -p $REDIS_PORT ...` (the stack's port)
#   - `docker logs ... qdrant`   -> the stack's container names (`$PREFIX` prepended)
# Everything else, systemctl included (it fails here: no systemd), is the guide's.
PROJECT=${PROJECT:-opsh} PREFIX=${PREFIX:-} QDRANT_PORT=${QDRANT_PORT:-6333} REDIS_PORT=${REDIS_PORT:-6379}
echo "=== Daily Health Check - $(date) ==="

# 1. Check service status
docker ps --filter "label=com.docker.compose.project=$PROJECT"
systemctl status ai-docs-vector-db

# 2. Verify database connectivity
curl -s http://127.0.0.1:$QDRANT_PORT/healthz

# 3. Check Redis/DragonflyDB
redis-cli -p $REDIS_PORT ping

# 4. Monitor disk usage
df -h | grep -E "(/$|/var|/tmp)"

# 5. Check logs for errors
docker logs --since 24h ${PREFIX}qdrant 2>&1 | grep -i error
docker logs --since 24h ${PREFIX}dragonfly 2>&1 | grep -i error

# 6. Verify task queue health
redis-cli -p $REDIS_PORT -n 1 info | grep -E "(connected_clients|used_memory_human)"

# 7. Check system resources
free -h
top -bn1 | head -15

echo "=== Daily Check Complete ==="
