"""Qdrant's formats: envelopes, health texts, errors, auth, collections, points, metrics."""
import json
import os
import re
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import spec as specmod  # noqa: E402

VEC4 = {"vectors": {"size": 4, "distance": "Cosine"}}


def ok(resp):
    status, body, _ = resp
    assert status == 200, body
    assert set(body) == {"result", "status", "time"}, body
    assert body["status"] == "ok" and isinstance(body["time"], float)
    return body["result"]


def err(resp, status, pattern):
    st, body, _ = resp
    assert st == status, body
    assert set(body) == {"status", "time"}, body
    assert re.search(pattern, body["status"]["error"]), body["status"]["error"]
    return body["status"]["error"]


def fill(s, name="c", n=20):
    ok(s.call("PUT", "/collections/" + name, VEC4))
    pts = [{"id": i, "vector": [1.0, i / n, (i % 3) / 3, 0.5], "payload": {"city": ["Berlin", "Paris"][i % 2], "n": i}}
           for i in range(1, n + 1)]
    r = ok(s.call("PUT", "/collections/%s/points?wait=true" % name, {"points": pts}))
    assert r["status"] == "completed" and isinstance(r["operation_id"], int)


def test_service_endpoints(standin):
    st, body, h = standin.call("GET", "/")
    assert st == 200 and body["title"] == "qdrant - vector search engine" and body["version"] == "1.19.0"
    assert "result" not in body
    for path, text in (("/healthz", "healthz check passed"), ("/livez", "healthz check passed"),
                       ("/readyz", "all shards are ready")):
        st, body, h = standin.call("GET", path)
        assert (st, body) == (200, text)
        assert h["Content-Type"] == "text/plain; charset=utf-8"
    st, body, h = standin.call("GET", "/no/such/route")
    assert st == 404 and body == ""
    assert ok(standin.call("GET", "/cluster")) == {"status": "disabled"}
    tel = ok(standin.call("GET", "/telemetry"))
    assert tel["collections"]["number_of_collections"] == 0 and tel["id"]


def test_metrics(standin):
    st, text, h = standin.call("GET", "/metrics")
    assert st == 200 and h["Content-Type"].startswith("text/plain")
    assert "# HELP app_info information about qdrant server" in text
    assert "# TYPE app_info gauge" in text
    assert 'app_info{name="qdrant",version="1.19.0"} 1' in text
    assert "\ncollections_total 0" in text
    assert "collection_points" not in text and "rest_responses" not in text  # empty families are left out
    fill(standin)
    ok(standin.call("POST", "/collections/c/points/query", {"query": [1, 0, 0, 0]}))
    st, text, h = standin.call("GET", "/metrics")
    assert 'collection_points{id="c"} 20' in text
    assert 'rest_responses_total{method="POST",endpoint="/collections/{collection_name}/points/query",status="200"} 1' in text
    assert 'rest_responses_duration_seconds_bucket{method="POST",endpoint="/collections/{collection_name}/points/query",le="+Inf"} 1' in text
    assert "/collections/{collection_name}\"" not in text  # collection endpoints are not whitelisted
    assert re.search(r"\nprocess_threads \d+", text)


def test_metrics_prefix(standin_factory):
    s = standin_factory("--metrics-prefix", "qdrant_")
    st, text, _ = s.call("GET", "/metrics")
    assert 'qdrant_app_info{name="qdrant"' in text and "\nqdrant_collections_total 0" in text


