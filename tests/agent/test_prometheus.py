"""A real Prometheus (Debian's) scrapes the agent: the target is up and the guide's metrics are
queryable by their names."""
import shutil
import subprocess
import time

import pytest
import requests

from conftest import free_port, wait_gone


@pytest.mark.skipif(shutil.which("prometheus") is None, reason="prometheus is not installed (scripts/setup installs it)")
def test_prometheus_scrapes_the_agent(agent, users, tmp_path):
    agent.call("GET", "/admin/db-stats", key=users["admin"])     # some pool traffic
    port = free_port()
    cfg = tmp_path / "prometheus.yml"
    cfg.write_text(f"""global:
  scrape_interval: 1s
scrape_configs:
  - job_name: opsh-agent
    static_configs:
      - targets: ["127.0.0.1:{agent.port}"]
""")
    log = open(tmp_path / "prometheus.log", "wb")
    prom = subprocess.Popen(["prometheus", f"--config.file={cfg}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                             f"--web.listen-address=127.0.0.1:{port}"], stdout=log, stderr=subprocess.STDOUT)
    try:
        def query(q):
            r = requests.get(f"http://127.0.0.1:{port}/api/v1/query", params={"query": q}, timeout=5)
            return r.json()["data"]["result"]
        deadline = time.time() + 90
        up = []
        while time.time() < deadline:
            try:
                up = query('up{job="opsh-agent"}')
                if up and up[0]["value"][1] == "1" and query("db_connection_pool_size") and query('opsh_agent_http_requests_total{route="/metrics"}'):
                    break
            except (requests.RequestException, KeyError, ValueError):
                pass
            time.sleep(0.5)
        assert up and up[0]["value"][1] == "1", (tmp_path / "prometheus.log").read_text()[-2000:]
        sizes = query("db_connection_pool_size")
        assert len({s["metric"]["pool"] for s in sizes}) == 2      # the Redis pool and the Qdrant pool
        assert query('db_circuit_breaker_state{state="closed"}')
        assert query("process_resident_memory_bytes")
        assert query('opsh_agent_http_requests_total{route="/metrics"}')
    finally:
        prom.terminate()
        wait_gone(prom)
        log.close()
