#!/usr/bin/env python3
"""Qdrant-compatible test server (stand-in) on Qdrant's storage engine (qdrant-edge-py).

python3 server.py --port P --storage DIR [--snapshots DIR] [--api-key KEY] [--strict]
                  [--host 127.0.0.1] [--spec openapi.json] [--version 1.19.0]

--port 0 picks a free port; the first line on stdout is `listening on http://HOST:PORT`.
See README.md for what it serves and what it cannot emulate.
"""
import argparse
import hashlib
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import engine  # noqa: E402
import spec as specmod  # noqa: E402
import qdrant_edge as qe  # noqa: E402

STANDIN_COMMIT = "standin0000000000000000000000000000000000"

DEFAULT_HNSW = {"m": 16, "ef_construct": 100, "full_scan_threshold": 10000, "max_indexing_threads": 0,
                "on_disk": False}
DEFAULT_OPT = {"deleted_threshold": 0.2, "vacuum_min_vector_number": 1000, "default_segment_number": 0,
               "max_segment_size": None, "memmap_threshold": None, "indexing_threshold": 10000,
               "flush_interval_sec": 5, "max_optimization_threads": None}
DEFAULT_WAL = {"wal_capacity_mb": 32, "wal_segments_ahead": 0, "wal_retain_closed": 1}

# endpoints whose timings Qdrant exports as rest_responses_* (src/common/metrics.rs whitelist)
METRIC_ENDPOINT = re.compile(r"^/collections/\{collection_name\}/(points|index|facet)")
BUCKETS = [0.001, 0.005, 0.01, 0.02, 0.05, 0.1, 0.5, 1, 5, 10, 50]


class ApiError(Exception):
    def __init__(self, status, message):
        super().__init__(message)
        self.status = status
        self.message = message


def engine_error(e):
    """an engine exception as Qdrant reports it: its BadInput kinds are `Wrong input`, the rest `Bad request`"""
    msg = str(e)
    if msg.startswith(("Vector dimension error", "Not existing vector name", "Wrong input")):
        return ApiError(400, "Wrong input: " + msg)
    return ApiError(400, "Bad request: " + msg)


def not_found(c):
    return ApiError(404, "Not found: Collection `%s` doesn't exist!" % c)


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def utc_stamp():
    return time.strftime("%Y-%m-%d-%H-%M-%S", time.gmtime())


def write_json_atomic(path, obj):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(obj, f)
    os.replace(tmp, path)


def deep_merge(base, diff):
    out = dict(base)
    for k, v in diff.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = deep_merge(out[k], v)
        else:
            out[k] = v
    return out


class Collection:
    def __init__(self, name, path, config):
        self.name = name
        self.path = path
        self.config = config
        self.lock = threading.RLock()
        self.shard = None
        self.op_id = 0
        self.optimizing = False
        self.optimizer_error = None
        self.dirty_since = None
        self.cached_info = None

    @property
    def shard_dir(self):
        return os.path.join(self.path, "0")

    def open(self, create=False):
        cfg = engine.edge_config(self.config)
        if create:
            self.shard = qe.EdgeShard.create(self.shard_dir, cfg)
        else:
            self.shard = qe.EdgeShard.load(self.shard_dir, cfg)

    def close(self):
        if self.shard is not None:
            try:
                self.shard.flush()
            finally:
                self.shard.close()
                self.shard = None

    def info(self):
        """ShardInfo; while an optimization holds the lock, the last known one"""
        while True:
            if self.lock.acquire(timeout=0.02):
                try:
                    if self.shard is not None:
                        self.cached_info = self.shard.info()
                finally:
                    self.lock.release()
                return self.cached_info
            if self.optimizing and self.cached_info is not None:
                return self.cached_info

    def save_config(self):
        write_json_atomic(os.path.join(self.path, "config.json"), self.config)

    def next_op(self):
        self.op_id += 1
        return self.op_id


class State:
    def __init__(self, args, spec):
        self.args = args
        self.spec = spec
        self.storage = os.path.abspath(args.storage)
        self.snapshots = os.path.abspath(args.snapshots or os.path.join(self.storage, "..", "snapshots"))
        for d in (self.storage, os.path.join(self.storage, "collections"), self.snapshots):
            os.makedirs(d, exist_ok=True)
        for tmp in (os.path.join(self.storage, "tmp"), os.path.join(self.snapshots, "tmp")):
            shutil.rmtree(tmp, ignore_errors=True)
            os.makedirs(tmp)
        raft = os.path.join(self.storage, "raft_state.json")
        if os.path.exists(raft):
            with open(raft) as f:
                self.peer_id = json.load(f)["this_peer_id"]
        else:
            self.peer_id = random.getrandbits(63)
            write_json_atomic(raft, {"this_peer_id": self.peer_id})
        self.aliases_path = os.path.join(self.storage, "aliases.json")
        self.aliases = {}
        if os.path.exists(self.aliases_path):
            with open(self.aliases_path) as f:
                self.aliases = json.load(f)
        self.lock = threading.RLock()  # collections map, aliases
        self.collections = {}
        self.instance_id = str(uuid.uuid4())
        self.started = time.time()
        self.startup_iso = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime()) + "Z"
        self.metrics_lock = threading.Lock()
        self.rest = {}  # (method, tmpl, status) -> [count, sum, min, max, buckets]
        self.snap_created = {}
        self.snap_creating = {}
        self.snap_recovering = {}
        cdir = os.path.join(self.storage, "collections")
        for name in sorted(os.listdir(cdir)):
            p = os.path.join(cdir, name)
            if os.path.exists(os.path.join(p, "config.json")):
                with open(os.path.join(p, "config.json")) as f:
                    c = Collection(name, p, json.load(f))
                c.open()
                self.collections[name] = c

    # ---------------------------------------------------------------- helpers
    def resolve(self, name):
        with self.lock:
            c = self.collections.get(name)
            if c is None and name in self.aliases:
                c = self.collections.get(self.aliases[name])
            return c

    def get(self, name):
        c = self.resolve(name)
        if c is None:
            raise not_found(name)
        return c

    def save_aliases(self):
        write_json_atomic(self.aliases_path, self.aliases)

    def close_all(self):
        with self.lock:
            for c in self.collections.values():
                with c.lock:
                    c.close()

    def record(self, method, tmpl, status, dur, collection=None):
        if not tmpl or not METRIC_ENDPOINT.match(tmpl):
            return
        with self.metrics_lock:
            e = self.rest.setdefault((method, tmpl, status, collection or ""), [0, 0.0, None, None, [0] * len(BUCKETS)])
            e[0] += 1
            if status == 200:
                e[1] += dur
                e[2] = dur if e[2] is None else min(e[2], dur)
                e[3] = dur if e[3] is None else max(e[3], dur)
                for i, b in enumerate(BUCKETS):
                    if dur <= b:
                        e[4][i] += 1

    def rest_stats(self, per_collection=False):
        """{(method, tmpl, status[, collection]): [count, sum, min, max, buckets]}"""
        out = {}
        with self.metrics_lock:
            for (m, tmpl, status, coll), e in self.rest.items():
                key = (m, tmpl, status, coll) if per_collection else (m, tmpl, status)
                a = out.get(key)
                if a is None:
                    out[key] = [e[0], e[1], e[2], e[3], list(e[4])]
                    continue
                a[0] += e[0]
                a[1] += e[1]
                a[2] = e[2] if a[2] is None else (a[2] if e[2] is None else min(a[2], e[2]))
                a[3] = e[3] if a[3] is None else (a[3] if e[3] is None else max(a[3], e[3]))
                a[4] = [x + y for x, y in zip(a[4], e[4])]
        return out


# ====================================================================== collections

def build_config(body):
    vectors = body.get("vectors")
    if vectors is None:
        vectors = {}
    params = {"vectors": vectors, "shard_number": body.get("shard_number") or 1,
              "replication_factor": body.get("replication_factor") or 1,
              "write_consistency_factor": body.get("write_consistency_factor") or 1,
              "on_disk_payload": True if body.get("on_disk_payload") is None else body["on_disk_payload"]}
    if body.get("sparse_vectors"):
        raise ApiError(400, "Wrong input: sparse vectors are not supported by the stand-in")
    hnsw = deep_merge(DEFAULT_HNSW, {k: v for k, v in (body.get("hnsw_config") or {}).items() if v is not None})
    opt = deep_merge(DEFAULT_OPT, {k: v for k, v in (body.get("optimizers_config") or {}).items() if v is not None})
    wal = deep_merge(DEFAULT_WAL, {k: v for k, v in (body.get("wal_config") or {}).items() if v is not None})
    cfg = {"params": params, "hnsw_config": hnsw, "optimizer_config": opt, "wal_config": wal,
           "quantization_config": body.get("quantization_config")}
    if body.get("strict_mode_config") is not None:
        cfg["strict_mode_config"] = body["strict_mode_config"]
    if body.get("metadata") is not None:
        cfg["metadata"] = body["metadata"]
    return cfg


def h_list_collections(st, req):
    with st.lock:
        return {"collections": [{"name": n} for n in st.collections]}


def h_exists(st, req):
    return {"exists": st.resolve(req.params["collection_name"]) is not None}


