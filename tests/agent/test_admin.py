"""The guide's procedures against the agent, with the bodies they send, and what each changes on
the agent's pools (real traffic: the Redis pool serves the key checks and db-stats' INFO)."""
import re
import time

from conftest import metric


def test_db_stats_reads_redis_through_the_pool(agent, users, redis):
    r = agent.call("GET", "/admin/db-stats", key=users["viewer"])
    pool = r.json()["connection_pool"]
    assert pool["status"] == "degraded"           # Qdrant is down here
    assert pool["redis"]["reachable"] is True and pool["redis"]["server"]["redis_version"]
    assert pool["qdrant"]["reachable"] is False and pool["qdrant"]["error"]
    # the guide's jq line
    assert pool["status"] in ("healthy", "degraded", "unhealthy")
    m = agent.call("GET", "/metrics").text
    name = pool["redis"]["pool"]
    assert str(redis.port) in name
    assert metric(m, "db_query_total", pool=name) >= 2     # key lookups and INFO
    assert metric(m, "db_connection_pool_size", pool=name) >= 1
    assert metric(m, "db_circuit_breaker_state", state="closed") == 1
    assert metric(m, "db_connection_affinity_performance_score") is not None


def test_breaker_reset_test_and_configure(agent, users):
    admin = users["admin"]
    st = agent.call("GET", "/api/admin/circuit-breaker-status", key=admin).json()
    assert {b["target"] for b in st["breakers"]} == {"redis", "qdrant"}
    t = agent.call("POST", "/api/admin/circuit-breaker-test", key=admin, body={"test_type": "controlled_failure", "target": "redis"}).json()
    assert t["passed"] is True and t["results"][0]["refused_while_open"] is True
    c = agent.call("PUT", "/api/admin/circuit-breaker-config", key=admin,
                   body={"failure_threshold": 7, "recovery_timeout": 12.5, "half_open_max_calls": 4}).json()
    for entry in c["configured"]:
        assert entry["config"]["failure_threshold"]["timeout"] == 7
        assert entry["config"]["recovery_timeout"] == 12.5 and entry["config"]["half_open_max_calls"] == 4
    st = agent.call("GET", "/api/admin/circuit-breaker-status", key=admin).json()
    assert all(b["config"]["failure_threshold"]["connection"] == 7 for b in st["breakers"])
    # the Qdrant test fails honestly: nothing answers there
    t = agent.call("POST", "/api/admin/circuit-breaker-test", key=admin, body={"test_type": "controlled_failure", "target": "qdrant"}).json()
    assert t["passed"] is False and t["results"][0]["recovered_after_reset"] is False
    r = agent.call("POST", "/api/admin/circuit-breaker-reset", key=admin, body={"failure_type": "all"}).json()
    assert {x["to"] for x in r["reset"]} == {"closed"}


def test_qdrant_failures_open_its_breaker_and_health_says_degraded(agent, users):
    admin = users["admin"]
    for _ in range(4):
        agent.call("GET", "/admin/db-stats", key=admin)
    st = {b["target"]: b for b in agent.call("GET", "/api/admin/circuit-breaker-status", key=admin).json()["breakers"]}
    assert st["qdrant"]["state"] == "open" and st["qdrant"]["failures_total"]["connection"] >= 3
    assert st["redis"]["state"] == "closed"
    h = agent.call("GET", "/health").json()
    assert h["status"] == "degraded" and h["breakers"]["qdrant"] == "open"
    s = agent.call("GET", "/api/admin/circuit-breaker-health-summary", key=admin).json()
    assert s["healthy"] is False and s["state"] == "open"