def test_collections_lifecycle(standin):
    s = standin
    assert ok(s.call("GET", "/collections")) == {"collections": []}
    assert ok(s.call("GET", "/collections/c/exists")) == {"exists": False}
    err(s.call("GET", "/collections/c"), 404, r"^Not found: Collection `c` doesn't exist!$")
    assert ok(s.call("PUT", "/collections/c", dict(VEC4, optimizers_config={"indexing_threshold": 20000}))) is True
    err(s.call("PUT", "/collections/c", VEC4), 409, r"^Wrong input: Collection `c` already exists!$")
    info = ok(s.call("GET", "/collections/c"))
    assert info["status"] == "green" and info["optimizer_status"] == "ok"
    assert info["config"]["hnsw_config"]["m"] == 16
    assert info["config"]["optimizer_config"]["indexing_threshold"] == 20000
    assert info["config"]["params"]["vectors"] == {"size": 4, "distance": "Cosine"}
    assert ok(s.call("PATCH", "/collections/c", {"optimizers_config": {"indexing_threshold": 0},
                                                 "hnsw_config": {"m": 32, "ef_construct": 200}})) is True
    info = ok(s.call("GET", "/collections/c"))
    assert info["config"]["hnsw_config"]["m"] == 32 and info["config"]["hnsw_config"]["ef_construct"] == 200
    assert info["config"]["optimizer_config"]["indexing_threshold"] == 0
    assert info["status"] == "green"
    assert ok(s.call("GET", "/collections")) == {"collections": [{"name": "c"}]}
    # aliases
    assert ok(s.call("POST", "/collections/aliases", {"actions": [{"create_alias": {"collection_name": "c", "alias_name": "a"}}]}))
    assert ok(s.call("GET", "/aliases")) == {"aliases": [{"alias_name": "a", "collection_name": "c"}]}
    assert ok(s.call("GET", "/collections/c/aliases")) == {"aliases": [{"alias_name": "a", "collection_name": "c"}]}
    assert ok(s.call("GET", "/collections/a/exists")) == {"exists": True}
    assert ok(s.call("POST", "/collections/a/points/count", {})) == {"count": 0}
    assert ok(s.call("POST", "/collections/aliases", {"actions": [{"delete_alias": {"alias_name": "a"}}]}))
    assert ok(s.call("GET", "/aliases")) == {"aliases": []}
    assert ok(s.call("DELETE", "/collections/c")) is True
    assert ok(s.call("DELETE", "/collections/c")) is False
    assert ok(s.call("GET", "/collections/c/exists")) == {"exists": False}


def test_points_and_index(standin):
    s = standin
    fill(s)
    assert ok(s.call("POST", "/collections/c/points/count", {"exact": True})) == {"count": 20}
    f = {"must": [{"key": "city", "match": {"value": "Berlin"}}], "must_not": [{"key": "n", "range": {"gt": 15}}]}
    assert ok(s.call("POST", "/collections/c/points/count", {"filter": f})) == {"count": 7}
    r = ok(s.call("POST", "/collections/c/points/query", {"query": [1, 1, 0, 0.5], "limit": 3, "with_payload": True}))
    pts = r["points"]
    q = [1, 1, 0, 0.5]

    def cos(i, n=20):
        v = [1.0, i / n, (i % 3) / 3, 0.5]
        dot = sum(a * b for a, b in zip(q, v))
        return dot / (sum(a * a for a in q) ** 0.5 * sum(b * b for b in v) ** 0.5)
    best = sorted(range(1, 21), key=lambda i: -cos(i))[:3]
    assert [p["id"] for p in pts] == best
    assert abs(pts[0]["score"] - cos(best[0])) < 1e-5
    assert len(pts) == 3 and set(pts[0]) == {"id", "version", "score", "payload"}
    assert pts[0]["score"] >= pts[1]["score"] >= pts[2]["score"]
    r = ok(s.call("POST", "/collections/c/points/query", {"query": 20, "limit": 2}))
    assert [p["id"] for p in r["points"]] != [] and 20 not in [p["id"] for p in r["points"]]
    assert set(r["points"][0]) == {"id", "version", "score"}
    r = ok(s.call("POST", "/collections/c/points/scroll", {"limit": 5, "with_vector": True}))
    assert [p["id"] for p in r["points"]] == [1, 2, 3, 4, 5] and r["next_page_offset"] == 6
    assert len(r["points"][0]["vector"]) == 4
    r2 = ok(s.call("POST", "/collections/c/points/scroll", {"limit": 100, "offset": 18}))
    assert [p["id"] for p in r2["points"]] == [18, 19, 20] and r2["next_page_offset"] is None
    r = ok(s.call("PUT", "/collections/c/index?wait=true", {"field_name": "city", "field_schema": "keyword"}))
    assert r["status"] == "completed"
    info = ok(s.call("GET", "/collections/c"))
    assert info["payload_schema"] == {"city": {"data_type": "keyword", "points": 20}}
    ok(s.call("DELETE", "/collections/c/index/city?wait=true"))
    assert ok(s.call("GET", "/collections/c"))["payload_schema"] == {}
    r = ok(s.call("POST", "/collections/c/points/delete?wait=true", {"points": [1, 2]}))
    assert r["status"] == "completed"
    ok(s.call("POST", "/collections/c/points/delete?wait=true", {"filter": {"must": [{"key": "city", "match": {"value": "Paris"}}]}}))
    assert ok(s.call("POST", "/collections/c/points/count", {})) == {"count": 9}
    r = ok(s.call("PUT", "/collections/c/points?wait=false",
                  {"batch": {"ids": [100, "550e8400-e29b-41d4-a716-446655440000"], "vectors": [[1, 0, 0, 0], [0, 1, 0, 0]]}}))
    assert r["status"] == "acknowledged"
    r = ok(s.call("POST", "/collections/c/points", {"ids": ["550e8400-e29b-41d4-a716-446655440000"], "with_vector": True}))
    assert r[0]["id"] == "550e8400-e29b-41d4-a716-446655440000"


