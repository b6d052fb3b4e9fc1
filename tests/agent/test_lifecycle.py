"""SIGTERM: no new work, what is running finishes, a clean exit. SIGHUP: the configuration is read
again; a bad one is refused and the old one kept."""
import signal
import socket
import time

import pytest
import requests

from conftest import wait_gone


def wait_for(pred, timeout=20):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if pred():
            return True
        time.sleep(0.1)
    return False


def test_sighup_applies_a_good_configuration(agent, users):
    assert agent.call("GET", "/health").status_code == 200
    agent.write_config(dict(agent.settings, agent_open_endpoints={}))
    agent.signal(signal.SIGHUP)
    assert wait_for(lambda: agent.call("GET", "/health").status_code == 401), agent.output()
    assert "configuration reloaded" in agent.output()
    assert agent.call("GET", "/health", key=users["viewer"]).status_code == 200


@pytest.mark.parametrize("bad", [
    "return {\n  agent_open_endpoints = {} ,,\n}\n",                      # not Lua
    "return { agent_max_connections = 'many' }\n",                        # a bad value
    "return { agent_tls_certificate = '/nonexistent.pem' }\n",             # half a TLS setting
])
def test_sighup_refuses_a_bad_configuration(agent, users, bad):
    agent.write_config(None, raw=bad)
    agent.signal(signal.SIGHUP)
    assert wait_for(lambda: "configuration refused" in agent.output()), agent.output()
    # the old configuration stays: /health open, the agent serving
    assert agent.call("GET", "/health").status_code == 200
    assert agent.call("GET", "/admin/db-stats", key=users["viewer"]).status_code == 200
    assert agent.proc.poll() is None


def test_sigterm_finishes_the_running_request_and_takes_no_new_one(agent, users):
    body = b'{"failure_threshold": 6}'
    head = (f"PUT /api/admin/circuit-breaker-config HTTP/1.1\r\nHost: x\r\nX-API-Key: {users['admin']}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n").encode()
    s = socket.create_connection(("127.0.0.1", agent.port), timeout=30)
    s.sendall(head + body[:5])
    time.sleep(0.3)
    agent.signal(signal.SIGTERM)
    assert wait_for(lambda: "no new work is taken" in agent.output()), agent.output()
    # no new request is answered
    assert not_served(agent)
    # the running one is answered
    s.sendall(body[5:])
    data = b""
    while b"\r\n\r\n" not in data or not data.rstrip().endswith(b"}"):
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    s.close()
    assert data.startswith(b"HTTP/1.1 200"), data
    assert b'"connection":6' in data
    wait_gone(agent.proc)
    assert agent.proc.returncode == 0, agent.output()
    assert "stopped" in agent.output()


def not_served(agent):
    try:
        requests.get(agent.url + "/health", timeout=2)
        return False
    except requests.RequestException:
        return True


def test_sigterm_saves_the_predictors(agent, users):
    agent.call("GET", "/admin/db-stats", key=users["admin"])
    agent.signal(signal.SIGTERM)
    wait_gone(agent.proc)
    assert agent.proc.returncode == 0
    assert (agent.tmp / "pool" / "redis.model").exists() and (agent.tmp / "pool" / "qdrant.model").exists()
