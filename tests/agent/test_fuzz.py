"""schemathesis (PyPI) generates requests from docs/agent-openapi.yaml, valid and not, and checks
that every answer is documented (status, content type, body schema) and that none is a 5xx."""
import os
import shutil
import subprocess
import sys

import pytest

from conftest import ROOT


@pytest.mark.skipif(shutil.which("schemathesis") is None and shutil.which("st") is None,
                    reason="schemathesis is not installed (scripts/setup installs it)")
def test_schemathesis(agent, users):
    exe = shutil.which("schemathesis") or shutil.which("st")
    r = subprocess.run([exe, "run", str(ROOT / "docs" / "agent-openapi.yaml"), "--url", agent.url,
                        "-H", f"X-API-Key: {users['admin']}", "--checks", "not_a_server_error,status_code_conformance,"
                        "content_type_conformance,response_schema_conformance,negative_data_rejection,unsupported_method", "--max-examples", "25",
                        "--exclude-path", "/api/admin/circuit-breaker-test"],
                       capture_output=True, text=True, timeout=900, env=dict(os.environ, NO_COLOR="1"))
    assert r.returncode == 0, r.stdout[-6000:] + r.stderr[-2000:]
    assert agent.proc.poll() is None