def test_error_shapes(standin):
    s = standin
    fill(s)
    err(s.call("PUT", "/collections/c/points", b"{not json"), 400, r"^Format error in JSON body: ")
    err(s.call("PUT", "/collections/d", {"vectors": {"size": "four", "distance": "Cosine"}}), 400,
        r"^Format error in JSON body: .*'four'")
    err(s.call("PUT", "/collections/d", {"vectors": {"size": 4, "distance": "Cosinus"}}), 400, r"^Format error in JSON body: ")
    err(s.call("PATCH", "/collections/c", {"hnsw_config": {"m": -1}}), 400,
        r"^Format error in JSON body: invalid value: integer `-1`, expected usize at `hnsw_config.m`")
    err(s.call("PATCH", "/collections/c", {"hnsw_config": {"ef_construct": 2}}), 422,
        r"^Validation error in JSON body: \[hnsw_config\.ef_construct: 2 is less than the minimum of 4\]")
    err(s.call("PATCH", "/collections/c", {"optimizers_config": {"deleted_threshold": 1.5}}), 422,
        r"^Validation error in JSON body: \[optimizers_config\.deleted_threshold: ")
    err(s.call("PUT", "/collections/c/points", {"points": [{"id": -1, "vector": [1, 0, 0, 0]}]}), 400,
        r"^Format error in JSON body: ")
    # the guide's hnsw_config.ef is not a Qdrant field: strict mode names it
    e = err(s.call("PATCH", "/collections/c", {"hnsw_config": {"ef": 128}}), 400,
            r"^Format error in JSON body: unknown field `ef`")
    assert "`ef_construct`" in e
    err(s.call("PUT", "/collections/c", {"vectors": {"size": 4, "distance": "Cosine"}, "optimizer_config": {}}), 400,
        r"unknown field `optimizer_config`")
    err(s.call("POST", "/collections/nope/points/query", {"query": [1, 0, 0, 0]}), 404,
        r"^Not found: Collection `nope` doesn't exist!$")
    err(s.call("POST", "/collections/c/points/query", {"query": 9999}), 404, r"^Not found: No point with id 9999 found$")
    err(s.call("PUT", "/collections/c/points?wait=maybe", {"points": []}), 400, r"^Query deserialize error: ")
    err(s.call("GET", "/collections/c/snapshots/nope.snapshot"), 404, r"^Not found: Snapshot file")
    err(s.call("POST", "/cluster/recover"), 405, r"standalone mode")


def test_unknown_fields_ignored_without_strict(standin_factory):
    s = standin_factory()
    ok(s.call("PUT", "/collections/c", VEC4))
    st, body, h = s.call("PATCH", "/collections/c", {"hnsw_config": {"ef": 128, "m": 20}})
    assert st == 200 and body["result"] is True  # as Qdrant: ignored
    assert h["x-standin-ignored-fields"] == "hnsw_config.ef"
    assert ok(s.call("GET", "/collections/c"))["config"]["hnsw_config"]["m"] == 20


def test_api_key(standin_factory):
    s = standin_factory("--api-key", "sekret")
    for path in ("/", "/healthz", "/readyz", "/livez"):
        assert s.call("GET", path)[0] == 200
    st, body, h = s.call("GET", "/collections")
    assert (st, body) == (401, "Must provide an API key or an Authorization bearer token")
    st, body, h = s.call("GET", "/metrics", headers={"api-key": "wrong"})
    assert (st, body) == (401, "Invalid API key or JWT")
    assert s.call("GET", "/telemetry")[0] == 401
    assert s.call("GET", "/collections", headers={"api-key": "sekret"})[0] == 200
    assert s.call("GET", "/metrics", headers={"Authorization": "Bearer sekret"})[0] == 200


