"""The agent's core through the server: jobs, history and run-now with each role, a scheduled
(one-shot) job that runs, maintenance windows on run-now, the job metrics, SIGTERM during a
running job (finished within the grace period, or killed after it), SIGHUP reloading the jobs,
and HTTPS with a certificate the test makes."""
import os
import signal
import sqlite3
import subprocess
import time

import pytest
import requests

from conftest import NEVER, OPSH, Agent, wait_gone


def wait_for(pred, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.1)
    return None


def finished_run(agent, key, job):
    """The job's newest run once it has finished (polling the history endpoint)."""
    def done():
        runs = agent.call("GET", f"/api/agent/history?job={job}&limit=1", key=key).json()["runs"]
        return runs[0] if runs and runs[0]["status"] != "running" else None
    run = wait_for(done)
    assert run, agent.output()
    return run


def sleeper_job(agent, seconds, **extra):
    job = {"procedure": str(agent.tmp / "sleeper.lua"), "args": ["--sleep", str(seconds), "--mark", str(agent.tmp / "started")],
           "schedule": NEVER}
    job.update(extra)
    return job


def history_rows(agent, job):
    db = sqlite3.connect(agent.settings["agent_history_db"])
    try:
        return db.execute("SELECT status, exit_code, message FROM runs WHERE job = ? ORDER BY id", (job,)).fetchall()
    finally:
        db.close()


def test_jobs_history_and_run_now_by_role(agent, users):
    jobs = agent.call("GET", "/api/agent/jobs", key=users["viewer"]).json()
    assert jobs["agent"] == "test-agent"
    assert [j["name"] for j in jobs["jobs"]] == ["noop"]
    assert jobs["jobs"][0]["schedule"] == NEVER and jobs["jobs"][0]["next_run_at"] > time.time()
    # operators and viewers read, only system_config starts a run
    for role in ("operator", "viewer"):
        r = agent.call("POST", "/api/agent/run-now", key=users[role], body={"job": "noop"})
        assert r.status_code == 403 and "system_config" in r.json()["message"]
    assert agent.call("GET", "/api/agent/history?job=noop", key=users["viewer"]).json()["runs"] == []
    r = agent.call("POST", "/api/agent/run-now", key=users["admin"], body={"job": "noop"})
    assert r.status_code == 202, r.text
    run = r.json()["run"]
    assert run["job"] == "noop" and run["trigger"] == "run-now" and run["id"] > 0
    done = finished_run(agent, users["operator"], "noop")
    assert done["id"] == run["id"] and done["status"] == "ok" and done["exit_code"] == 0, done
    assert done["report"]["checks"][0]["message"] == "slept 0"
    last = agent.call("GET", "/api/agent/jobs", key=users["viewer"]).json()["jobs"][0]["last_run"]
    assert last["id"] == run["id"]
    # who started it is in the audit trail (the one table the core and the API share)
    audit = agent.call("GET", "/api/agent/audit?limit=10", key=users["admin"]).json()["records"]
    started = [a for a in audit if a["action"] == "POST /api/agent/run-now" and a["status"] == 202]
    assert started and started[0]["actor"] == "admin-user" and started[0]["detail"] == '{"job": "noop"}'
    assert [a["actor"] for a in audit if a["status"] == 403] == ["viewer-user", "operator-user"]


def test_run_now_refusals(make_agent, users):
    agent = make_agent()
    key = users["admin"]
    r = agent.call("POST", "/api/agent/run-now", key=key, body={"job": "no-such-job"})
    assert r.status_code == 404 and "no-such-job" in r.json()["message"]
    assert agent.call("POST", "/api/agent/run-now", key=key, body={}).status_code == 400
    assert agent.call("POST", "/api/agent/run-now", key=key, body={"job": "noop", "force": "yes"}).status_code == 400
    assert agent.call("GET", "/api/agent/history?limit=0", key=key).status_code == 400