def collection_info(st, c):
    info = c.info()
    schema = {k: {"data_type": engine.schema_type_name(v.data_type), "points": v.points}
              for k, v in info.payload_schema.items()}
    status = "green"
    opt_status = "ok"
    if c.optimizing:
        status = "yellow"
    if c.optimizer_error:
        status = "red"
        opt_status = {"error": c.optimizer_error}
    return {"status": status, "optimizer_status": opt_status,
            "indexed_vectors_count": info.indexed_vectors_count, "points_count": info.points_count,
            "segments_count": info.segments_count, "config": c.config, "payload_schema": schema,
            "update_queue": {"length": 0}}


def h_get_collection(st, req):
    return collection_info(st, st.get(req.params["collection_name"]))


def check_collection_name(name):
    """Qdrant's collection-name rule (no path separators or other forbidden characters)"""
    if not re.match(r"^[^<>:\"/\\|?*\x00-\x1f]{1,255}$", name) or name in (".", ".."):
        raise ApiError(422, "Validation error in path parameters: [name: collection name cannot contain "
                            "/ \\ * < > : | ? or be . or ..]")


def h_create_collection(st, req):
    name = req.params["collection_name"]
    body = req.body or {}
    check_collection_name(name)
    with st.lock:
        if name in st.collections or name in st.aliases:
            raise ApiError(409, "Wrong input: Collection `%s` already exists!" % name)
        try:
            cfg = build_config(body)
        except engine.BadInput as e:
            raise ApiError(400, "Wrong input: %s" % e)
        path = os.path.join(st.storage, "collections", name)
        shutil.rmtree(path, ignore_errors=True)
        os.makedirs(path)
        c = Collection(name, path, cfg)
        try:
            c.open(create=True)
        except (engine.BadInput, Exception) as e:
            shutil.rmtree(path, ignore_errors=True)
            raise ApiError(400, "Wrong input: %s" % e)
        c.save_config()
        st.collections[name] = c
    return True


# The bindings hold the GIL for the whole of optimize() (an HNSW build can take seconds), which would
# stall every thread of this process, /healthz included. So the shard is closed here and optimized by a
# short-lived child process (qdrant-edge allows one opener per shard dir); the collection's own requests
# wait on its lock meanwhile (reads of its info answer from a cache with status yellow).
OPTIMIZE_CHILD = ("import sys, qdrant_edge as q\n"
                  "s = q.EdgeShard.load(sys.argv[1]); s.optimize(); s.flush(); s.close()\n")


def optimize(c):
    """caller holds c.lock"""
    c.info()  # refresh the cache served while the shard is closed
    c.optimizing = True
    try:
        c.close()
        r = subprocess.run([sys.executable, "-c", OPTIMIZE_CHILD, c.shard_dir], capture_output=True, text=True)
        if r.returncode != 0:
            lines = [x for x in r.stderr.strip().splitlines() if x.strip()]
            c.optimizer_error = lines[-1] if lines else "optimizer exited with %d" % r.returncode
        else:
            c.optimizer_error = None
    finally:
        c.open()
        c.optimizing = False
        c.dirty_since = None
        c.info()


def h_update_collection(st, req):
    c = st.get(req.params["collection_name"])
    body = req.body or {}
    unsupported = [k for k in ("vectors", "params", "quantization_config", "sparse_vectors") if body.get(k)]
    if unsupported:
        raise ApiError(400, "Wrong input: the stand-in cannot update %s" % ", ".join(unsupported))
    with c.lock:
        cfg = dict(c.config)
        if body.get("optimizers_config"):
            cfg["optimizer_config"] = deep_merge(cfg["optimizer_config"], body["optimizers_config"])
        if body.get("hnsw_config"):
            cfg["hnsw_config"] = deep_merge(cfg["hnsw_config"], body["hnsw_config"])
        if body.get("strict_mode_config") is not None:
            cfg["strict_mode_config"] = deep_merge(cfg.get("strict_mode_config") or {}, body["strict_mode_config"])
        if body.get("metadata") is not None:
            cfg["metadata"] = deep_merge(cfg.get("metadata") or {}, body["metadata"])
        reload = cfg["optimizer_config"] != c.config["optimizer_config"] or cfg["hnsw_config"] != c.config["hnsw_config"]
        c.config = cfg
        c.save_config()
        if reload:
            c.close()
            c.open()
            optimize(c)  # Qdrant blocks the PATCH on running optimizations; here: run them
    return True


def h_delete_collection(st, req):
    name = req.params["collection_name"]
    with st.lock:
        c = st.collections.pop(name, None)
        if c is None:
            return False
        for a in [a for a, t in st.aliases.items() if t == name]:
            del st.aliases[a]
        st.save_aliases()
    with c.lock:
        c.close()
        shutil.rmtree(c.path, ignore_errors=True)
    return True


def h_update_aliases(st, req):
    with st.lock:
        new = dict(st.aliases)
        for act in req.body["actions"]:
            if "create_alias" in act:
                a = act["create_alias"]
                if a["collection_name"] not in st.collections:
                    raise not_found(a["collection_name"])
                if a["alias_name"] in st.collections:
                    raise ApiError(409, "Wrong input: Collection `%s` already exists!" % a["alias_name"])
                new[a["alias_name"]] = a["collection_name"]
            elif "delete_alias" in act:
                n = act["delete_alias"]["alias_name"]
                if n not in new:
                    raise ApiError(404, "Not found: Alias %s does not exists!" % n)
                del new[n]
            elif "rename_alias" in act:
                a = act["rename_alias"]
                if a["old_alias_name"] not in new:
                    raise ApiError(404, "Not found: Alias %s does not exists!" % a["old_alias_name"])
                new[a["new_alias_name"]] = new.pop(a["old_alias_name"])
        st.aliases = new
        st.save_aliases()
    return True


def h_list_aliases(st, req):
    with st.lock:
        return {"aliases": [{"alias_name": a, "collection_name": c} for a, c in st.aliases.items()]}


def h_collection_aliases(st, req):
    name = req.params["collection_name"]
    c = st.get(name)
    with st.lock:
        return {"aliases": [{"alias_name": a, "collection_name": t} for a, t in st.aliases.items() if t == c.name]}


def h_collection_cluster(st, req):
    c = st.get(req.params["collection_name"])
    with c.lock:
        n = c.shard.info().points_count
    return {"peer_id": st.peer_id, "shard_count": 1,
            "local_shards": [{"shard_id": 0, "points_count": n, "state": "Active"}],
            "remote_shards": [], "shard_transfers": []}


# ====================================================================== points

def update_result(c, req):
    wait = req.query.get("wait", False)
    op = c.next_op()
    c.dirty_since = time.time()
    return {"operation_id": op, "status": "completed" if wait else "acknowledged"}


def apply_update(st, req, op_builder):
    c = st.get(req.params["collection_name"])
    with c.lock:
        try:
            ops = op_builder(c)
        except engine.BadInput as e:
            raise ApiError(400, "Wrong input: %s" % e)
        for op in (ops if isinstance(ops, list) else [ops]):
            try:
                c.shard.update(op)
            except Exception as e:  # noqa: BLE001
                raise ApiError(400, "Wrong input: %s" % e)
        if req.query.get("wait", False):
            c.shard.flush()
        return update_result(c, req)


def h_upsert(st, req):
    return apply_update(st, req, lambda c: qe.UpdateOperation.upsert_points(engine.points_in(req.body)))


def h_delete_points(st, req):
    b = req.body

    def build(c):
        if "points" in b:
            return qe.UpdateOperation.delete_points([engine.point_id(x) for x in b["points"]])
        return qe.UpdateOperation.delete_points_by_filter(engine.filter_in(b["filter"]))
    return apply_update(st, req, build)


def _ids(b):
    return [engine.point_id(x) for x in b["points"]]


def _selector_op(b, by_ids, by_filter, *args):
    if b.get("points") is not None:
        return by_ids(_ids(b), *args)
    if b.get("filter") is not None:
        return by_filter(engine.filter_in(b["filter"]), *args)
    raise engine.BadInput("either `points` or `filter` is required")


def h_set_payload(st, req):
    b = req.body
    U = qe.UpdateOperation
    return apply_update(st, req, lambda c: _selector_op(b, lambda ids, *a: U.set_payload(ids, b["payload"], key=b.get("key")),
                                                        lambda f, *a: U.set_payload_by_filter(f, b["payload"], key=b.get("key"))))


def h_overwrite_payload(st, req):
    b = req.body
    U = qe.UpdateOperation
    return apply_update(st, req, lambda c: _selector_op(b, lambda ids: U.overwrite_payload(ids, b["payload"]),
                                                        lambda f: U.overwrite_payload_by_filter(f, b["payload"])))


def h_delete_payload(st, req):
    b = req.body
    U = qe.UpdateOperation
    return apply_update(st, req, lambda c: _selector_op(b, U.delete_payload, U.delete_payload_by_filter, b["keys"]))


def h_clear_payload(st, req):
    U = qe.UpdateOperation
    return apply_update(st, req, lambda c: _selector_op(req.body, U.clear_payload, U.clear_payload_by_filter))


def h_update_vectors(st, req):
    b = req.body
    return apply_update(st, req, lambda c: qe.UpdateOperation.update_vectors(
        [qe.PointVectors(engine.point_id(p["id"]), engine.vector_in(p["vector"])) for p in b["points"]]))


def h_delete_vectors(st, req):
    b = req.body
    U = qe.UpdateOperation
    return apply_update(st, req, lambda c: _selector_op(b, U.delete_vectors, U.delete_vectors_by_filter, b["vector"]))