def test_full_snapshots(standin):
    s = standin
    fill(s, "c1")
    fill(s, "c2", 5)
    d = ok(s.call("POST", "/snapshots?wait=true"))
    assert re.match(r"^full-snapshot-\d{4}-\d\d-\d\d-\d\d-\d\d-\d\d\.snapshot$", d["name"])
    path = os.path.join(s.snapshots, d["name"])
    with open(path + ".checksum") as f:
        assert f.read() == d["checksum"]
    assert ok(s.call("GET", "/snapshots")) == [d]
    st, data, h = s.call("GET", "/snapshots/" + d["name"], raw=True)
    assert st == 200 and len(data) == d["size"] and h["Content-Type"] == "application/octet-stream"
    import hashlib
    import io
    import tarfile
    assert hashlib.sha256(data).hexdigest() == d["checksum"]
    with tarfile.open(fileobj=io.BytesIO(data)) as t:
        cfg = json.load(t.extractfile("config.json"))
        assert sorted(cfg["collections_mapping"]) == ["c1", "c2"]
        assert all(n in t.getnames() for n in cfg["collections_mapping"].values())
    st, body, _ = s.call("POST", "/snapshots?wait=false")
    assert st == 202 and body["status"] == "accepted" and "result" not in body
    assert ok(s.call("DELETE", "/snapshots/" + d["name"])) is True
    assert not os.path.exists(path) and not os.path.exists(path + ".checksum")
    err(s.call("DELETE", "/snapshots/" + d["name"]), 404, r"^Not found: ")


def test_restart_keeps_data(standin_factory, tmp_path):
    s = standin_factory("--strict")
    fill(s)
    peer = json.load(open(os.path.join(s.storage, "raft_state.json")))["this_peer_id"]
    s.stop()
    from conftest import Standin
    s2 = Standin(str(tmp_path / "s"), "--strict")
    try:
        assert ok(s2.call("POST", "/collections/c/points/count", {})) == {"count": 20}
        assert json.load(open(os.path.join(s2.storage, "raft_state.json")))["this_peer_id"] == peer
    finally:
        s2.stop()


def test_query_forms_facet_batch(standin):
    s = standin
    fill(s)
    r = ok(s.call("POST", "/collections/c/points/query",
                  {"query": {"nearest": 20}, "limit": 3, "filter": {"must": [{"key": "city", "match": {"value": "Paris"}}]},
                   "with_payload": ["city"]}))
    assert 20 not in [p["id"] for p in r["points"]] and all(p["payload"] == {"city": "Paris"} for p in r["points"])
    r = ok(s.call("POST", "/collections/c/points/query",
                  {"prefetch": [{"query": [1, 0, 0, 0], "limit": 5}, {"query": [0, 1, 0, 0], "limit": 5}],
                   "query": {"fusion": "rrf"}, "limit": 4}))
    assert len(r["points"]) == 4
    r = ok(s.call("POST", "/collections/c/points/query", {"query": [1, 0, 0, 0], "limit": 2, "offset": 1,
                                                           "params": {"exact": True}, "with_vector": True}))
    assert len(r["points"]) == 2 and len(r["points"][0]["vector"]) == 4
    r = ok(s.call("POST", "/collections/c/points/query/batch",
                  {"searches": [{"query": [1, 0, 0, 0], "limit": 1}, {"query": [0, 0, 1, 0], "limit": 2}]}))
    assert [len(x["points"]) for x in r] == [1, 2]
    ok(s.call("PUT", "/collections/c/index?wait=true", {"field_name": "city", "field_schema": "keyword"}))
    r = ok(s.call("POST", "/collections/c/facet", {"key": "city", "exact": True}))
    assert sorted((h["value"], h["count"]) for h in r["hits"]) == [("Berlin", 10), ("Paris", 10)]
    r = ok(s.call("GET", "/collections/c/optimizations?with=queued"))
    assert r["running"] == [] and r["queued"] == [] and "queued_optimizations" in r["summary"]
    err(s.call("POST", "/collections/c/points/query", {"query": {"recommend": {"positive": [1]}}}), 400,
        r"^Wrong input: .*not supported by the stand-in")