def test_retraining_the_guide_way(agent, users):
    admin = users["admin"]
    stats = agent.call("GET", "/api/admin/ml-model-stats", key=admin).json()
    assert stats["accuracy"] is None and stats["training_samples"] >= 0
    # not needed (too few samples): nothing starts
    r = agent.call("POST", "/api/admin/retrain-ml-model", key=admin, body={"force": False, "background": True})
    assert r.status_code == 200 and r.json()["status"] == "not_needed"
    r = agent.call("POST", "/api/admin/retrain-ml-model", key=admin, body={"force": True, "background": True})
    assert r.status_code == 202
    deadline = time.time() + 30
    while time.time() < deadline:
        status = agent.call("GET", "/api/admin/ml-model-training-status", key=admin).json()["status"]
        if status in ("completed", "failed"):
            break
        time.sleep(0.2)
    assert status == "completed"
    r = agent.call("POST", "/api/admin/retrain-ml-model", key=admin, body={"force": True, "background": False, "target": "redis"}).json()
    assert r["status"] == "completed" and [x["target"] for x in r["reports"]] == ["redis"]
    assert (agent.tmp / "pool" / "redis.model").exists()


def test_affinity_endpoints(agent, users, redis):
    admin = users["admin"]
    for _ in range(5):
        agent.call("GET", "/admin/db-stats", key=admin)
    pats = agent.call("GET", "/api/admin/connection-affinity-patterns", key=admin).json()["patterns"]
    names = {p["normalized_query"] for p in pats if p["target"] == "redis"}
    assert "GET apikey:*" in names and "INFO" in names
    perf = agent.call("GET", "/api/admin/connection-affinity-performance", key=admin).json()
    assert {p["target"] for p in perf["pools"]} == {"redis", "qdrant"}
    cleared = agent.call("DELETE", "/api/admin/connection-affinity-patterns", key=admin, body={"min_performance_score": 0.3}).json()
    assert cleared["min_performance_score"] == 0.3 and cleared["cleared"] >= 0
    assert "changes" in agent.call("POST", "/api/admin/optimize-connection-specializations", key=admin).json()
    report = agent.call("GET", "/api/admin/connection-affinity-weekly-report", key=admin).json()
    assert report["days"] == 7 and report["pools"]["redis"]["snapshots"] >= 1


def test_temporary_pool_size_lapses(agent, users, redis):
    admin = users["admin"]
    before = agent.call("GET", "/admin/db-stats", key=admin).json()["connection_pool"]["redis"]["size"]
    r = agent.call("PUT", "/api/admin/connection-pool-config", key=admin,
                   body={"pool_size": before + 10, "temporary": True, "review_after": 1, "target": "redis"}).json()
    assert r["pools"] == [{"target": "redis", "from": before, "to": before + 10, "temporary": True, "review_due": r["pools"][0]["review_due"]}]
    assert agent.call("GET", "/admin/db-stats", key=admin).json()["connection_pool"]["redis"]["size"] == before + 10
    deadline = time.time() + 20
    while time.time() < deadline:
        size = agent.call("GET", "/admin/db-stats", key=admin).json()["connection_pool"]["redis"]["size"]
        if size == before:
            break
        time.sleep(0.2)
    assert size == before


def test_metrics_carry_the_guides_names_and_process_metrics(agent, users):
    agent.call("GET", "/admin/db-stats", key=users["admin"])
    text = agent.call("GET", "/metrics").text
    for name in ("db_connection_pool_checked_out", "db_connection_pool_size", "db_circuit_breaker_state",
                 "db_circuit_breaker_failures_total", "db_connection_affinity_performance_score", "db_query_duration_seconds_bucket",
                 "db_connection_pool_ml_model_training_samples", "opsh_agent_http_requests_total", "opsh_agent_connections_open",
                 "process_resident_memory_bytes", "process_cpu_seconds_total", "process_open_fds", "process_start_time_seconds"):
        assert re.search(rf"^{name}[{{ ]", text, re.M), name
    # the guide's pipeline: grep NAME | awk '{print $2}' gives a number
    line = next(l for l in text.splitlines() if l.startswith("db_connection_pool_checked_out"))
    float(line.split()[1])
    import subprocess
    r = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