def _batch_builders():
    U = qe.UpdateOperation
    return {
        "upsert": lambda b: U.upsert_points(engine.points_in(b)),
        "delete": lambda b: _selector_op(b, U.delete_points, U.delete_points_by_filter),
        "set_payload": lambda b: _selector_op(b, lambda ids: U.set_payload(ids, b["payload"], key=b.get("key")),
                                              lambda f: U.set_payload_by_filter(f, b["payload"], key=b.get("key"))),
        "overwrite_payload": lambda b: _selector_op(b, lambda ids: U.overwrite_payload(ids, b["payload"]),
                                                    lambda f: U.overwrite_payload_by_filter(f, b["payload"])),
        "delete_payload": lambda b: _selector_op(b, U.delete_payload, U.delete_payload_by_filter, b["keys"]),
        "clear_payload": lambda b: _selector_op(b, U.clear_payload, U.clear_payload_by_filter),
        "update_vectors": lambda b: U.update_vectors(
            [qe.PointVectors(engine.point_id(p["id"]), engine.vector_in(p["vector"])) for p in b["points"]]),
        "delete_vectors": lambda b: _selector_op(b, U.delete_vectors, U.delete_vectors_by_filter, b["vector"]),
    }


def h_points_batch(st, req):
    c = st.get(req.params["collection_name"])
    builders = _batch_builders()
    out = []
    with c.lock:
        for op in req.body["operations"]:
            (kind, b), = op.items()
            try:
                c.shard.update(builders[kind](b))
            except engine.BadInput as e:
                raise ApiError(400, "Wrong input: %s" % e)
            except Exception as e:  # noqa: BLE001
                raise engine_error(e)
            out.append(update_result(c, req))
        if req.query.get("wait", False):
            c.shard.flush()
    return out


def h_delete_issues(st, req):
    return True


def h_create_index(st, req):
    b = req.body
    fs = b.get("field_schema")
    if isinstance(fs, dict):
        fs = fs.get("type")
    if fs not in engine.SCHEMA_TYPES:
        raise ApiError(400, "Wrong input: field_schema is required (one of %s)" % ", ".join(engine.SCHEMA_TYPES))
    return apply_update(st, req, lambda c: qe.UpdateOperation.create_field_index(b["field_name"], engine.SCHEMA_TYPES[fs]))


def h_delete_index(st, req):
    return apply_update(st, req, lambda c: qe.UpdateOperation.delete_field_index(req.params["field_name"]))


def h_count(st, req):
    c = st.get(req.params["collection_name"])
    b = req.body or {}
    with c.lock:
        try:
            n = c.shard.count(qe.CountRequest(exact=b.get("exact", True) is not False, filter=engine.filter_in(b.get("filter"))))
        except engine.BadInput as e:
            raise ApiError(400, "Wrong input: %s" % e)
    return {"count": n}


def h_scroll(st, req):
    c = st.get(req.params["collection_name"])
    b = req.body or {}
    with c.lock:
        try:
            order_by = None
            if b.get("order_by") is not None:
                ob = b["order_by"]
                if isinstance(ob, str):
                    ob = {"key": ob}
                direction = {"asc": qe.Direction.Asc, "desc": qe.Direction.Desc}.get(ob.get("direction") or "asc")
                order_by = qe.OrderBy(ob["key"], direction=direction, start_from=ob.get("start_from"))
            pts, nxt = c.shard.scroll(qe.ScrollRequest(
                offset=engine.point_id(b["offset"]) if b.get("offset") is not None else None,
                limit=b.get("limit") or 10, filter=engine.filter_in(b.get("filter")),
                with_payload=engine.with_payload_in(b.get("with_payload"), True),
                with_vector=engine.with_vector_in(b.get("with_vector")), order_by=order_by))
        except engine.BadInput as e:
            raise ApiError(400, "Wrong input: %s" % e)
        except Exception as e:  # noqa: BLE001
            raise engine_error(e)
    return {"points": [engine.record_out(p) for p in pts], "next_page_offset": engine.id_out(nxt)}


def h_query(st, req):
    c = st.get(req.params["collection_name"])
    with c.lock:
        return run_query(c, req.body or {})


def h_query_batch(st, req):
    c = st.get(req.params["collection_name"])
    with c.lock:
        return [run_query(c, b) for b in req.body["searches"]]


def h_query_groups(st, req):
    """Approximation (the engine has no grouping): one query for many candidates, grouped here by the payload
    value of `group_by` in score order, up to `limit` groups of `group_size` hits."""
    c = st.get(req.params["collection_name"])
    b = dict(req.body)
    key = b.pop("group_by")
    group_size = b.pop("group_size", None) or 3
    limit = b.pop("limit", None) or 10
    if b.pop("with_lookup", None) is not None or b.pop("lookup_from", None) is not None:
        raise ApiError(400, "Wrong input: with_lookup is not supported by the stand-in")
    want_payload = b.get("with_payload")
    b["with_payload"] = True
    b["limit"] = min(max(limit * group_size * 10, 100), 10000)
    with c.lock:
        res = run_query(c, b)["points"]
    groups, order = {}, []
    for p in res:
        v = _payload_path(p.get("payload") or {}, key)
        for gv in (v if isinstance(v, list) else [v]):
            if not isinstance(gv, (str, int)) or isinstance(gv, bool):
                continue
            if gv not in groups:
                if len(order) >= limit:
                    continue
                groups[gv] = []
                order.append(gv)
            if len(groups[gv]) < group_size:
                groups[gv].append(p)
    out = []
    for gv in order:
        hits = []
        for p in groups[gv]:
            h = dict(p)
            if not want_payload:
                h.pop("payload", None)
            elif isinstance(want_payload, list):
                h["payload"] = {k: v for k, v in h["payload"].items() if k in want_payload}
            hits.append(h)
        out.append({"id": gv, "hits": hits})
    return {"groups": out}


def _payload_path(payload, key):
    cur = payload
    for part in key.split("."):
        if not isinstance(cur, dict) or part not in cur:
            return None
        cur = cur[part]
    return cur


def h_facet(st, req):
    c = st.get(req.params["collection_name"])
    b = req.body
    with c.lock:
        try:
            r = c.shard.facet(qe.FacetRequest(b["key"], limit=b.get("limit") or 10, exact=bool(b.get("exact")),
                                              filter=engine.filter_in(b.get("filter"))))
        except engine.BadInput as e:
            raise ApiError(400, "Wrong input: %s" % e)
        except Exception as e:  # noqa: BLE001
            raise engine_error(e)
    hits = r.hits if hasattr(r, "hits") else r
    return {"hits": [{"value": h.value, "count": h.count} for h in hits]}


def h_optimizations(st, req):
    c = st.get(req.params["collection_name"])
    info = c.info()
    queued = 1 if c.dirty_since is not None else 0
    out = {"summary": {"queued_optimizations": queued, "queued_segments": queued,
                       "queued_points": info.points_count if queued else 0,
                       "idle_segments": 0 if queued else info.segments_count},
           "running": []}
    if c.optimizing:
        out["summary"]["queued_optimizations"] = 0
    want = [w.strip() for w in (req.query.get("with") or "").split(",") if w.strip()]
    for w in ("queued", "completed"):
        if w in want:
            out[w] = []
    return out


def run_query(c, b):
    """one QueryRequest; the caller holds c.lock"""
    def lookup(pid, using):
        recs = c.shard.retrieve([pid], False, True)
        if not recs:
            raise ApiError(404, "Not found: No point with id %s found" % pid)
        v = recs[0].vector
        if isinstance(v, dict):
            if using is None and "" in v:
                return v[""]
            if using not in v:
                raise ApiError(400, "Wrong input: Not existing vector name error: %s" % using)
            return v[using]
        return v
    try:
        query, exclude = engine.query_in(b.get("query"), b.get("using"), lookup)
        flt = engine.filter_in(b.get("filter"))
        if exclude:
            ex = qe.HasIdCondition(set(exclude))
            flt = qe.Filter(must=[flt] if flt else None, must_not=[ex])
        limit = b.get("limit") or 10
        qr = qe.QueryRequest(limit=limit, offset=b.get("offset"), query=query,
                             prefetches=engine.prefetch_in(b.get("prefetch"), lookup),
                             with_vector=engine.with_vector_in(b.get("with_vector")),
                             with_payload=engine.with_payload_in(b.get("with_payload"), False),
                             filter=flt, score_threshold=b.get("score_threshold"),
                             params=engine.search_params(b.get("params")))
        res = c.shard.query(qr)
    except engine.BadInput as e:
        raise ApiError(400, "Wrong input: %s" % e)
    except ApiError:
        raise
    except Exception as e:  # noqa: BLE001
        raise engine_error(e)
    return {"points": [engine.record_out(p, scored=True) for p in res]}


def h_retrieve(st, req):
    c = st.get(req.params["collection_name"])
    b = req.body
    with c.lock:
        try:
            recs = c.shard.retrieve([engine.point_id(x) for x in b["ids"]],
                                    engine.with_payload_in(b.get("with_payload"), True),
                                    engine.with_vector_in(b.get("with_vector")))
        except engine.BadInput as e:
            raise ApiError(400, "Wrong input: %s" % e)
    return [engine.record_out(p) for p in recs]