def test_patch_builds_the_index(standin):
    """the guide's weekly 'optimize': lower indexing_threshold by PATCH, status back to green, HNSW built"""
    s = standin
    ok(s.call("PUT", "/collections/c", {"vectors": {"size": 16, "distance": "Dot"}}))
    import random
    rnd = random.Random(1)
    pts = [{"id": i, "vector": [rnd.random() for _ in range(16)]} for i in range(3000)]
    ok(s.call("PUT", "/collections/c/points?wait=true", {"points": pts}))
    info = ok(s.call("GET", "/collections/c"))
    assert info["indexed_vectors_count"] == 0 and info["points_count"] == 3000
    ok(s.call("PATCH", "/collections/c", {"optimizers_config": {"indexing_threshold": 10},
                                          "hnsw_config": {"m": 8, "ef_construct": 32}}))
    info = ok(s.call("GET", "/collections/c"))
    assert info["status"] == "green" and info["optimizer_status"] == "ok"
    assert info["indexed_vectors_count"] == 3000
    assert info["config"]["optimizer_config"]["indexing_threshold"] == 10 and info["config"]["hnsw_config"]["m"] == 8
    r = ok(s.call("POST", "/collections/c/points/query", {"query": pts[7]["vector"], "limit": 1, "params": {"hnsw_ef": 64}}))
    assert len(r["points"]) == 1


def test_background_optimizer(standin_factory):
    """writes, then quiet for flush_interval_sec: the background optimizer builds the index"""
    import time
    s = standin_factory("--strict", optimizer=True)
    ok(s.call("PUT", "/collections/c", {"vectors": {"size": 8, "distance": "Dot"},
                                        "optimizers_config": {"indexing_threshold": 10, "flush_interval_sec": 1}}))
    pts = [{"id": i, "vector": [float((i * j) % 7) for j in range(8)]} for i in range(1500)]
    ok(s.call("PUT", "/collections/c/points?wait=true", {"points": pts}))
    assert ok(s.call("GET", "/collections/c/optimizations"))["summary"]["queued_optimizations"] in (0, 1)
    deadline = time.time() + 30
    while time.time() < deadline:
        info = ok(s.call("GET", "/collections/c"))
        if info["indexed_vectors_count"] == 1500 and info["status"] == "green":
            break
        time.sleep(0.2)
    assert info["indexed_vectors_count"] == 1500 and info["status"] == "green"
    assert ok(s.call("GET", "/collections/c/optimizations"))["summary"]["queued_optimizations"] == 0


def test_health_stays_responsive_during_an_index_build(standin):
    """optimize() runs in a child process: /healthz and /metrics answer while the collection is yellow"""
    import random
    import threading
    import time
    s = standin
    ok(s.call("PUT", "/collections/c", {"vectors": {"size": 32, "distance": "Cosine"},
                                        "hnsw_config": {"m": 32, "ef_construct": 256}}))
    rnd = random.Random(3)
    for i in range(0, 10000, 5000):
        ok(s.call("PUT", "/collections/c/points?wait=true",
                  {"batch": {"ids": list(range(i, i + 5000)), "vectors": [[rnd.random() for _ in range(32)] for _ in range(5000)]}}))
    done = []
    t = threading.Thread(target=lambda: done.append(s.call("PATCH", "/collections/c", {"optimizers_config": {"indexing_threshold": 10}})))
    t0 = time.time()
    t.start()
    seen_yellow, seen_metric, worst = False, False, 0.0
    while t.is_alive():
        a = time.time()
        assert s.call("GET", "/healthz")[0] == 200
        worst = max(worst, time.time() - a)
        if ok(s.call("GET", "/collections/c"))["status"] == "yellow":
            seen_yellow = True
            st, text, _ = s.call("GET", "/metrics")
            seen_metric = seen_metric or 'collection_running_optimizations{id="c"} 1' in text
        time.sleep(0.02)
    t.join()
    build = time.time() - t0
    assert done[0][0] == 200, done
    info = ok(s.call("GET", "/collections/c"))
    assert info["status"] == "green" and info["indexed_vectors_count"] == 10000
    print("index build %.2f s, slowest /healthz %.3f s, yellow seen: %s" % (build, worst, seen_yellow))
    if build > 1.0:  # only meaningful if the build took a while
        assert seen_yellow and seen_metric and worst < 0.5, (build, worst)


