"""Each test gets its own stand-in: a free loopback port, a temp storage dir, stopped by its pid."""
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
SERVER = os.path.join(HERE, "..", "server.py")


class Standin:
    def __init__(self, tmp, *extra, optimizer=False):
        self.storage = os.path.join(tmp, "storage")
        self.snapshots = os.path.join(tmp, "snapshots")
        self.proc = subprocess.Popen(
            [sys.executable, SERVER, "--port", "0", "--storage", self.storage, "--snapshots", self.snapshots,
             *([] if optimizer else ["--no-optimizer"]), *extra],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        if not line.startswith("listening on "):
            self.stop()
            raise RuntimeError("stand-in did not start: %r %s" % (line, self.proc.stderr.read()))
        self.url = line.split()[-1]
        self.port = int(self.url.rsplit(":", 1)[1])

    def stop(self):
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        for f in (self.proc.stdout, self.proc.stderr):
            if f:
                f.close()

    def call(self, method, path, body=None, headers=None, raw=False):
        """-> (status, parsed JSON or bytes, headers)"""
        data = None
        h = dict(headers or {})
        if body is not None:
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            h.setdefault("Content-Type", "application/json")
        req = urllib.request.Request(self.url + path, data=data, method=method, headers=h)
        try:
            with urllib.request.urlopen(req, timeout=120) as r:
                status, payload, hdrs = r.status, r.read(), r.headers
        except urllib.error.HTTPError as e:
            status, payload, hdrs = e.code, e.read(), e.headers
        if raw:
            return status, payload, hdrs
        ctype = hdrs.get("Content-Type", "")
        if ctype.startswith("application/json"):
            return status, json.loads(payload), hdrs
        return status, payload.decode(), hdrs


@pytest.fixture
def standin_factory(tmp_path):
    started = []

    def start(*extra, sub="s", optimizer=False):
        s = Standin(str(tmp_path / sub), *extra, optimizer=optimizer)
        started.append(s)
        return s
    yield start
    for s in started:
        s.stop()


@pytest.fixture
def standin(standin_factory):
    """strict mode: unknown request fields rejected, every JSON response checked against the spec"""
    return standin_factory("--strict")