def h_get_point(st, req):
    c = st.get(req.params["collection_name"])
    try:
        pid = engine.point_id(int(req.params["id"]) if req.params["id"].isdigit() else req.params["id"])
    except engine.BadInput as e:
        raise ApiError(400, "Wrong input: %s" % e)
    with c.lock:
        recs = c.shard.retrieve([pid], True, True)
    if not recs:
        raise ApiError(404, "Not found: No point with id %s found" % pid)
    return engine.record_out(recs[0])


# ====================================================================== snapshots

def snap_description(path):
    s = os.stat(path)
    d = {"name": os.path.basename(path),
         "creation_time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(s.st_mtime)),
         "size": s.st_size}
    ck = path + ".checksum"
    if os.path.exists(ck):
        with open(ck) as f:
            d["checksum"] = f.read().strip()
    return d


def finish_snapshot(tmp_archive, final):
    """checksum sidecar first (temp + rename), then move the archive into place atomically"""
    digest = sha256_file(tmp_archive)
    with open(final + ".checksum.tmp", "w") as f:
        f.write(digest)
    os.replace(final + ".checksum.tmp", final + ".checksum")
    os.replace(tmp_archive, final)
    return snap_description(final)


def make_collection_snapshot(st, c):
    d = os.path.join(st.snapshots, c.name)
    os.makedirs(d, exist_ok=True)
    name = "%s-%d-%s.snapshot" % (c.name, st.peer_id, utc_stamp())
    work = tempfile.mkdtemp(dir=os.path.join(st.snapshots, "tmp"))
    try:
        with c.lock:
            st.snap_creating[c.name] = 1
            c.shard.flush()
            with open(os.path.join(work, "version.info"), "w") as f:
                f.write("1.19.0")
            write_json_atomic(os.path.join(work, "config.json"), c.config)
            info = c.shard.info()
            write_json_atomic(os.path.join(work, "payload_index.json"),
                              {"schema": {k: engine.schema_type_name(v.data_type) for k, v in info.payload_schema.items()}})
            meta0 = os.path.join(work, "0")
            os.makedirs(meta0)
            write_json_atomic(os.path.join(meta0, "shard_config.json"), {"type": "ReplicaSet"})
            write_json_atomic(os.path.join(meta0, "replica_state.json"),
                              {"is_local": True, "this_peer_id": st.peer_id, "peers": {str(st.peer_id): "Active"}})
            archive = os.path.join(work, "archive.tar")
            subprocess.run(["tar", "--sparse", "-cf", archive, "-C", work, "version.info", "config.json",
                            "payload_index.json", "0/shard_config.json", "0/replica_state.json",
                            "-C", c.path, "--exclude=0/temp_segments", "0"],
                           check=True, capture_output=True)
        desc = finish_snapshot(archive, os.path.join(d, name))
        with st.metrics_lock:
            st.snap_created[c.name] = st.snap_created.get(c.name, 0) + 1
        return desc
    finally:
        st.snap_creating.pop(c.name, None)
        shutil.rmtree(work, ignore_errors=True)


def maybe_async(req, fn):
    if req.query.get("wait", True) is False:
        threading.Thread(target=lambda: _swallow(fn), daemon=True).start()
        raise Accepted()
    return fn()


def _swallow(fn):
    try:
        fn()
    except Exception as e:  # noqa: BLE001
        print("qdrant-standin: background task failed: %s" % e, file=sys.stderr)


class Accepted(Exception):
    pass


def h_create_snapshot(st, req):
    c = st.get(req.params["collection_name"])
    return maybe_async(req, lambda: make_collection_snapshot(st, c))


def snapshot_files(d):
    if not os.path.isdir(d):
        return []
    return [os.path.join(d, n) for n in os.listdir(d)
            if n.endswith(".snapshot") and os.path.isfile(os.path.join(d, n))]


def h_list_snapshots(st, req):
    c = st.get(req.params["collection_name"])
    return [snap_description(p) for p in snapshot_files(os.path.join(st.snapshots, c.name))]


def safe_name(n):
    if not n or "/" in n or "\\" in n or n in (".", "..") or "\x00" in n:
        raise ApiError(400, "Bad request: Invalid snapshot name: %s" % n)
    return n


def snapshot_path(st, cname, name):
    p = os.path.join(st.snapshots, cname, safe_name(name)) if cname else os.path.join(st.snapshots, safe_name(name))
    if not os.path.isfile(p):
        raise ApiError(404, "Not found: Snapshot file `%s` does not exist!" % name)
    return p


def h_delete_snapshot(st, req):
    c = st.get(req.params["collection_name"])
    p = snapshot_path(st, c.name, req.params["snapshot_name"])

    def go():
        os.remove(p)
        if os.path.exists(p + ".checksum"):
            os.remove(p + ".checksum")
        return True
    return maybe_async(req, go)


def h_download_snapshot(st, req):
    c = st.get(req.params["collection_name"])
    return FileResponse(snapshot_path(st, c.name, req.params["snapshot_name"]))


def recover_collection(st, cname, archive, checksum=None):
    if checksum:
        actual = sha256_file(archive)
        if actual.lower() != re.sub(r"\s", "", checksum).lower():
            raise ApiError(400, "Wrong input: Snapshot checksum mismatch: expected %s, got %s" % (checksum, actual))
    work = tempfile.mkdtemp(dir=os.path.join(st.snapshots, "tmp"))
    st.snap_recovering[cname] = 1
    try:
        r = subprocess.run(["tar", "--no-same-owner", "--no-same-permissions", "-xf", archive, "-C", work],
                           capture_output=True, text=True)
        if r.returncode != 0 or not os.path.exists(os.path.join(work, "config.json")):
            raise ApiError(400, "Wrong input: Invalid snapshot: %s" % (r.stderr.strip() or "no config.json in archive"))
        with open(os.path.join(work, "config.json")) as f:
            cfg = json.load(f)
        if not isinstance(cfg, dict) or "params" not in cfg:
            raise ApiError(400, "Wrong input: Invalid snapshot: config.json is not a collection config")
        shard0 = os.path.join(work, "0")
        new_dir = os.path.join(work, "collection")
        os.makedirs(new_dir)
        if os.path.exists(os.path.join(shard0, "edge_config.json")):
            for n in ("shard_config.json", "replica_state.json"):
                if os.path.exists(os.path.join(shard0, n)):
                    os.remove(os.path.join(shard0, n))
            os.rename(shard0, os.path.join(new_dir, "0"))
        else:
            # a shard from a real Qdrant server: let the engine unpack its segments
            shard_tar = os.path.join(work, "shard.tar")
            subprocess.run(["tar", "--sparse", "-cf", shard_tar, "-C", shard0, "."], check=True, capture_output=True)
            try:
                qe.EdgeShard.unpack_snapshot(shard_tar, os.path.join(new_dir, "0"))
            except Exception as e:  # noqa: BLE001
                raise ApiError(400, "Wrong input: Invalid snapshot: %s" % e)
        with st.lock:
            old = st.collections.get(cname)
            if old is not None:
                if old.config["params"].get("vectors") != cfg["params"].get("vectors"):
                    raise ApiError(400, "Wrong input: Snapshot is not compatible with existing collection: "
                                        "vectors configuration differs")
                if old.config["params"].get("shard_number") != cfg["params"].get("shard_number"):
                    raise ApiError(400, "Wrong input: Snapshot is not compatible with existing collection: "
                                        "shard_number differs")
            target = os.path.join(st.storage, "collections", cname)
            if old is not None:
                with old.lock:
                    old.close()
                    st.collections.pop(cname, None)
            trash = target + ".old-" + uuid.uuid4().hex
            if os.path.exists(target):
                os.rename(target, trash)
            os.rename(new_dir, target)
            shutil.rmtree(trash, ignore_errors=True)
            c = Collection(cname, target, cfg)
            try:
                c.open()
            except Exception as e:  # noqa: BLE001
                shutil.rmtree(target, ignore_errors=True)
                raise ApiError(400, "Wrong input: Invalid snapshot: %s" % e)
            c.save_config()
            st.collections[cname] = c
        return True
    finally:
        st.snap_recovering.pop(cname, None)
        shutil.rmtree(work, ignore_errors=True)


def h_recover(st, req):
    cname = req.params["collection_name"]
    check_collection_name(cname)
    b = req.body
    loc = b["location"]
    u = urllib.parse.urlparse(loc)
    if u.scheme == "file":
        path = os.path.realpath(urllib.parse.unquote(u.path))
        root = os.path.realpath(st.snapshots)
        if os.path.commonpath([path, root]) != root:
            raise ApiError(403, "Forbidden: Snapshot file path must be inside the snapshots directory %s" % root)
        if not os.path.isfile(path):
            raise ApiError(400, "Bad request: Snapshot file %s does not exist" % path)

        def go():
            return recover_collection(st, cname, path, b.get("checksum"))
        return maybe_async(req, go)
    if u.scheme in ("http", "https"):
        return maybe_async(req, lambda: with_downloaded(st, loc, b.get("api_key"),
                                                        lambda tmp: recover_collection(st, cname, tmp, b.get("checksum"))))
    raise ApiError(400, "Bad request: Unsupported snapshot location scheme: %s" % (u.scheme or loc))