def test_full_snapshot_restored_at_start(standin_factory, tmp_path):
    """Qdrant has no REST endpoint to restore a full snapshot; the binary takes --storage-snapshot at start"""
    import shutil
    s = standin_factory("--strict", sub="a")
    fill(s, "c1")
    fill(s, "c2", 5)
    ok(s.call("POST", "/collections/aliases", {"actions": [{"create_alias": {"collection_name": "c1", "alias_name": "al"}}]}))
    before = ok(s.call("POST", "/collections/c1/points/query", {"query": [1, 0.5, 0, 0], "limit": 5, "with_payload": True}))
    d = ok(s.call("POST", "/snapshots"))
    full = str(tmp_path / d["name"])
    shutil.copy(os.path.join(s.snapshots, d["name"]), full)
    s2 = standin_factory("--strict", "--storage-snapshot", full, sub="b")
    assert sorted(c["name"] for c in ok(s2.call("GET", "/collections"))["collections"]) == ["c1", "c2"]
    assert ok(s2.call("POST", "/collections/c1/points/query", {"query": [1, 0.5, 0, 0], "limit": 5, "with_payload": True})) == before
    assert ok(s2.call("POST", "/collections/al/points/count", {})) == {"count": 20}
    s2.stop()
    # existing collections are only overwritten with --force-snapshot
    import subprocess
    import sys
    from conftest import SERVER
    r = subprocess.run([sys.executable, SERVER, "--port", "0", "--storage", s2.storage, "--snapshots", s2.snapshots,
                        "--storage-snapshot", full], capture_output=True, text=True, timeout=60)
    assert r.returncode != 0 and "use --force-snapshot" in r.stderr
    s3 = Standin_restart(s2, "--storage-snapshot", full, "--force-snapshot")
    try:
        assert ok(s3.call("POST", "/collections/c2/points/count", {})) == {"count": 5}
    finally:
        s3.stop()


def Standin_restart(old, *extra):
    from conftest import Standin
    return Standin(os.path.dirname(old.storage), *extra)


def test_keep_alive_requests_are_fast(standin):
    """HTTP/1.1 keep-alive without the ~40 ms delayed-ACK stall per request (one send per response, TCP_NODELAY)"""
    import http.client
    import time
    conn = http.client.HTTPConnection("127.0.0.1", standin.port, timeout=10)
    t0 = time.time()
    for _ in range(200):
        conn.request("GET", "/healthz")
        r = conn.getresponse()
        assert r.read() == b"healthz check passed"
    conn.request("PUT", "/collections/c", body=json.dumps(VEC4), headers={"Content-Type": "application/json"})
    assert json.loads(conn.getresponse().read())["result"] is True
    elapsed = time.time() - t0
    conn.close()
    assert elapsed < 2.0, elapsed


def test_metrics_pass_promtool(standin):
    """Debian's promtool parses the text; its only lint complaints are Qdrant's own `_total` gauge names"""
    import shutil
    import subprocess
    if not shutil.which("promtool"):
        pytest.skip("promtool not installed (scripts/setup installs Debian's prometheus)")
    fill(standin)
    ok(standin.call("POST", "/collections/c/points/count", {}))
    st, text, _ = standin.call("GET", "/metrics")
    r = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True, text=True)
    problems = [x for x in (r.stdout + r.stderr).splitlines() if x.strip()]
    assert r.returncode in (0, 3), r.stderr  # 3: lint problems only
    assert all(re.match(r"^(collections_total|collections_vector_total) non-counter metrics should not have \"_total\" suffix$", p)
               for p in problems), problems


def test_payload_and_vector_updates(standin):
    s = standin
    fill(s, n=6)

    def payload(i):
        return ok(s.call("GET", "/collections/c/points/%d" % i))["payload"]
    ok(s.call("POST", "/collections/c/points/payload?wait=true", {"payload": {"x": 1}, "points": [1, 2]}))
    assert payload(1) == {"city": "Paris", "n": 1, "x": 1}
    ok(s.call("POST", "/collections/c/points/payload?wait=true",
              {"payload": {"y": 2}, "filter": {"must": [{"key": "city", "match": {"value": "Berlin"}}]}}))
    assert payload(2)["y"] == 2 and "y" not in payload(1)
    ok(s.call("PUT", "/collections/c/points/payload?wait=true", {"payload": {"only": True}, "points": [3]}))
    assert payload(3) == {"only": True}
    ok(s.call("POST", "/collections/c/points/payload/delete?wait=true", {"keys": ["x"], "points": [1]}))
    assert payload(1) == {"city": "Paris", "n": 1}
    ok(s.call("POST", "/collections/c/points/payload/clear?wait=true", {"points": [1]}))
    assert payload(1) == {}
    ok(s.call("PUT", "/collections/c/points/vectors?wait=true", {"points": [{"id": 4, "vector": [0, 0, 0, 1]}]}))
    v = ok(s.call("GET", "/collections/c/points/4"))["vector"]
    assert [round(x, 5) for x in v] == [0, 0, 0, 1]
    err(s.call("POST", "/collections/c/points/payload/clear", {}), 400,
        r"^Format error in JSON body: data did not match any variant of untagged enum")


