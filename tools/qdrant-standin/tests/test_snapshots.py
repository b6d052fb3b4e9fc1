"""10,000 points: snapshot, delete, recover by upload and by URL; identical query results."""
import functools
import hashlib
import http.server
import json
import os
import random
import re
import threading
import urllib.request
import uuid

import pytest

from test_api import err, ok

N, DIM = 10_000, 16


def make_points(seed=42):
    rnd = random.Random(seed)
    pts = []
    for i in range(N):
        pid = i if i % 10 else str(uuid.UUID(int=rnd.getrandbits(128)))
        pts.append({"id": pid, "vector": [rnd.uniform(-1, 1) for _ in range(DIM)],
                    "payload": {"group": i % 7, "tag": ["a", "b", "c"][i % 3]}})
    return pts


def queries(seed=7, n=20):
    rnd = random.Random(seed)
    return [[rnd.uniform(-1, 1) for _ in range(DIM)] for _ in range(n)]


def load(s, name="big"):
    ok(s.call("PUT", "/collections/" + name, {"vectors": {"size": DIM, "distance": "Cosine"},
                                               "hnsw_config": {"m": 8, "ef_construct": 64}}))
    pts = make_points()
    for i in range(0, N, 2000):
        ok(s.call("PUT", "/collections/%s/points?wait=true" % name, {"points": pts[i:i + 2000]}))
    ok(s.call("PUT", "/collections/%s/index?wait=true" % name, {"field_name": "tag", "field_schema": "keyword"}))


def results(s, name="big"):
    out = []
    for q in queries():
        r = ok(s.call("POST", "/collections/%s/points/query" % name, {"query": q, "limit": 10, "with_payload": True}))
        out.append([(p["id"], round(p["score"], 6), json.dumps(p["payload"], sort_keys=True)) for p in r["points"]])
        r = ok(s.call("POST", "/collections/%s/points/query" % name,
                      {"query": q, "limit": 5, "filter": {"must": [{"key": "tag", "match": {"value": "b"}}]}}))
        out.append([p["id"] for p in r["points"]])
    out.append(ok(s.call("POST", "/collections/%s/points/count" % name, {"exact": True})))
    return out


def serve_dir(directory):
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=directory)

    class Quiet(handler.func):
        def log_message(self, *a):
            pass
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=directory))
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


def multipart(field, filename, data):
    boundary = "----standin" + uuid.uuid4().hex
    body = (("--%s\r\nContent-Disposition: form-data; name=\"%s\"; filename=\"%s\"\r\n"
             "Content-Type: application/octet-stream\r\n\r\n") % (boundary, field, filename)).encode() + data + \
        ("\r\n--%s--\r\n" % boundary).encode()
    return body, {"Content-Type": "multipart/form-data; boundary=" + boundary}


def test_roundtrip_10k(standin, tmp_path):
    s = standin
    load(s)
    before = results(s)
    assert before[-1] == {"count": N}
    info_before = ok(s.call("GET", "/collections/big"))

    desc = ok(s.call("POST", "/collections/big/snapshots?wait=true"))
    assert re.match(r"^big-\d+-\d{4}-\d\d-\d\d-\d\d-\d\d-\d\d\.snapshot$", desc["name"])
    peer = json.load(open(os.path.join(s.storage, "raft_state.json")))["this_peer_id"]
    assert desc["name"].startswith("big-%d-" % peer)
    path = os.path.join(s.snapshots, "big", desc["name"])
    assert open(path + ".checksum").read() == desc["checksum"] == hashlib.sha256(open(path, "rb").read()).hexdigest()
    assert ok(s.call("GET", "/collections/big/snapshots")) == [desc]
    status, data, h = s.call("GET", "/collections/big/snapshots/" + desc["name"], raw=True)
    assert status == 200 and hashlib.sha256(data).hexdigest() == desc["checksum"]
    status, part, h = s.call("GET", "/collections/big/snapshots/" + desc["name"], headers={"Range": "bytes=10-19"}, raw=True)
    assert status == 206 and part == data[10:20]

    # 1. recover by upload (multipart field `snapshot`), after deleting the collection
    assert ok(s.call("DELETE", "/collections/big")) is True
    body, hdr = multipart("snapshot", "uploaded.snapshot", data)
    err(s.call("POST", "/collections/big/snapshots/upload?checksum=" + "0" * 64, body, headers=hdr), 400,
        r"^Checksum mismatch: expected 0{64}, actual " + desc["checksum"])
    assert not os.path.exists(os.path.join(s.snapshots, "big", "uploaded.snapshot"))
    assert ok(s.call("POST", "/collections/big/snapshots/upload?wait=true&checksum=" + desc["checksum"], body, headers=hdr)) is True
    assert os.path.exists(os.path.join(s.snapshots, "big", "uploaded.snapshot"))
    assert results(s) == before
    info = ok(s.call("GET", "/collections/big"))
    assert info["config"] == info_before["config"] and info["payload_schema"] == info_before["payload_schema"]

    # 2. recover by URL from a local HTTP server, over an existing collection with changed data
    ok(s.call("POST", "/collections/big/points/delete?wait=true", {"filter": {"must": [{"key": "group", "match": {"value": 3}}]}}))
    assert results(s) != before
    srv = serve_dir(os.path.dirname(path))
    try:
        url = "http://127.0.0.1:%d/%s" % (srv.server_address[1], desc["name"])
        err(s.call("PUT", "/collections/big/snapshots/recover", {"location": url, "checksum": "ab" * 32}), 400,
            r"^Wrong input: Snapshot checksum mismatch")
        assert ok(s.call("PUT", "/collections/big/snapshots/recover",
                         {"location": url, "priority": "snapshot", "checksum": desc["checksum"].upper()})) is True
    finally:
        srv.shutdown()
        srv.server_close()
    assert results(s) == before

    # 3. recover from file:// inside the snapshots dir (into a new collection name)
    assert ok(s.call("PUT", "/collections/copy/snapshots/recover", {"location": "file://" + path})) is True
    assert results(s, "copy") == before