def with_downloaded(st, loc, api_key, recover):
    """Downloads a snapshot from an http(s) location into the snapshots' tmp dir, runs
    recover(path) on it and removes it (Qdrant's recovery from a URL, collection or shard)."""
    fd, tmp = tempfile.mkstemp(dir=os.path.join(st.snapshots, "tmp"), suffix=".snapshot")
    try:
        headers = {"api-key": api_key} if api_key else {}
        try:
            with urllib.request.urlopen(urllib.request.Request(loc, headers=headers), timeout=600) as r, \
                    os.fdopen(fd, "wb") as out:
                shutil.copyfileobj(r, out, 1 << 20)
        except Exception as e:  # noqa: BLE001
            raise ApiError(400, "Bad request: Failed to download snapshot from %s: %s" % (loc, e))
        return recover(tmp)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def h_upload(st, req):
    cname = req.params["collection_name"]
    check_collection_name(cname)
    fname = req.upload_name or (str(uuid.uuid4()) + ".snapshot")
    fname = os.path.basename(fname.replace("\\", "/")) or (str(uuid.uuid4()) + ".snapshot")
    checksum = req.query.get("checksum")
    if checksum:
        # checked on the uploaded temp file before it is kept (as Qdrant's upload handler does)
        actual = sha256_file(req.upload_path)
        if actual.lower() != re.sub(r"\s", "", checksum).lower():
            raise ApiError(400, "Checksum mismatch: expected %s, actual %s" % (checksum, actual))
    d = os.path.join(st.snapshots, cname)
    os.makedirs(d, exist_ok=True)
    dest = os.path.join(d, fname)
    os.replace(req.upload_path, dest)  # kept in the snapshots dir, as Qdrant keeps uploaded files
    req.upload_path = None
    return maybe_async(req, lambda: recover_collection(st, cname, dest, None))


# shard snapshots (the stand-in's collections have one shard, id 0): the archive is the shard directory
# itself, which EdgeShard.unpack_snapshot restores (as upstream restores a server's shard snapshot)

def _shard(st, req):
    c = st.get(req.params["collection_name"])
    sid = req.params["shard_id"]
    if sid != "0":
        raise ApiError(404, "Not found: Shard %s does not exist" % sid)
    return c, os.path.join(st.snapshots, c.name, "shards", "0")


def make_shard_snapshot(st, c, d, tmp_only=False):
    os.makedirs(d, exist_ok=True)
    name = "%s-shard-0-%s.snapshot" % (c.name, utc_stamp())
    fd, archive = tempfile.mkstemp(dir=os.path.join(st.snapshots, "tmp"), suffix=".snapshot")
    os.close(fd)
    try:
        with c.lock:
            c.shard.flush()
            subprocess.run(["tar", "--sparse", "-cf", archive, "-C", c.shard_dir, "--exclude=./temp_segments", "."],
                           check=True, capture_output=True)
        if tmp_only:
            return archive
        desc = finish_snapshot(archive, os.path.join(d, name))
        with st.metrics_lock:
            st.snap_created[c.name] = st.snap_created.get(c.name, 0) + 1
        return desc
    finally:
        if not tmp_only and os.path.exists(archive):
            os.remove(archive)


def h_create_shard_snapshot(st, req):
    c, d = _shard(st, req)
    return maybe_async(req, lambda: make_shard_snapshot(st, c, d))


def h_list_shard_snapshots(st, req):
    c, d = _shard(st, req)
    return [snap_description(p) for p in snapshot_files(d)]


def _shard_snapshot_path(st, req):
    c, d = _shard(st, req)
    p = os.path.join(d, safe_name(req.params["snapshot_name"]))
    if not os.path.isfile(p):
        raise ApiError(404, "Not found: Snapshot file `%s` does not exist!" % req.params["snapshot_name"])
    return p


def h_download_shard_snapshot(st, req):
    return FileResponse(_shard_snapshot_path(st, req))


def h_delete_shard_snapshot(st, req):
    p = _shard_snapshot_path(st, req)

    def go():
        os.remove(p)
        if os.path.exists(p + ".checksum"):
            os.remove(p + ".checksum")
        return True
    return maybe_async(req, go)


def h_stream_shard_snapshot(st, req):
    c, d = _shard(st, req)
    return FileResponse(make_shard_snapshot(st, c, d, tmp_only=True), remove_after=True)


def recover_shard(st, c, archive, checksum=None):
    if checksum:
        actual = sha256_file(archive)
        if actual.lower() != re.sub(r"\s", "", checksum).lower():
            raise ApiError(400, "Wrong input: Snapshot checksum mismatch: expected %s, got %s" % (checksum, actual))
    st.snap_recovering[c.name] = 1
    try:
        with c.lock:
            new = c.shard_dir + ".new-" + uuid.uuid4().hex
            try:
                qe.EdgeShard.unpack_snapshot(archive, new)
            except Exception as e:  # noqa: BLE001
                shutil.rmtree(new, ignore_errors=True)
                raise ApiError(400, "Wrong input: Invalid snapshot: %s" % e)
            c.close()
            old = c.shard_dir + ".old-" + uuid.uuid4().hex
            os.rename(c.shard_dir, old)
            os.rename(new, c.shard_dir)
            try:
                c.open()
            except Exception as e:  # noqa: BLE001
                shutil.rmtree(c.shard_dir, ignore_errors=True)
                os.rename(old, c.shard_dir)
                c.open()
                raise ApiError(400, "Wrong input: Invalid snapshot: %s" % e)
            shutil.rmtree(old, ignore_errors=True)
        return True
    finally:
        st.snap_recovering.pop(c.name, None)


def h_recover_shard(st, req):
    c, d = _shard(st, req)
    b = req.body
    loc = b["location"]
    u = urllib.parse.urlparse(loc)
    if u.scheme in ("", "file"):
        raw = urllib.parse.unquote(u.path) if u.scheme == "file" else loc
        path = os.path.realpath(raw if os.path.isabs(raw) else os.path.join(d, raw))
        root = os.path.realpath(st.snapshots)
        if os.path.commonpath([path, root]) != root:
            raise ApiError(403, "Forbidden: Snapshot file path must be inside the snapshots directory %s" % root)
        if not os.path.isfile(path):
            raise ApiError(400, "Bad request: Snapshot file %s does not exist" % path)
        return maybe_async(req, lambda: recover_shard(st, c, path, b.get("checksum")))
    if u.scheme in ("http", "https"):
        return maybe_async(req, lambda: with_downloaded(st, loc, b.get("api_key"),
                                                        lambda tmp: recover_shard(st, c, tmp, b.get("checksum"))))
    raise ApiError(400, "Bad request: Unsupported snapshot location scheme: %s" % u.scheme)


def h_upload_shard(st, req):
    c, d = _shard(st, req)
    checksum = req.query.get("checksum")
    if checksum:
        actual = sha256_file(req.upload_path)
        if actual.lower() != re.sub(r"\s", "", checksum).lower():
            raise ApiError(400, "Checksum mismatch: expected %s, actual %s" % (checksum, actual))
    fname = os.path.basename((req.upload_name or "").replace("\\", "/")) or (str(uuid.uuid4()) + ".snapshot")
    os.makedirs(d, exist_ok=True)
    dest = os.path.join(d, fname)
    os.replace(req.upload_path, dest)
    req.upload_path = None
    return maybe_async(req, lambda: recover_shard(st, c, dest, None))


# full storage snapshots

def h_create_full(st, req):
    def go():
        work = tempfile.mkdtemp(dir=os.path.join(st.snapshots, "tmp"))
        try:
            mapping = {}
            with st.lock:
                cols = list(st.collections.values())
                aliases = dict(st.aliases)
            names = []
            for c in cols:
                desc = make_collection_snapshot(st, c)
                src = os.path.join(st.snapshots, c.name, desc["name"])
                os.rename(src, os.path.join(work, desc["name"]))
                os.remove(src + ".checksum")
                mapping[c.name] = desc["name"]
                names.append(desc["name"])
            write_json_atomic(os.path.join(work, "config.json"),
                              {"collections_mapping": mapping, "collections_aliases": aliases})
            archive = os.path.join(work, "full.tar")
            subprocess.run(["tar", "--sparse", "-cf", archive, "-C", work, "config.json"] + names,
                           check=True, capture_output=True)
            return finish_snapshot(archive, os.path.join(st.snapshots, "full-snapshot-%s.snapshot" % utc_stamp()))
        finally:
            shutil.rmtree(work, ignore_errors=True)
    return maybe_async(req, go)


def restore_full_snapshot(st, path, force):
    """`--storage-snapshot FILE [--force-snapshot]` at start, as the real binary restores a full snapshot"""
    work = tempfile.mkdtemp(dir=os.path.join(st.snapshots, "tmp"))
    try:
        r = subprocess.run(["tar", "--no-same-owner", "-xf", path, "-C", work], capture_output=True, text=True)
        if r.returncode != 0 or not os.path.exists(os.path.join(work, "config.json")):
            raise SystemExit("qdrant-standin: %s is not a full storage snapshot: %s" % (path, r.stderr.strip()))
        with open(os.path.join(work, "config.json")) as f:
            cfg = json.load(f)
        mapping = cfg.get("collections_mapping") or {}
        for cname in mapping:
            if cname in st.collections and not force:
                raise SystemExit("qdrant-standin: collection %s already exists; use --force-snapshot to overwrite it"
                                 % cname)
        for cname, snap in mapping.items():
            try:
                recover_collection(st, cname, os.path.join(work, os.path.basename(snap)))
            except ApiError as e:
                raise SystemExit("qdrant-standin: restoring %s from %s: %s" % (cname, path, e.message))
        with st.lock:
            for alias, target in (cfg.get("collections_aliases") or {}).items():
                if target in st.collections:
                    st.aliases[alias] = target
            st.save_aliases()
    finally:
        shutil.rmtree(work, ignore_errors=True)