def test_run_now_never_overlaps_a_running_job(make_agent, users):
    agent = make_agent()
    agent.write_config(dict(agent.settings, agent_jobs={"slow": sleeper_job(agent, 3)}))
    agent.signal(signal.SIGHUP)
    assert wait_for(lambda: [j["name"] for j in agent.call("GET", "/api/agent/jobs", key=users["admin"]).json()["jobs"]] == ["slow"])
    assert agent.call("POST", "/api/agent/run-now", key=users["admin"], body={"job": "slow"}).status_code == 202
    r = agent.call("POST", "/api/agent/run-now", key=users["admin"], body={"job": "slow"})
    assert r.status_code == 409 and "slow" in r.json()["message"]
    running = agent.call("GET", "/api/agent/jobs", key=users["admin"]).json()["jobs"][0]["running"]
    assert running and running["status"] == "running"
    assert finished_run(agent, users["admin"], "slow")["status"] == "ok"


def test_a_scheduled_one_shot_runs(make_agent, users, tmp_path):
    """A procedure schedules a job a second ahead (opsh.agent.at, the guide's `at`): the running
    agent's scheduler starts it when it is due, and records it."""
    agent = make_agent()
    at = agent.tmp / "at.lua"
    at.write_text(f"""local agent = require "opsh.agent"
return {{ description = "schedules a one-shot", categories = {{ "safe" }},
  run = function(_, ctx)
    local id, err = agent.at(1, {str(agent.tmp / 'sleeper.lua')!r}, {{ "--sleep", "0" }})
    if id then ctx:ok("t.at", tostring(id)) else ctx:crit("t.at", tostring(err and err.message)) end
  end }}
""".replace("'", '"'))
    env = dict(os.environ, HOME=str(agent.tmp), XDG_CONFIG_HOME=str(agent.tmp / "xdg"))
    r = subprocess.run([str(OPSH), "--config", str(agent.config), "run", str(at)], capture_output=True, text=True, env=env, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    run = finished_run(agent, users["viewer"], "once:1")
    assert run["trigger"] == "once" and run["status"] == "ok", run
    assert run["started_at"] >= run["scheduled_at"]


def closed_window_zone():
    """A zone whose clock reads about noon now: the daily window (02:00-02:30) is surely closed."""
    hours = (12 - time.gmtime().tm_hour) % 24
    return "UTC" if hours == 0 else f"<+{hours:02d}>-{hours}"


def test_run_now_keeps_the_maintenance_window_unless_forced(make_agent, users):
    agent = make_agent(maintenance_timezone=closed_window_zone())
    agent.write_config(dict(agent.settings, agent_jobs={"windowed": {"procedure": str(agent.tmp / "windowed.lua"), "schedule": NEVER}}))
    agent.signal(signal.SIGHUP)
    assert wait_for(lambda: "configuration reloaded" in agent.output())
    key = users["admin"]
    assert agent.call("POST", "/api/agent/run-now", key=key, body={"job": "windowed"}).status_code == 202
    refused = finished_run(agent, key, "windowed")
    assert refused["status"] != "ok"
    assert "daily maintenance window" in (refused["message"] or "") + str(refused["report"]), refused
    assert agent.call("POST", "/api/agent/run-now", key=key, body={"job": "windowed", "force": True}).status_code == 202
    forced = wait_for(lambda: (lambda r: r if r["id"] != refused["id"] and r["status"] != "running" else None)(
        agent.call("GET", "/api/agent/history?job=windowed&limit=1", key=key).json()["runs"][0]))
    assert forced and forced["status"] == "ok", forced


def test_job_metrics(agent, users):
    assert agent.call("POST", "/api/agent/run-now", key=users["admin"], body={"job": "noop"}).status_code == 202
    run = finished_run(agent, users["admin"], "noop")
    text = agent.call("GET", "/metrics").text
    assert 'opsh_agent_job_runs_total{job="noop",status="ok"} 1' in text
    line = next(l for l in text.splitlines() if l.startswith('opsh_agent_job_last_success_timestamp_seconds{job="noop"}'))
    assert abs(float(line.split()[1]) - run["finished_at"]) < 1
    assert 'opsh_agent_job_duration_seconds_count{job="noop"} 1' in text
    assert 'opsh_agent_job_running{job="noop"} 0' in text and "opsh_agent_jobs_running 0" in text
    r = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def sigterm_while_running(make_agent, users, job, seconds, grace):
    """An agent whose job JOB sleeps SECONDS: run-now, SIGTERM once the job's process runs; returns
    the agent once it is gone, having exited 0, and the job's history rows."""
    agent = make_agent()
    agent.write_config(dict(agent.settings, agent_grace_period=grace, agent_jobs={job: sleeper_job(agent, seconds)}))
    agent.signal(signal.SIGHUP)
    assert wait_for(lambda: "configuration reloaded" in agent.output())
    assert agent.call("POST", "/api/agent/run-now", key=users["admin"], body={"job": job}).status_code == 202
    assert wait_for(lambda: (agent.tmp / "started").exists()), agent.output()
    agent.signal(signal.SIGTERM)
    wait_gone(agent.proc, timeout=90)
    assert agent.proc.returncode == 0, agent.output()
    return agent, history_rows(agent, job)


def test_sigterm_lets_a_running_job_finish_within_the_grace_period(make_agent, users):
    agent, rows = sigterm_while_running(make_agent, users, "slow", 3, grace=60)
    assert "waiting up to 60s for running jobs: slow" in agent.output()
    assert len(rows) == 1 and rows[0][:2] == ("ok", 0), rows


def test_sigterm_kills_a_job_that_outlasts_the_grace_period(make_agent, users):
    _, rows = sigterm_while_running(make_agent, users, "stuck", 600, grace=1)
    assert len(rows) == 1 and rows[0][0] == "abandoned" and "the agent stopped before the run ended" in rows[0][2], rows


def test_sighup_reloads_the_jobs_and_refuses_a_bad_one(agent, users):
    key = users["viewer"]
    agent.write_config(dict(agent.settings, agent_jobs={"noop": {"procedure": "x", "schedule": NEVER},
                                                        "hourly": {"procedure": "x", "schedule": "0 * * * *"}}))
    agent.signal(signal.SIGHUP)
    # a Lua table's keys come in no set order
    assert wait_for(lambda: sorted(j["name"] for j in agent.call("GET", "/api/agent/jobs", key=key).json()["jobs"]) == ["hourly", "noop"])
    agent.write_config(dict(agent.settings, agent_jobs={"broken": {"procedure": "x", "schedule": "61 * * * *"}}))
    agent.signal(signal.SIGHUP)
    assert wait_for(lambda: "agent_jobs.broken" in agent.output() or "job broken" in agent.output()), agent.output()
    assert "configuration refused" in agent.output()
    assert sorted(j["name"] for j in agent.call("GET", "/api/agent/jobs", key=key).json()["jobs"]) == ["hourly", "noop"]


def test_https_with_a_certificate_and_no_plain_http(make_agent, users, tmp_path):
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    r = subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(cert),
                        "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    agent = make_agent(agent_tls_certificate=str(cert), agent_tls_key=str(key))
    assert agent.url.startswith("https://")
    r = requests.get(agent.url + "/health", verify=str(cert), timeout=10)
    assert r.status_code == 200 and r.json()["status"] == "ok"
    r = requests.get(agent.url + "/api/agent/jobs", headers={"X-API-Key": users["viewer"]}, verify=str(cert), timeout=10)
    assert r.status_code == 200 and r.json()["jobs"][0]["name"] == "noop"
    # an unknown CA is refused by the client; plain HTTP is not served
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(agent.url + "/health", timeout=10)
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.get(agent.url.replace("https://", "http://") + "/health", timeout=10)