def test_recover_rules(standin, tmp_path):
    s = standin
    ok(s.call("PUT", "/collections/c", {"vectors": {"size": 4, "distance": "Dot"}}))
    desc = ok(s.call("POST", "/collections/c/snapshots"))
    outside = tmp_path / "outside.snapshot"
    outside.write_bytes(b"x")
    err(s.call("PUT", "/collections/c/snapshots/recover", {"location": "file://" + str(outside)}), 403,
        r"^Forbidden: Snapshot file path must be inside the snapshots directory")
    err(s.call("PUT", "/collections/c/snapshots/recover",
               {"location": "file://" + os.path.join(s.snapshots, "c", "..", "..", "outside.snapshot")}), 403, r"^Forbidden: ")
    err(s.call("PUT", "/collections/c/snapshots/recover", {"location": "file://" + os.path.join(s.snapshots, "c", "missing.snapshot")}),
        400, r"does not exist")
    err(s.call("PUT", "/collections/c/snapshots/recover", {"location": "ftp://127.0.0.1/x.snapshot"}), 400, r"^Bad request: ")
    # a snapshot of another vector size does not replace an existing collection
    ok(s.call("PUT", "/collections/d", {"vectors": {"size": 8, "distance": "Dot"}}))
    err(s.call("PUT", "/collections/d/snapshots/recover",
               {"location": "file://" + os.path.join(s.snapshots, "c", desc["name"])}), 400, r"not compatible")
    # a file that is not a snapshot
    bad = os.path.join(s.snapshots, "c", "garbage.snapshot")
    open(bad, "wb").write(b"garbage" * 100)
    err(s.call("PUT", "/collections/e/snapshots/recover", {"location": "file://" + bad}), 400, r"^Wrong input: Invalid snapshot")
    assert ok(s.call("GET", "/collections/e/exists")) == {"exists": False}
    # listing: only regular *.snapshot files; deleting removes the checksum too
    names = sorted(d["name"] for d in ok(s.call("GET", "/collections/c/snapshots")))
    assert names == sorted([desc["name"], "garbage.snapshot"])
    assert "checksum" not in [d for d in ok(s.call("GET", "/collections/c/snapshots")) if d["name"] == "garbage.snapshot"][0]
    assert ok(s.call("DELETE", "/collections/c/snapshots/" + desc["name"])) is True
    assert not os.path.exists(os.path.join(s.snapshots, "c", desc["name"] + ".checksum"))
    err(s.call("GET", "/collections/c/snapshots/..%2F..%2Fetc"), 400, r"Invalid snapshot name")
    st, body, _ = s.call("POST", "/collections/c/snapshots?wait=false")
    assert st == 202 and body["status"] == "accepted"


def test_collection_names_cannot_escape(standin):
    s = standin
    ok(s.call("PUT", "/collections/c", {"vectors": {"size": 4, "distance": "Dot"}}))
    desc = ok(s.call("POST", "/collections/c/snapshots"))
    loc = "file://" + os.path.join(s.snapshots, "c", desc["name"])
    for bad in ("..", "..%2F..%2Fevil", "a%5Cb"):
        err(s.call("PUT", "/collections/%s/snapshots/recover" % bad, {"location": loc}), 422, r"^Validation error in path parameters")
        err(s.call("PUT", "/collections/%s" % bad, {"vectors": {"size": 4, "distance": "Dot"}}), 422, r"^Validation error")
    body, hdr = multipart("snapshot", "../../x.snapshot", open(loc[7:], "rb").read())
    err(s.call("POST", "/collections/..%2Fevil/snapshots/upload", body, headers=hdr), 422, r"^Validation error")
    # the uploaded file name is reduced to its basename, as Qdrant does
    assert ok(s.call("POST", "/collections/d/snapshots/upload", body, headers=hdr)) is True
    assert os.path.exists(os.path.join(s.snapshots, "d", "x.snapshot"))
    assert not os.path.exists(os.path.join(os.path.dirname(s.snapshots), "evil"))