def h_list_full(st, req):
    return [snap_description(p) for p in snapshot_files(st.snapshots)]


def h_delete_full(st, req):
    p = snapshot_path(st, None, req.params["snapshot_name"])

    def go():
        os.remove(p)
        if os.path.exists(p + ".checksum"):
            os.remove(p + ".checksum")
        return True
    return maybe_async(req, go)


def h_download_full(st, req):
    return FileResponse(snapshot_path(st, None, req.params["snapshot_name"]))


# ====================================================================== service

def h_root(st, req):
    return RawJSON({"title": "qdrant - vector search engine", "version": st.spec.version, "commit": STANDIN_COMMIT})


def h_healthz(st, req):
    return Text(200, "healthz check passed")


def h_readyz(st, req):
    return Text(200, "all shards are ready")


def h_cluster(st, req):
    return {"status": "disabled"}


def h_standalone(st, req):
    raise ApiError(405, "Bad request: Qdrant is running in standalone mode")


def h_issues(st, req):
    return RawJSON({"issues": []})


def h_telemetry(st, req):
    with st.lock:
        cols = list(st.collections.values())
    level = req.query.get("details_level") or 0
    col = {"number_of_collections": len(cols)}
    if level >= 1:
        col["collections"] = [{"id": c.name} for c in cols]
    responses = {}
    for (m, tmpl, status), e in st.rest_stats().items():
        d = responses.setdefault("%s %s" % (m, tmpl), {})
        d[str(status)] = {"count": e[0], "avg_duration_micros": (e[1] / e[0] * 1e6) if e[0] else 0.0}
    return {"id": st.instance_id,
            "app": {"name": "qdrant", "version": st.spec.version, "startup": st.startup_iso},
            "collections": col,
            "cluster": {"enabled": False},
            "requests": {"rest": {"responses": responses}, "grpc": {"responses": {}}}}


def _proc_metrics():
    out = {}
    try:
        with open("/proc/self/stat") as f:
            parts = f.read().rsplit(")", 1)[1].split()
        out["minflt"] = int(parts[7])
        out["majflt"] = int(parts[9])
        out["threads"] = int(parts[17])
        out["fds"] = len(os.listdir("/proc/self/fd"))
        import resource
        out["maxfds"] = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
        with open("/proc/self/maps") as f:
            out["mmaps"] = sum(1 for _ in f)
        with open("/proc/sys/vm/max_map_count") as f:
            out["maxmaps"] = int(f.read())
    except (OSError, ValueError, IndexError):
        pass
    return out


def h_metrics(st, req):
    prefix = st.args.metrics_prefix or ""
    per_collection = bool(req.query.get("per_collection"))
    lines = []

    def fam(name, typ, help_, samples):
        if not samples:
            return
        lines.append("# HELP %s%s %s" % (prefix, name, help_))
        lines.append("# TYPE %s%s %s" % (prefix, name, typ))
        for labels, v, suffix in samples:
            lab = ",".join('%s="%s"' % (k, str(x).replace("\\", "\\\\").replace('"', '\\"')) for k, x in labels)
            lines.append("%s%s%s%s %s" % (prefix, name, suffix, "{%s}" % lab if lab else "", _num(v)))

    with st.lock:
        cols = list(st.collections.values())
    infos = []
    for c in cols:
        try:
            infos.append((c, c.info()))
        except Exception:  # noqa: BLE001
            pass
    fam("app_info", "gauge", "information about qdrant server",
        [((("name", "qdrant"), ("version", st.spec.version)), 1, "")])
    fam("app_status_recovery_mode", "gauge", "features enabled in qdrant server", [((), 0, "")])
    fam("collections_total", "gauge", "number of collections", [((), len(cols), "")])
    nvec = 0
    vec_samples = []
    for c, info in infos:
        v = c.config["params"].get("vectors") or {}
        names = [""] if "size" in v else list(v)
        for n in names:
            vec_samples.append(((("collection", c.name), ("vector", n)), info.points_count, ""))
            nvec += info.points_count
    fam("collections_vector_total", "gauge", "total number of vectors in all collections", [((), nvec, "")])
    fam("collection_vectors", "gauge", "amount of vectors grouped by vector name", vec_samples)
    fam("collection_points", "gauge", "approximate amount of points per collection",
        [((("id", c.name),), i.points_count, "") for c, i in infos])
    fam("collection_running_optimizations", "gauge", "number of currently running optimization tasks per collection",
        [((("id", c.name),), 1 if c.optimizing else 0, "") for c, i in infos])
    if infos:
        fam("collection_active_replicas_min", "gauge", "minimum number of active replicas across all shards", [((), 1, "")])
        fam("collection_active_replicas_max", "gauge", "maximum number of active replicas across all shards", [((), 1, "")])
        fam("collection_dead_replicas", "gauge", "total amount of shard replicas in non-active state", [((), 0, "")])
    fam("snapshot_creation_running", "gauge", "amount of snapshot creations that are currently running",
        [((("id", c.name),), st.snap_creating.get(c.name, 0), "") for c, i in infos])
    fam("snapshot_recovery_running", "gauge", "amount of snapshot recovery operations currently running",
        [((("id", c.name),), st.snap_recovering.get(c.name, 0), "") for c, i in infos])
    fam("snapshot_created_total", "counter", "total amount of snapshots created",
        [((("id", c.name),), st.snap_created.get(c.name, 0), "") for c, i in infos])
    fam("collection_update_queue_length", "gauge", "number of pending update operations in the update queue",
        [((("id", c.name),), 0, "") for c, i in infos])
    fam("cluster_enabled", "gauge", "is cluster support enabled", [((), 0, "")])
    rest = sorted(st.rest_stats(per_collection).items())
    total, avg, mn, mx, hist = [], [], [], [], []
    for key, e in rest:
        m, tmpl, status = key[:3]
        coll = (("collection", key[3]),) if per_collection else ()
        lab = (("method", m), ("endpoint", tmpl), ("status", status)) + coll
        total.append((lab, e[0], ""))
        if status == 200 and e[0] and e[2] is not None:
            avg.append((lab, e[1] / e[0], ""))
            mn.append((lab, e[2], ""))
            mx.append((lab, e[3], ""))
            hl = (("method", m), ("endpoint", tmpl)) + coll
            for b, n in zip(BUCKETS, e[4]):
                hist.append((hl + (("le", _num(b)),), n, "_bucket"))
            hist.append((hl + (("le", "+Inf"),), e[0], "_bucket"))
            hist.append((hl, e[1], "_sum"))
            hist.append((hl, e[0], "_count"))
    fam("rest_responses_total", "counter", "total number of responses", total)
    fam("rest_responses_avg_duration_seconds", "gauge", "average response duration", avg)
    fam("rest_responses_min_duration_seconds", "gauge", "minimum response duration", mn)
    fam("rest_responses_max_duration_seconds", "gauge", "maximum response duration", mx)
    fam("rest_responses_duration_seconds", "histogram", "response duration histogram", hist)
    p = _proc_metrics()
    for key, name, typ, help_ in (("threads", "process_threads", "gauge", "count of active threads"),
                                  ("mmaps", "process_open_mmaps", "gauge", "count of open mmaps"),
                                  ("maxmaps", "system_max_mmaps", "gauge", "system wide limit of open mmaps"),
                                  ("fds", "process_open_fds", "gauge", "count of currently open file descriptors"),
                                  ("maxfds", "process_max_fds", "gauge", "limit for open file descriptors"),
                                  ("minflt", "process_minor_page_faults_total", "counter", "count of minor page faults which didn't cause a disk access"),
                                  ("majflt", "process_major_page_faults_total", "counter", "count of disk accesses caused by a mmap page fault")):
        if key in p:
            fam(name, typ, help_, [((), p[key], "")])
    return Text(200, "\n".join(lines) + "\n")


def _num(v):
    if isinstance(v, float):
        if v == int(v) and abs(v) < 1e15:
            return str(int(v)) if isinstance(v, int) else repr(v)
        return repr(v)
    return str(v)


class RawJSON:
    def __init__(self, obj):
        self.obj = obj


class Text:
    def __init__(self, status, text):
        self.status = status
        self.text = text


class FileResponse:
    def __init__(self, path, remove_after=False):
        self.path = path
        self.remove_after = remove_after


