"""Bad input: each gets a 4xx (or a closed connection) with a message that says what was wrong,
and the agent keeps serving everyone else meanwhile."""
import socket
import threading
import time

import requests

from conftest import metric

PATH = "/api/admin/circuit-breaker-config"


def raw(agent, data, read=True, timeout=30):
    s = socket.create_connection(("127.0.0.1", agent.port), timeout=timeout)
    s.sendall(data)
    if not read:
        return s
    chunks = []
    while True:
        try:
            b = s.recv(65536)
        except socket.timeout:
            break
        if not b:
            break
        chunks.append(b)
    s.close()
    return b"".join(chunks)


def test_malformed_json(agent, users):
    r = agent.call("PUT", PATH, key=users["admin"], data=b'{"failure_threshold": 5,', headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and r.json()["error"] == "bad_request"
    assert "not valid JSON" in r.json()["message"]


def test_wrong_types(agent, users):
    for body, field, want in [({"failure_threshold": "5"}, "failure_threshold", "an integer, got string"),
                              ({"recovery_timeout": True}, "recovery_timeout", "a number, got boolean"),
                              ({"failure_threshold": 2.5}, "failure_threshold", "an integer, got number")]:
        r = agent.call("PUT", PATH, key=users["admin"], body=body)
        assert r.status_code == 400, r.text
        assert f"field '{field}' must be {want}" in r.json()["message"], r.text
    r = agent.call("PUT", PATH, key=users["admin"], body=[1, 2])
    assert r.status_code == 400 and "must be a JSON object, got array" in r.json()["message"]
    r = agent.call("PUT", PATH, key=users["admin"], body={"failure_threshold": 0})
    assert r.status_code == 400 and "from 1 to 1000000" in r.json()["message"]
    r = agent.call("POST", "/api/admin/circuit-breaker-reset", key=users["admin"], body={"failure_type": "timeout"})
    assert r.status_code == 400 and "must be one of all" in r.json()["message"]


def test_unknown_and_missing_fields(agent, users):
    r = agent.call("PUT", PATH, key=users["admin"], body={"failure_treshold": 5})
    assert r.status_code == 400
    assert "unknown field 'failure_treshold'" in r.json()["message"] and "failure_threshold" in r.json()["message"]
    r = agent.call("POST", "/api/admin/circuit-breaker-test", key=users["admin"], body={})
    assert r.status_code == 400 and "missing field 'test_type'" in r.json()["message"]
    r = agent.call("PUT", PATH, key=users["admin"], body={})
    assert r.status_code == 400 and "nothing to configure" in r.json()["message"]


def test_oversized_bodies(make_agent, users):
    agent = make_agent(agent_max_body_bytes=1024)
    big = b'{"failure_threshold": 5, "pad": "' + b"x" * 5000 + b'"}'
    r = agent.call("PUT", PATH, key=users["admin"], data=big, headers={"Content-Type": "application/json"})
    assert r.status_code == 413 and "at most 1024" in r.json()["message"]
    # without a Content-Length (chunked): refused once the limit is passed
    r = agent.call("PUT", PATH, key=users["admin"], data=iter([big[:600], big[600:]]), headers={"Content-Type": "application/json"})
    assert r.status_code == 413 and "larger than 1024" in r.json()["message"]
    assert agent.call("GET", "/health").status_code == 200


def test_slow_body_gets_408_and_others_are_served(make_agent, users):
    agent = make_agent(agent_body_timeout=2)
    head = (f"PUT {PATH} HTTP/1.1\r\nHost: x\r\nX-API-Key: {users['admin']}\r\nContent-Type: application/json\r\n"
            "Content-Length: 40\r\n\r\n").encode()
    s = raw(agent, head, read=False)
    result = {}

    def trickle():
        try:
            for b in b'{"failure_threshold": 5}':
                s.sendall(bytes([b]))
                time.sleep(1)
        except OSError as e:
            result["send_error"] = e
    t = threading.Thread(target=trickle)
    t.start()
    # meanwhile others are served at once
    served = [requests.get(agent.url + "/health", timeout=5).status_code for _ in range(5)]
    assert served == [200] * 5
    s.settimeout(30)
    data = b""
    while True:
        b = s.recv(65536)
        if not b:
            break
        data += b
    t.join()
    assert data.startswith(b"HTTP/1.1 408"), data
    assert b"did not arrive within 2 s" in data


def test_slow_headers_are_closed(make_agent):
    agent = make_agent(agent_idle_timeout=2)
    s = raw(agent, b"GET /hea", read=False)
    s.settimeout(30)
    started = time.time()
    assert s.recv(1024) == b""       # closed, no answer to a request that never came
    assert time.time() - started < 25
    assert requests.get(agent.url + "/health", timeout=5).status_code == 200


def agent_metric(agent, name):
    return metric(requests.get(agent.url + "/metrics", timeout=5).text, name)


def test_too_many_connections(make_agent):
    agent = make_agent(agent_max_connections=4)
    # the fixture's readiness probes (and this wait's own requests) are closed connections the
    # agent may not have counted out yet on a loaded machine: the four held below must find
    # none of them open, or one of the four is refused too (a CI run counted other than 1)
    deadline = time.time() + 10
    while agent_metric(agent, "opsh_agent_connections_open") > 1 and time.time() < deadline:
        time.sleep(0.1)
    time.sleep(0.5)
    held = [raw(agent, b"", read=False) for _ in range(4)]
    time.sleep(0.5)
    reply = raw(agent, b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
    assert reply.startswith(b"HTTP/1.1 503"), reply
    assert b"too many connections" in reply and b"at most 4" in reply
    held.pop().close()
    time.sleep(0.5)
    assert requests.get(agent.url + "/health", timeout=5).status_code == 200
    for s in held:
        s.close()
    time.sleep(0.5)
    assert agent_metric(agent, "opsh_agent_connections_refused_total") == 1


def test_unknown_endpoint_and_method(agent, users):
    r = agent.call("GET", "/api/admin/nope", key=users["admin"], check=False)
    assert r.status_code == 404 and "no endpoint /api/admin/nope" in r.json()["message"]
    r = agent.call("DELETE", "/health", check=False)
    assert r.status_code == 405 and r.headers["allow"] == "GET"


def test_body_where_none_is_taken(agent, users):
    r = agent.call("POST", "/api/admin/optimize-connection-specializations", key=users["admin"], body={"bogus": 1})
    assert r.status_code == 400 and "unknown field 'bogus'" in r.json()["message"]