def test_multipart_with_other_fields_and_missing_part(standin):
    s = standin
    ok(s.call("PUT", "/collections/c", {"vectors": {"size": 4, "distance": "Dot"}}))
    ok(s.call("PUT", "/collections/c/points?wait=true", {"points": [{"id": 1, "vector": [1, 2, 3, 4]}]}))
    desc = ok(s.call("POST", "/collections/c/snapshots"))
    data = open(os.path.join(s.snapshots, "c", desc["name"]), "rb").read()
    b = "xyz" + uuid.uuid4().hex
    body = ("--%s\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nhello\r\n" % b).encode() + \
        ("--%s\r\nContent-Disposition: form-data; name=\"snapshot\"; filename=\"two.snapshot\"\r\n\r\n" % b).encode() + \
        data + ("\r\n--%s--\r\n" % b).encode()
    hdr = {"Content-Type": "multipart/form-data; boundary=" + b}
    assert ok(s.call("POST", "/collections/e/snapshots/upload", body, headers=hdr)) is True
    assert open(os.path.join(s.snapshots, "e", "two.snapshot"), "rb").read() == data
    assert ok(s.call("POST", "/collections/e/points/count", {})) == {"count": 1}
    body, hdr = multipart("other", "x.snapshot", data)
    err(s.call("POST", "/collections/f/snapshots/upload", body, headers=hdr), 400, r"multipart field `snapshot` is missing")
    err(s.call("POST", "/collections/f/snapshots/upload", b"{}", headers={"Content-Type": "application/json"}), 400,
        r"expected multipart/form-data")


def test_shard_snapshots(standin):
    s = standin
    ok(s.call("PUT", "/collections/c", {"vectors": {"size": DIM, "distance": "Cosine"}}))
    pts = make_points()[:3000]
    ok(s.call("PUT", "/collections/c/points?wait=true", {"points": pts}))
    q = {"query": queries()[0], "limit": 10, "with_payload": True}
    before = ok(s.call("POST", "/collections/c/points/query", q))
    d = ok(s.call("POST", "/collections/c/shards/0/snapshots?wait=true"))
    assert re.match(r"^c-shard-0-\d{4}-\d\d-\d\d-\d\d-\d\d-\d\d\.snapshot$", d["name"])
    path = os.path.join(s.snapshots, "c", "shards", "0", d["name"])
    assert open(path + ".checksum").read() == d["checksum"]
    assert ok(s.call("GET", "/collections/c/shards/0/snapshots")) == [d]
    assert ok(s.call("GET", "/collections/c/snapshots")) == []  # collection snapshots are listed apart
    err(s.call("GET", "/collections/c/shards/1/snapshots"), 404, r"^Not found: Shard 1")
    status, streamed, _ = s.call("GET", "/collections/c/shards/0/snapshot", raw=True)
    assert status == 200 and len(streamed) > 0
    assert os.listdir(os.path.join(s.snapshots, "tmp")) == []  # the streamed one is not kept

    ok(s.call("POST", "/collections/c/points/delete?wait=true", {"points": [p["id"] for p in pts[:1500]]}))
    assert ok(s.call("POST", "/collections/c/points/count", {})) == {"count": 1500}
    # a plain name is relative to the shard's snapshot directory
    assert ok(s.call("PUT", "/collections/c/shards/0/snapshots/recover", {"location": d["name"], "checksum": d["checksum"]})) is True
    assert ok(s.call("POST", "/collections/c/points/count", {})) == {"count": 3000}
    assert ok(s.call("POST", "/collections/c/points/query", q)) ["points"] == before["points"]

    ok(s.call("POST", "/collections/c/points/delete?wait=true", {"points": [p["id"] for p in pts[:10]]}))
    body, hdr = multipart("snapshot", "streamed.snapshot", streamed)
    assert ok(s.call("POST", "/collections/c/shards/0/snapshots/upload?wait=true", body, headers=hdr)) is True
    assert ok(s.call("POST", "/collections/c/points/count", {})) == {"count": 3000}
    err(s.call("PUT", "/collections/c/shards/0/snapshots/recover", {"location": "/etc/passwd"}), 403, r"^Forbidden: ")
    assert ok(s.call("DELETE", "/collections/c/shards/0/snapshots/" + d["name"])) is True
    assert not os.path.exists(path) and not os.path.exists(path + ".checksum")