HANDLERS = {
    ("GET", "/"): h_root,
    ("GET", "/healthz"): h_healthz,
    ("GET", "/livez"): h_healthz,
    ("GET", "/readyz"): h_readyz,
    ("GET", "/metrics"): h_metrics,
    ("GET", "/telemetry"): h_telemetry,
    ("GET", "/issues"): h_issues,
    ("GET", "/cluster"): h_cluster,
    ("POST", "/cluster/recover"): h_standalone,
    ("DELETE", "/cluster/peer/{peer_id}"): h_standalone,
    ("POST", "/collections/{collection_name}/cluster"): h_standalone,
    ("GET", "/collections/{collection_name}/cluster"): h_collection_cluster,
    ("GET", "/collections"): h_list_collections,
    ("GET", "/collections/{collection_name}"): h_get_collection,
    ("PUT", "/collections/{collection_name}"): h_create_collection,
    ("PATCH", "/collections/{collection_name}"): h_update_collection,
    ("DELETE", "/collections/{collection_name}"): h_delete_collection,
    ("GET", "/collections/{collection_name}/exists"): h_exists,
    ("POST", "/collections/aliases"): h_update_aliases,
    ("GET", "/aliases"): h_list_aliases,
    ("GET", "/collections/{collection_name}/aliases"): h_collection_aliases,
    ("PUT", "/collections/{collection_name}/index"): h_create_index,
    ("DELETE", "/collections/{collection_name}/index/{field_name}"): h_delete_index,
    ("PUT", "/collections/{collection_name}/points"): h_upsert,
    ("POST", "/collections/{collection_name}/points"): h_retrieve,
    ("GET", "/collections/{collection_name}/points/{id}"): h_get_point,
    ("POST", "/collections/{collection_name}/points/delete"): h_delete_points,
    ("POST", "/collections/{collection_name}/points/payload"): h_set_payload,
    ("PUT", "/collections/{collection_name}/points/payload"): h_overwrite_payload,
    ("POST", "/collections/{collection_name}/points/payload/delete"): h_delete_payload,
    ("POST", "/collections/{collection_name}/points/payload/clear"): h_clear_payload,
    ("PUT", "/collections/{collection_name}/points/vectors"): h_update_vectors,
    ("POST", "/collections/{collection_name}/points/batch"): h_points_batch,
    ("DELETE", "/issues"): h_delete_issues,
    ("POST", "/collections/{collection_name}/points/vectors/delete"): h_delete_vectors,
    ("POST", "/collections/{collection_name}/points/count"): h_count,
    ("POST", "/collections/{collection_name}/points/scroll"): h_scroll,
    ("POST", "/collections/{collection_name}/points/query"): h_query,
    ("POST", "/collections/{collection_name}/points/query/batch"): h_query_batch,
    ("POST", "/collections/{collection_name}/points/query/groups"): h_query_groups,
    ("POST", "/collections/{collection_name}/facet"): h_facet,
    ("GET", "/collections/{collection_name}/optimizations"): h_optimizations,
    ("POST", "/collections/{collection_name}/snapshots"): h_create_snapshot,
    ("GET", "/collections/{collection_name}/snapshots"): h_list_snapshots,
    ("DELETE", "/collections/{collection_name}/snapshots/{snapshot_name}"): h_delete_snapshot,
    ("GET", "/collections/{collection_name}/snapshots/{snapshot_name}"): h_download_snapshot,
    ("PUT", "/collections/{collection_name}/snapshots/recover"): h_recover,
    ("POST", "/collections/{collection_name}/snapshots/upload"): h_upload,
    ("POST", "/collections/{collection_name}/shards/{shard_id}/snapshots"): h_create_shard_snapshot,
    ("GET", "/collections/{collection_name}/shards/{shard_id}/snapshots"): h_list_shard_snapshots,
    ("GET", "/collections/{collection_name}/shards/{shard_id}/snapshots/{snapshot_name}"): h_download_shard_snapshot,
    ("DELETE", "/collections/{collection_name}/shards/{shard_id}/snapshots/{snapshot_name}"): h_delete_shard_snapshot,
    ("GET", "/collections/{collection_name}/shards/{shard_id}/snapshot"): h_stream_shard_snapshot,
    ("PUT", "/collections/{collection_name}/shards/{shard_id}/snapshots/recover"): h_recover_shard,
    ("POST", "/collections/{collection_name}/shards/{shard_id}/snapshots/upload"): h_upload_shard,
    ("POST", "/snapshots"): h_create_full,
    ("GET", "/snapshots"): h_list_full,
    ("DELETE", "/snapshots/{snapshot_name}"): h_delete_full,
    ("GET", "/snapshots/{snapshot_name}"): h_download_full,
}

AUTH_FREE = re.compile(r"^(/|/healthz|/readyz.*|/livez.*)$")


# ====================================================================== HTTP layer

class Req:
    def __init__(self):
        self.params = {}
        self.query = {}
        self.body = None
        self.upload_path = None
        self.upload_name = None