def test_engine_errors(standin):
    s = standin
    fill(s)
    err(s.call("PUT", "/collections/c/points?wait=true", {"points": [{"id": 1, "vector": [1, 0, 0]}]}), 400,
        r"^Wrong input: Vector dimension error: expected dim: 4, got 3$")
    err(s.call("POST", "/collections/c/points/query", {"query": [1, 0, 0]}), 400,
        r"^Wrong input: Vector dimension error: expected dim: 4, got 3$")
    err(s.call("POST", "/collections/c/points/query", {"query": [1, 0, 0, 0], "using": "nope"}), 400,
        r"^Wrong input: Not existing vector name error: nope$")
    err(s.call("POST", "/collections/c/points/scroll", {"order_by": "n"}), 400, r"^Bad request: No range index for `order_by` key")


def test_delay_and_concurrency(standin_factory):
    """--delay-ms: a slow server for clients' timeout and concurrency tests; requests are served concurrently"""
    import threading
    import time
    s = standin_factory("--delay-ms", "50")
    t0 = time.time()
    assert s.call("GET", "/healthz")[0] == 200
    assert time.time() - t0 >= 0.05
    results = []
    threads = [threading.Thread(target=lambda: results.append(s.call("GET", "/readyz")[0])) for _ in range(40)]
    t0 = time.time()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [200] * 40 and time.time() - t0 < 1.0, time.time() - t0


def test_truncated_download(standin_factory):
    import http.client
    s = standin_factory("--truncate-downloads")
    fill(s)
    d = ok(s.call("POST", "/collections/c/snapshots"))
    conn = http.client.HTTPConnection("127.0.0.1", s.port, timeout=10)
    conn.request("GET", "/collections/c/snapshots/" + d["name"])
    r = conn.getresponse()
    assert r.status == 200 and int(r.getheader("Content-Length")) == d["size"]
    with pytest.raises(http.client.IncompleteRead) as e:
        r.read()
    assert len(e.value.partial) == d["size"] // 2
    conn.close()


def test_metrics_per_collection(standin):
    s = standin
    fill(s, "c1")
    fill(s, "c2", 4)
    for name in ("c1", "c1", "c2"):
        ok(s.call("POST", "/collections/%s/points/query" % name, {"query": [1, 0, 0, 0]}))
    q = "/collections/{collection_name}/points/query"
    st, text, _ = s.call("GET", "/metrics")
    assert 'rest_responses_total{method="POST",endpoint="%s",status="200"} 3' % q in text
    assert 'rest_responses_total{method="POST",endpoint="%s",status="200",collection' % q not in text
    st, text, _ = s.call("GET", "/metrics?per_collection=true")
    assert 'rest_responses_total{method="POST",endpoint="%s",status="200",collection="c1"} 2' % q in text
    assert 'rest_responses_total{method="POST",endpoint="%s",status="200",collection="c2"} 1' % q in text
    assert 'rest_responses_duration_seconds_count{method="POST",endpoint="%s",collection="c2"} 1' % q in text
    tel = ok(s.call("GET", "/telemetry"))
    assert tel["requests"]["rest"]["responses"]["POST " + q]["200"]["count"] == 3


def test_error_before_the_body_keeps_the_connection_sane(standin):
    import http.client
    ok(standin.call("PUT", "/collections/c", VEC4))
    conn = http.client.HTTPConnection("127.0.0.1", standin.port, timeout=10)
    body = json.dumps({"points": [{"id": 1, "vector": [1, 0, 0, 0]}]})
    conn.request("PUT", "/collections/c/points?wait=maybe", body=body, headers={"Content-Type": "application/json"})
    r = conn.getresponse()
    assert r.status == 400 and json.loads(r.read())["status"]["error"].startswith("Query deserialize error")
    conn.close()
    conn = http.client.HTTPConnection("127.0.0.1", standin.port, timeout=10)
    conn.request("GET", "/healthz")
    assert conn.getresponse().read() == b"healthz check passed"
    conn.close()


