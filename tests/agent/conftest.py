"""The agent's tests: the real opsh-agent on a free loopback port, a real redis-server holding the
users (stdlib/opsh/users.lua's layout), and every response checked against docs/agent-openapi.yaml."""
import hashlib
import json
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest
import requests

from spec import Spec

ROOT = Path(__file__).resolve().parents[2]
BUILD = Path(os.environ.get("OPSH_BUILD_DIR", ROOT / ".build" / "debug"))
AGENT = Path(os.environ.get("OPSH_AGENT_BIN", BUILD / "opsh-agent"))
OPSH = Path(os.environ.get("OPSH_BIN", BUILD / "opsh"))
SPEC = Spec(ROOT / "docs" / "agent-openapi.yaml")

# Test procedures, as files `opsh run PATH` runs (the jobs' procedure may be a path).
SLEEPER = """local opsh = require "opsh"
return { description = "sleeps, then reports", categories = { "safe" },
  args = { { name = "sleep", type = "number", default = 0 }, { name = "mark", default = "" } },
  run = function(a, ctx)
    if a.mark ~= "" then local f = io.open(a.mark, "w"); f:write("started"); f:close() end
    opsh.sleep(a.sleep)
    ctx:ok("t.sleeper", "slept " .. a.sleep)
  end }
"""
WINDOWED = """return { description = "needs the daily window", categories = { "maintenance", "intrusive" }, window = "daily",
  run = function(_, ctx) ctx:ok("t.windowed", "ran") end }
"""
# a schedule that is never due while a test runs (midnight on January 1st)
NEVER = "0 0 1 1 *"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_gone(proc, timeout=30):
    """Waits until the process has exited (tests that stop a server wait until it is really gone)."""
    proc.wait(timeout=timeout)
    assert proc.returncode is not None


class Redis:
    def __init__(self, tmp):
        self.port = free_port()
        self.proc = subprocess.Popen(["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                                      "--appendonly", "no", "--dir", str(tmp)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 20
        while time.time() < deadline:
            if self.cli("PING").strip() == "PONG":
                return
            time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    @property
    def url(self):
        return f"redis://127.0.0.1:{self.port}"

    def cli(self, *args):
        r = subprocess.run(["redis-cli", "-p", str(self.port), *args], capture_output=True, text=True, timeout=10)
        return r.stdout

    def add_user(self, name, role, status="active"):
        """A user as users/create makes one: only the key's SHA-256 is stored, with the apikey: index."""
        key = hashlib.sha256(f"{name}-{time.time_ns()}".encode()).hexdigest()
        digest = hashlib.sha256(key.encode()).hexdigest()
        self.cli("HSET", f"user:{name}", "role", role, "status", status, "api_key_sha256", digest,
                 "api_key_prefix", key[:8], "created_at", "0", "updated_at", "0")
        self.cli("SET", f"apikey:{digest}", name)
        return key

    def stop(self):
        self.proc.terminate()
        wait_gone(self.proc)


class Agent:
    """opsh-agent with a config.lua of its own; `settings` become config.lua keys."""

    def __init__(self, tmp, redis, **settings):
        self.tmp = tmp
        (tmp / "sleeper.lua").write_text(SLEEPER)
        (tmp / "windowed.lua").write_text(WINDOWED)
        self.port = free_port()
        # HTTPS when the test gives a certificate: requests check it against that file (self-signed)
        self.verify = settings.get("agent_tls_certificate", True)
        self.url = f"{'https' if 'agent_tls_certificate' in settings else 'http'}://127.0.0.1:{self.port}"
        self.config = tmp / "config.lua"
        self.settings = {
            "redis_url": redis.url,
            "qdrant_url": f"http://127.0.0.1:{free_port()}",   # nothing listens: Qdrant is down
            "agent_history_db": str(tmp / "history.db"),
            "pool_state_dir": str(tmp / "pool"),
            "agent_key_cache_seconds": 0,
            "agent_rate_limit_per_key": 0,
            "agent_rate_limit_per_address": 0,
            # only the tests' jobs: the guide's defaults would run real procedures on the hour
            "agent_default_jobs": False,
            "agent_jobs": {"noop": {"procedure": str(tmp / "sleeper.lua"), "schedule": NEVER}},
            "agent_id": "test-agent",
        }
        self.settings.update(settings)
        self.write_config(self.settings)
        (tmp / "none.env").write_text("")
        self.log = open(tmp / "agent.log", "wb")
        env = dict(os.environ, HOME=str(tmp), XDG_CONFIG_HOME=str(tmp / "xdg"))
        self.proc = subprocess.Popen([str(AGENT), "--config", str(self.config), "--env-file", str(tmp / "none.env"),
                                      "--listen", f"127.0.0.1:{self.port}"], stdout=self.log, stderr=subprocess.STDOUT, env=env)
        deadline = time.time() + 60
        while time.time() < deadline:
            assert self.proc.poll() is None, self.output()
            try:
                if requests.get(self.url + "/health", timeout=1, verify=self.verify).status_code in (200, 401):
                    return
            except requests.RequestException:
                time.sleep(0.1)
        raise RuntimeError("opsh-agent did not start: " + self.output())

    def write_config(self, settings, raw=None):
        def lua(v):
            if isinstance(v, bool):
                return "true" if v else "false"
            if isinstance(v, (int, float)):
                return repr(v)
            if isinstance(v, (list, tuple)):
                return "{" + ", ".join(lua(x) for x in v) + "}"
            if isinstance(v, dict):
                return "{" + ", ".join(f"[{lua(k)}] = {lua(x)}" for k, x in v.items()) + "}"
            return json.dumps(v)
        text = raw if raw is not None else "return {\n" + "".join(f"  {k} = {lua(v)},\n" for k, v in settings.items()) + "}\n"
        self.config.write_text(text)

    def output(self):
        self.log.flush()
        return (self.tmp / "agent.log").read_text(errors="replace")

    def call(self, method, path, key=None, body=None, data=None, headers=None, check=True, timeout=30):
        h = dict(headers or {})
        if key:
            h["X-API-Key"] = key
        r = requests.request(method, self.url + path, json=body, data=data, headers=h, timeout=timeout, verify=self.verify)
        if check:
            SPEC.validate(method, path, r)
        return r

    def signal(self, sig):
        self.proc.send_signal(sig)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        wait_gone(self.proc, timeout=60)
        self.log.close()


@pytest.fixture
def redis(tmp_path):
    r = Redis(tmp_path)
    yield r
    r.stop()


@pytest.fixture
def users(redis):
    return {role: redis.add_user(role + "-user", role) for role in ("admin", "operator", "viewer")} | {
        "disabled": redis.add_user("gone-user", "admin", status="disabled")}


@pytest.fixture
def make_agent(tmp_path, redis):
    made = []

    def make(**settings):
        d = tmp_path / f"agent{len(made)}"
        d.mkdir()
        a = Agent(d, redis, **settings)
        made.append(a)
        return a
    yield make
    for a in made:
        a.stop()


@pytest.fixture
def agent(make_agent):
    return make_agent()


def metric(text, name, **labels):
    """The value of a Prometheus sample (labels must all match)."""
    for line in text.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        if all(f'{k}="{v}"' in line for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return None
