"""The pool procedures (lua/pool/) act on the agent's pools through its API when --agent or the
configured agent_url names it, with the key in agent_api_key."""
import json
import os
import subprocess

from conftest import OPSH


def opsh(agent, key, *args, extra_env=None):
    env = dict(os.environ, HOME=str(agent.tmp), XDG_CONFIG_HOME=str(agent.tmp / "none"), OPSH_AGENT_API_KEY=key or "",
               **(extra_env or {}))
    r = subprocess.run([str(OPSH), "--json", "--env-file", str(agent.tmp / "none.env"), "run", *args], capture_output=True, text=True,
                       env=env, timeout=120)
    report = json.loads(r.stdout) if r.stdout.strip().startswith("{") else None
    return r, report


def checks(report):
    return {c["name"]: c for c in report["checks"]}


def test_breaker_through_the_agent(agent, users):
    r, rep = opsh(agent, users["admin"], "pool/breaker", "--agent", agent.url, "--action", "configure", "--failure_threshold", "4",
                  "--target", "redis")
    c = checks(rep)
    assert c["pool.redis.breaker"]["status"] == "ok" and "thresholds 4/4/4/4/4" in c["pool.redis.breaker"]["message"], r.stdout
    st = agent.call("GET", "/api/admin/circuit-breaker-status", key=users["admin"]).json()
    assert next(b for b in st["breakers"] if b["target"] == "redis")["config"]["failure_threshold"]["query"] == 4
    r, rep = opsh(agent, users["admin"], "pool/breaker", "--agent", agent.url, "--action", "test", "--target", "redis")
    assert checks(rep)["pool.redis.breaker.test"]["status"] == "ok", r.stdout
    # the configured agent_url is enough
    r, rep = opsh(agent, users["viewer"], "pool/breaker", "--target", "redis", extra_env={"OPSH_AGENT_URL": agent.url})
    assert "thresholds 4/4/4/4/4" in checks(rep)["pool.redis.breaker"]["message"], r.stdout


def test_a_viewer_cannot_change_the_agent(agent, users):
    r, rep = opsh(agent, users["viewer"], "pool/breaker", "--agent", agent.url, "--action", "reset")
    c = checks(rep)["pool.agent"]
    assert c["status"] == "unknown" and "HTTP 403" in c["message"] and "system_config" in c["message"]


def test_health_retrain_affinity_scale_and_weekly_review(agent, users, tmp_path):
    key = users["admin"]
    r, rep = opsh(agent, key, "pool/health", "--agent", agent.url)
    c = checks(rep)
    assert c["pool.redis.status"]["status"] == "ok" and c["pool.qdrant.status"]["status"] == "critical", r.stdout
    assert "pool.redis.utilization" in c and "pool.redis.breaker" in c and "pool.redis.affinity" in c
    r, rep = opsh(agent, key, "pool/retrain", "--agent", agent.url, "--force", "--target", "redis")
    assert "completed on the agent" in checks(rep)["pool.redis.retrain"]["message"], r.stdout
    r, rep = opsh(agent, key, "pool/affinity", "--agent", agent.url, "--target", "redis")
    assert "patterns" in checks(rep)["pool.redis.affinity.patterns"]["message"], r.stdout
    r, rep = opsh(agent, key, "pool/scale", "--agent", agent.url, "--target", "redis", "--threshold", "-1", "--review_after", "60")
    c = checks(rep)["pool.redis.scale"]
    assert c["status"] == "warning" and "emergency scaling on the agent" in c["message"], r.stdout
    out = tmp_path / "weekly.json"
    r, rep = opsh(agent, key, "pool/weekly-review", "--agent", agent.url, "--output", str(out))
    assert checks(rep)["pool.review.report"]["status"] == "ok", r.stdout
    report = json.loads(out.read_text())
    assert {"week_ending", "p95_latency", "throughput", "ml_model_accuracy", "circuit_breaker_health"} <= set(report)


def test_unreachable_agent_is_unknown(agent, users):
    r, rep = opsh(agent, users["admin"], "pool/health", "--agent", "http://127.0.0.1:9")
    c = checks(rep)["pool.agent"]
    assert r.returncode == 3 and c["status"] == "unknown" and "127.0.0.1:9/admin/db-stats" in c["message"]