def test_points_batch(standin):
    s = standin
    fill(s, n=4)
    r = ok(s.call("POST", "/collections/c/points/batch?wait=true", {"operations": [
        {"upsert": {"points": [{"id": 10, "vector": [0, 0, 1, 0], "payload": {"k": 1}}]}},
        {"set_payload": {"payload": {"z": 1}, "points": [10]}},
        {"delete": {"points": [1]}},
        {"delete_payload": {"keys": ["k"], "points": [10]}},
    ]}))
    assert [x["status"] for x in r] == ["completed"] * 4
    assert ok(s.call("GET", "/collections/c/points/10"))["payload"] == {"z": 1}
    assert ok(s.call("POST", "/collections/c/points/count", {})) == {"count": 4}
    assert ok(s.call("DELETE", "/issues")) is True


def test_named_vectors(standin):
    s = standin
    ok(s.call("PUT", "/collections/n", {"vectors": {"img": {"size": 2, "distance": "Dot"},
                                                    "txt": {"size": 3, "distance": "Euclid"}}}))
    ok(s.call("PUT", "/collections/n/points?wait=true", {"points": [
        {"id": 1, "vector": {"img": [1, 0], "txt": [0, 0, 1]}},
        {"id": 2, "vector": {"img": [0, 1], "txt": [0, 0, 0]}}]}))
    r = ok(s.call("POST", "/collections/n/points/query", {"query": [0, 0, 1], "using": "txt", "limit": 1, "with_vector": ["txt"]}))
    assert r["points"][0]["id"] == 1 and set(r["points"][0]["vector"]) == {"txt"}
    r = ok(s.call("POST", "/collections/n/points/query", {"query": 2, "using": "img", "limit": 1}))
    assert r["points"][0]["id"] == 1
    info = ok(s.call("GET", "/collections/n"))
    assert set(info["config"]["params"]["vectors"]) == {"img", "txt"}
    st, text, _ = s.call("GET", "/metrics")
    assert 'collection_vectors{collection="n",vector="img"} 2' in text


def test_query_groups(standin):
    s = standin
    fill(s)  # cities alternate Berlin/Paris
    r = ok(s.call("POST", "/collections/c/points/query/groups",
                  {"query": [1, 1, 0, 0.5], "group_by": "city", "group_size": 2, "limit": 2}))
    groups = r["groups"]
    assert sorted(g["id"] for g in groups) == ["Berlin", "Paris"]
    assert all(len(g["hits"]) == 2 and "payload" not in g["hits"][0] for g in groups)
    flat = ok(s.call("POST", "/collections/c/points/query", {"query": [1, 1, 0, 0.5], "limit": 20, "with_payload": True}))["points"]
    best = {}
    for p in flat:
        best.setdefault(p["payload"]["city"], [])
        if len(best[p["payload"]["city"]]) < 2:
            best[p["payload"]["city"]].append(p["id"])
    assert {g["id"]: [h["id"] for h in g["hits"]] for g in groups} == best


def test_telemetry_details(standin):
    s = standin
    fill(s)
    for level in (0, 1, 3):
        tel = ok(s.call("GET", "/telemetry?details_level=%d" % level))  # strict: checked against TelemetryData
        assert tel["collections"]["number_of_collections"] == 1 and tel["app"]["version"] == "1.19.0"
        if level >= 1:
            assert [c["id"] for c in tel["collections"]["collections"]] == ["c"]


def test_collection_cluster_info_names_the_shard_it_holds(standin):
    # what qdrant/snapshot --backup reads to snapshot per shard: Qdrant's CollectionClusterInfo
    s = standin
    fill(s, "c", n=7)
    info = ok(s.call("GET", "/collections/c/cluster"))
    # (strict mode checks the answer against CollectionClusterInfo of the vendored spec)
    assert info["shard_count"] == 1 and info["remote_shards"] == [] and info["shard_transfers"] == []
    assert info["local_shards"] == [{"shard_id": 0, "points_count": 7, "state": "Active"}]
    # the shard it names is the one shard snapshots are taken of
    d = ok(s.call("POST", "/collections/c/shards/%d/snapshots?wait=true" % info["local_shards"][0]["shard_id"]))
    assert ok(s.call("GET", "/collections/c/shards/0/snapshots")) == [d] and d["checksum"]
    err(s.call("GET", "/collections/nope/cluster"), 404, r"Collection `nope` doesn't exist")