def coerce_query(spec, op, raw):
    out = {}
    declared = {p["name"]: p for p in op.get("parameters", []) if p.get("in") == "query"}
    for k, vals in raw.items():
        p = declared.get(k)
        v = vals[-1]
        if p is None:
            continue  # actix ignores unknown query parameters
        schema = spec.resolve(p.get("schema", {}))
        t = schema.get("type")
        t = [x for x in t if x != "null"][0] if isinstance(t, list) else t
        try:
            if t == "boolean":
                if v not in ("true", "false"):
                    raise ValueError("provided string was not `true` or `false`")
                v = v == "true"
            elif t == "integer":
                v = int(v)
            elif t == "number":
                v = float(v)
        except ValueError as e:
            msg = str(e) if t == "boolean" else "invalid digit found in string"
            raise ApiError(400, "Query deserialize error: %s" % msg)
        err = spec.body_errors(p.get("schema", {}), v)
        if err:
            raise ApiError(err[0], err[1].replace("JSON body", "query parameters"))
        out[k] = v
    return out


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # one send per small response (headers and body together) and no Nagle delay: without these a
    # keep-alive client waits ~40 ms per request for the delayed ACK
    disable_nagle_algorithm = True
    wbufsize = 1 << 16
    server_version = "qdrant-standin"
    st = None  # State

    def version_string(self):
        return "qdrant-standin"

    def log_message(self, fmt, *args):
        if self.st.args.verbose:
            sys.stderr.write("qdrant-standin: %s\n" % (fmt % args))

    def do_GET(self):
        self.dispatch("GET")

    def do_POST(self):
        self.dispatch("POST")

    def do_PUT(self):
        self.dispatch("PUT")

    def do_PATCH(self):
        self.dispatch("PATCH")

    def do_DELETE(self):
        self.dispatch("DELETE")

    # ---------------------------------------------------------------- responses
    def send(self, status, body, ctype, extra=None):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def send_json(self, status, obj, extra=None):
        self.send(status, json.dumps(obj, separators=(",", ":")).encode(), "application/json", extra)

    def send_error_env(self, status, msg, t0):
        self.send_json(status, {"status": {"error": msg}, "time": time.time() - t0})

    def send_file(self, path, remove=False):
        with open(path, "rb") as f:
            if remove:
                # gone from the directory before the first byte is sent: a client that has read
                # the whole answer never sees it (the open file keeps the data until closed)
                os.remove(path)
            self._send_open_file(f, path)

    def _send_open_file(self, f, path):
        size = os.fstat(f.fileno()).st_size
        start, end, status = 0, size - 1, 200
        rng = self.headers.get("Range")
        m = re.match(r"^bytes=(\d*)-(\d*)$", rng or "")
        if m and (m.group(1) or m.group(2)):
            if m.group(1):
                start = int(m.group(1))
                end = int(m.group(2)) if m.group(2) else size - 1
            else:
                start = max(0, size - int(m.group(2)))
            end = min(end, size - 1)
            if start > end:
                self.send(416, b"", "text/plain", {"Content-Range": "bytes */%d" % size})
                return
            status = 206
        self.send_response(status)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(end - start + 1))
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Content-Disposition", 'attachment; filename="%s"' % os.path.basename(path))
        if status == 206:
            self.send_header("Content-Range", "bytes %d-%d/%d" % (start, end, size))
        self.end_headers()
        self.wfile.flush()
        length = end - start + 1
        if self.st.args.truncate_downloads:
            # fault injection for clients' tests: half the promised bytes, then the connection closes
            self.connection.sendfile(f, start, length // 2)
            self.close_connection = True
            self.connection.shutdown(2)
            return
        # zero-copy (sendfile(2)); constant memory whatever the size
        self.connection.sendfile(f, start, length)

    # ---------------------------------------------------------------- request body
    def read_body(self):
        self._body_read = True
        n = int(self.headers.get("Content-Length") or 0)
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    self.rfile.readline()
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        return self.rfile.read(n) if n else b""

    def read_multipart(self, req):
        """Stream a multipart body to a temp file; keep the `snapshot` part (constant memory)."""
        ctype = self.headers.get("Content-Type", "")
        m = re.search(r'boundary="?([^";]+)"?', ctype)
        if not m or not ctype.lower().startswith("multipart/form-data"):
            raise ApiError(400, "Bad request: expected multipart/form-data with a `snapshot` file")
        boundary = b"--" + m.group(1).encode()
        self._body_read = True
        n = int(self.headers.get("Content-Length") or 0)
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            raw_iter = self._chunked_iter()
        else:
            raw_iter = self._length_iter(n)
        fd, tmp = tempfile.mkstemp(dir=os.path.join(self.st.snapshots, "tmp"), suffix=".upload")
        with os.fdopen(fd, "wb") as f:
            for chunk in raw_iter:
                f.write(chunk)
        try:
            self._split_multipart(tmp, boundary, req)
        finally:
            if os.path.exists(tmp):
                os.remove(tmp)
        if req.upload_path is None:
            raise ApiError(400, "Bad request: multipart field `snapshot` is missing")

    def _length_iter(self, n):
        while n > 0:
            chunk = self.rfile.read(min(1 << 20, n))
            if not chunk:
                break
            n -= len(chunk)
            yield chunk

    def _chunked_iter(self):
        while True:
            size = int(self.rfile.readline().split(b";")[0].strip(), 16)
            if size == 0:
                self.rfile.readline()
                return
            left = size
            while left > 0:
                c = self.rfile.read(min(1 << 20, left))
                left -= len(c)
                yield c
            self.rfile.readline()

    def _split_multipart(self, path, boundary, req):
        """Find part boundaries by scanning the temp file in blocks; copy the snapshot part out."""
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            # positions of every delimiter (scan with overlap)
            positions = []
            block = 1 << 20
            pos = 0
            prev = b""
            while pos < size or prev:
                f.seek(pos)
                data = f.read(block)
                buf = prev + data
                base = pos - len(prev)
                i = 0
                while True:
                    j = buf.find(boundary, i)
                    if j < 0:
                        break
                    positions.append(base + j)
                    i = j + 1
                keep = len(boundary) - 1
                prev = buf[-keep:] if data else b""
                # drop positions found twice because of the overlap
                pos += len(data)
                if not data:
                    break
            positions = sorted(set(positions))
            for a, b in zip(positions, positions[1:]):
                f.seek(a + len(boundary))
                head = f.read(min(8192, b - a))
                if head.startswith(b"--"):
                    break
                hend = head.find(b"\r\n\r\n")
                if hend < 0:
                    continue
                headers = head[:hend].decode("utf-8", "replace")
                dm = re.search(r'name="([^"]*)"', headers)
                if not dm or dm.group(1) != "snapshot":
                    continue
                fm = re.search(r'filename="([^"]*)"', headers)
                req.upload_name = fm.group(1) if fm else None
                data_start = a + len(boundary) + hend + 4
                data_end = b - 2  # the CRLF before the next delimiter
                if data_end < data_start:
                    data_end = data_start
                fd, out = tempfile.mkstemp(dir=os.path.join(self.st.snapshots, "tmp"), suffix=".snapshot")
                with os.fdopen(fd, "wb") as o:
                    f.seek(data_start)
                    left = data_end - data_start
                    while left > 0:
                        c = f.read(min(1 << 20, left))
                        if not c:
                            break
                        o.write(c)
                        left -= len(c)
                req.upload_path = out
                return

    # ---------------------------------------------------------------- dispatch
    def dispatch(self, method):
        t0 = time.time()
        st = self.st
        if st.args.delay_ms:
            time.sleep(st.args.delay_ms / 1000.0)  # test aid: a slow server (each request in its own thread)
        u = urllib.parse.urlsplit(self.path)
        path = u.path
        tmpl = None
        status = 500
        req = Req()
        self._body_read = False
        try:
            if st.args.api_key and not AUTH_FREE.match(path):
                key = self.headers.get("api-key")
                auth = self.headers.get("Authorization", "")
                if not key and auth.startswith("Bearer "):
                    key = auth[7:]
                if not key:
                    self.read_body()
                    status = 401
                    self.send(401, b"Must provide an API key or an Authorization bearer token", "text/plain; charset=utf-8")
                    return
                if key != st.args.api_key:
                    self.read_body()
                    status = 401
                    self.send(401, b"Invalid API key or JWT", "text/plain; charset=utf-8")
                    return
            tmpl, params, op = st.spec.match(method, path)
            handler = HANDLERS.get((method, tmpl)) if tmpl not in (None, "405") else None
            if handler is None:
                self.read_body()
                if tmpl is None or tmpl == "405":
                    status = 404
                    self.send(404, b"", "text/plain")
                    return
                raise ApiError(501, "Service internal error: `%s %s` is not implemented by the qdrant stand-in" % (method, tmpl))
            req.params = params
            req.query = coerce_query(st.spec, op, urllib.parse.parse_qs(u.query, keep_blank_values=True))
            rb = op.get("requestBody", {}).get("content", {})
            if "multipart/form-data" in rb:
                self.read_multipart(req)
            else:
                raw = self.read_body()
                schema = rb.get("application/json", {}).get("schema")
                if schema is not None:
                    if raw.strip():
                        try:
                            req.body = json.loads(raw)
                        except ValueError as e:
                            raise ApiError(400, "Format error in JSON body: %s" % e)
                    elif op.get("requestBody", {}).get("required"):
                        raise ApiError(400, "Json deserialize error: EOF while parsing a value at line 1 column 0")
                    if req.body is not None:
                        err = st.spec.body_errors(schema, req.body)
                        if err:
                            raise ApiError(err[0], err[1])
                        unknown = st.spec.unknown_fields(schema, req.body)
                        if unknown and st.args.strict:
                            p, known = unknown[0]
                            field = p.rsplit(".", 1)[-1]
                            raise ApiError(400, "Format error in JSON body: unknown field `%s` at `%s`, expected one of %s"
                                           % (field, p, ", ".join("`%s`" % k for k in known)))
                        self._unknown = [p for p, _ in unknown]
            result = handler(st, req)
            extra = {}
            if getattr(self, "_unknown", None):
                extra["x-standin-ignored-fields"] = ",".join(self._unknown)[:1000]
            if isinstance(result, Text):
                status = result.status
                self.send(result.status, result.text.encode(), "text/plain; charset=utf-8")
            elif isinstance(result, RawJSON):
                status = 200
                self.send_json(200, result.obj)
            elif isinstance(result, FileResponse):
                status = 200
                self.send_file(result.path, remove=result.remove_after)
            else:
                env = {"result": result, "status": "ok", "time": time.time() - t0}
                if st.args.strict:
                    self.check_response(op, env)
                status = 200
                self.send_json(200, env, extra)
        except Accepted:
            status = 202
            self.send_json(202, {"status": "accepted", "time": time.time() - t0})
        except ApiError as e:
            status = e.status
            self.send_error_env(e.status, e.message, t0)
        except (BrokenPipeError, ConnectionResetError):
            status = 499
        except Exception as e:  # noqa: BLE001
            import traceback
            traceback.print_exc()
            status = 500
            try:
                self.send_error_env(500, "Service internal error: %s" % e, t0)
            except OSError:
                pass
        finally:
            if not self._body_read and (int(self.headers.get("Content-Length") or 0) > 0 or
                                        self.headers.get("Transfer-Encoding", "").lower() == "chunked"):
                self.close_connection = True  # an unread request body must not be parsed as the next request
            self._unknown = None
            if req.upload_path and os.path.exists(req.upload_path):
                os.remove(req.upload_path)
            st.record(method, tmpl, status, time.time() - t0, (req.params or {}).get("collection_name"))

    def check_response(self, op, env):
        resp = op.get("responses", {}).get("200", {}).get("content", {}).get("application/json", {})
        schema = resp.get("schema")
        if schema is None:
            return
        err = self.st.spec.body_errors(schema, env)
        if err:
            raise ApiError(500, "Service internal error: stand-in response does not match the spec: %s"
                           % err[1].split(": ", 1)[1])
        unknown = self.st.spec.unknown_fields(schema, env)
        if unknown:
            raise ApiError(500, "Service internal error: stand-in response has fields the spec does not declare: %s"
                           % ", ".join(p for p, _ in unknown))


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128


def background_optimizer(st, stop):
    while not stop.wait(0.5):
        with st.lock:
            cols = list(st.collections.values())
        for c in cols:
            ds = c.dirty_since
            if ds is None:
                continue
            interval = c.config["optimizer_config"].get("flush_interval_sec") or 5
            if time.time() - ds < interval:
                continue
            if c.lock.acquire(blocking=False):
                try:
                    if c.shard is not None and c.dirty_since is not None:
                        optimize(c)
                        c.shard.flush()
                finally:
                    c.lock.release()


def main(argv=None):
    ap = argparse.ArgumentParser(description="Qdrant-compatible test server on qdrant-edge")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=6333)
    ap.add_argument("--storage", required=True)
    ap.add_argument("--snapshots")
    ap.add_argument("--api-key")
    ap.add_argument("--strict", action="store_true",
                    help="reject unknown fields in requests and check responses against the spec")
    ap.add_argument("--spec", help="openapi.json (default: shared/qdrant/openapi.json)")
    ap.add_argument("--metrics-prefix", default="")
    ap.add_argument("--version", default="1.19.0", help="version reported by / and /metrics")
    ap.add_argument("--no-optimizer", action="store_true", help="no background optimization after writes")
    ap.add_argument("--storage-snapshot", help="restore this full storage snapshot at start (as qdrant's flag)")
    ap.add_argument("--force-snapshot", action="store_true", help="let --storage-snapshot overwrite collections")
    ap.add_argument("--delay-ms", type=float, default=0, help="test aid: answer every request this much later")
    ap.add_argument("--truncate-downloads", action="store_true",
                    help="test aid: snapshot downloads send half their bytes, then close the connection")
    ap.add_argument("--verbose", action="store_true")
    args = ap.parse_args(argv)
    spec = specmod.Spec(args.spec)
    spec.version = args.version
    st = State(args, spec)
    if args.storage_snapshot:
        restore_full_snapshot(st, os.path.abspath(args.storage_snapshot), args.force_snapshot)
    Handler.st = st
    srv = Server((args.host, args.port), Handler)
    stop = threading.Event()
    if not args.no_optimizer:
        threading.Thread(target=background_optimizer, args=(st, stop), daemon=True).start()

    def on_signal(signum, frame):
        threading.Thread(target=srv.shutdown, daemon=True).start()
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    host, port = srv.server_address[:2]
    print("listening on http://%s:%d" % (host, port), flush=True)
    try:
        srv.serve_forever(poll_interval=0.2)
    finally:
        stop.set()
        srv.server_close()
        st.close_all()


if __name__ == "__main__":
    main()
