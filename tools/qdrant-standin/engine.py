"""REST JSON <-> qdrant-edge objects."""
import uuid

import qdrant_edge as qe


class BadInput(Exception):
    """-> 400 Wrong input"""


DISTANCES = {"Cosine": qe.Distance.Cosine, "Euclid": qe.Distance.Euclid,
             "Dot": qe.Distance.Dot, "Manhattan": qe.Distance.Manhattan}

SCHEMA_TYPES = {"keyword": qe.PayloadSchemaType.Keyword, "integer": qe.PayloadSchemaType.Integer,
                "float": qe.PayloadSchemaType.Float, "geo": qe.PayloadSchemaType.Geo,
                "text": qe.PayloadSchemaType.Text, "bool": qe.PayloadSchemaType.Bool,
                "datetime": qe.PayloadSchemaType.Datetime, "uuid": qe.PayloadSchemaType.Uuid}


def schema_type_name(t):
    for k, v in SCHEMA_TYPES.items():
        if v == t:
            return k
    s = str(t).rsplit(".", 1)[-1].lower()
    return s


def _vparams(v):
    if v.get("multivector_config") or v.get("datatype") not in (None, "float32"):
        raise BadInput("the stand-in supports only float32 single vectors")
    return qe.EdgeVectorParams(size=int(v["size"]), distance=DISTANCES[v["distance"]],
                               on_disk=v.get("on_disk"))


def edge_config(cfg):
    """cfg = stored REST CollectionConfig (params, hnsw_config, optimizer_config, ...)"""
    vectors = cfg["params"].get("vectors")
    if isinstance(vectors, dict) and "size" in vectors:
        ev = _vparams(vectors)
    elif isinstance(vectors, dict):
        ev = {name: _vparams(v) for name, v in vectors.items()}
    else:
        ev = {}
    h = cfg["hnsw_config"]
    hnsw = qe.HnswIndexConfig(m=h["m"], ef_construct=h["ef_construct"],
                              full_scan_threshold=h["full_scan_threshold"],
                              max_indexing_threads=h.get("max_indexing_threads") or 0,
                              on_disk=h.get("on_disk"), payload_m=h.get("payload_m"))
    o = cfg["optimizer_config"]
    opt = qe.EdgeOptimizersConfig(deleted_threshold=o.get("deleted_threshold"),
                                  vacuum_min_vector_number=o.get("vacuum_min_vector_number"),
                                  default_segment_number=o.get("default_segment_number"),
                                  max_segment_size=o.get("max_segment_size"),
                                  indexing_threshold=o.get("indexing_threshold"),
                                  prevent_unoptimized=o.get("prevent_unoptimized"))
    return qe.EdgeConfig(vectors=ev, on_disk_payload=cfg["params"].get("on_disk_payload"),
                         hnsw_config=hnsw, optimizers=opt)


# ------------------------------------------------------------------ ids, points

def point_id(x):
    if isinstance(x, bool):
        raise BadInput("point id must be an unsigned integer or a UUID")
    if isinstance(x, int):
        if x < 0:
            raise BadInput("point id must be an unsigned integer or a UUID")
        return x
    if isinstance(x, str):
        try:
            return str(uuid.UUID(x))
        except ValueError:
            raise BadInput("Unable to parse UUID: %s" % x)
    raise BadInput("point id must be an unsigned integer or a UUID")


def id_out(x):
    return str(x) if isinstance(x, uuid.UUID) else x


def vector_in(v):
    if isinstance(v, dict):
        out = {}
        for k, x in v.items():
            if isinstance(x, dict):
                raise BadInput("sparse vectors are not supported by the stand-in")
            out[k] = [float(f) for f in x]
        return out
    if v and isinstance(v[0], list):
        raise BadInput("multivectors are not supported by the stand-in")
    return [float(f) for f in v]


def points_in(body):
    pts = []
    if "points" in body:
        for p in body["points"]:
            pts.append(qe.Point(point_id(p["id"]), vector_in(p.get("vector", {})), p.get("payload")))
    else:
        b = body["batch"]
        ids, vecs = b["ids"], b["vectors"]
        payloads = b.get("payloads") or [None] * len(ids)
        if isinstance(vecs, dict):
            names = list(vecs)
            vecs = [{n: vecs[n][i] for n in names} for i in range(len(ids))]
        if len(vecs) != len(ids) or len(payloads) != len(ids):
            raise BadInput("number of ids, vectors and payloads must be the same")
        for i, pid in enumerate(ids):
            pts.append(qe.Point(point_id(pid), vector_in(vecs[i]), payloads[i]))
    return pts


# ------------------------------------------------------------------ filters

def _match(m):
    if "value" in m:
        return qe.MatchValue(m["value"])
    if "any" in m:
        return qe.MatchAny(m["any"])
    if "except" in m:
        return qe.MatchExcept(m["except"])
    if "text" in m:
        return qe.MatchText(m["text"])
    if "phrase" in m:
        return qe.MatchPhrase(m["phrase"])
    raise BadInput("unsupported match condition: %s" % sorted(m))


def _range(r):
    vals = [r.get(k) for k in ("gt", "gte", "lt", "lte") if r.get(k) is not None]
    if any(isinstance(v, str) for v in vals):
        return qe.RangeDateTime(gte=r.get("gte"), gt=r.get("gt"), lte=r.get("lte"), lt=r.get("lt"))
    return qe.RangeFloat(gte=r.get("gte"), gt=r.get("gt"), lte=r.get("lte"), lt=r.get("lt"))


def condition(c):
    if any(k in c for k in ("must", "should", "must_not", "min_should")):
        return filter_in(c)
    if "has_id" in c:
        return qe.HasIdCondition(set(point_id(x) for x in c["has_id"]))
    if "is_empty" in c:
        return qe.IsEmptyCondition(c["is_empty"]["key"])
    if "is_null" in c:
        return qe.IsNullCondition(c["is_null"]["key"])
    if "has_vector" in c:
        return qe.HasVectorCondition(c["has_vector"])
    if "nested" in c:
        return qe.NestedCondition(c["nested"]["key"], filter_in(c["nested"]["filter"]))
    if "key" in c:
        kw = {}
        if c.get("match") is not None:
            kw["match"] = _match(c["match"])
        if c.get("range") is not None:
            kw["range"] = _range(c["range"])
        if c.get("values_count") is not None:
            kw["values_count"] = qe.ValuesCount(**c["values_count"])
        if c.get("is_empty") is not None:
            kw["is_empty"] = c["is_empty"]
        if c.get("is_null") is not None:
            kw["is_null"] = c["is_null"]
        if any(c.get(k) is not None for k in ("geo_bounding_box", "geo_radius", "geo_polygon")):
            raise BadInput("geo conditions are not supported by the stand-in")
        return qe.FieldCondition(key=c["key"], **kw)
    raise BadInput("unsupported filter condition: %s" % sorted(c))


def _clist(x):
    if x is None:
        return None
    if isinstance(x, dict):
        x = [x]
    return [condition(c) for c in x]


def filter_in(f):
    if f is None:
        return None
    ms = None
    if f.get("min_should"):
        ms = qe.MinShould([condition(c) for c in f["min_should"]["conditions"]], f["min_should"]["min_count"])
    return qe.Filter(must=_clist(f.get("must")), should=_clist(f.get("should")),
                     must_not=_clist(f.get("must_not")), min_should=ms)


# ------------------------------------------------------------------ selectors, output

def with_payload_in(w, default):
    if w is None:
        return default
    if isinstance(w, bool):
        return w
    if isinstance(w, list):
        return qe.PayloadSelector.Include(w)
    if "include" in w:
        return qe.PayloadSelector.Include(w["include"])
    if "exclude" in w:
        return qe.PayloadSelector.Exclude(w["exclude"])
    raise BadInput("bad with_payload")


def with_vector_in(w, default=False):
    if w is None:
        return default
    return w


def record_out(p, scored=False):
    d = {"id": id_out(p.id)}
    if scored:
        d["version"] = p.version
        d["score"] = p.score
    if p.payload is not None:
        d["payload"] = p.payload
    if p.vector is not None:
        d["vector"] = p.vector
    if p.order_value is not None:
        d["order_value"] = p.order_value
    return d


def search_params(p):
    if not p:
        return None
    return qe.SearchParams(hnsw_ef=p.get("hnsw_ef"), exact=bool(p.get("exact", False)),
                           indexed_only=bool(p.get("indexed_only", False)))


def query_in(q, using, lookup):
    """REST query -> (edge Query or Fusion or None, ids to exclude)."""
    if q is None:
        return None, []
    if isinstance(q, list):
        if q and isinstance(q[0], list):
            raise BadInput("multivector queries are not supported by the stand-in")
        return qe.Query.Nearest([float(x) for x in q], using=using), []
    if isinstance(q, (int, str)):
        pid = point_id(q)
        return qe.Query.Nearest(lookup(pid, using), using=using), [pid]
    if isinstance(q, dict):
        if "nearest" in q:
            inner, excl = query_in(q["nearest"], using, lookup)
            return inner, excl
        if "fusion" in q:
            return (qe.Fusion.Rrf(k=2) if q["fusion"] == "rrf" else qe.Fusion.Dbsf()), []  # Qdrant's default k=2
        if "rrf" in q:
            r = q["rrf"] or {}
            return qe.Fusion.Rrf(k=r.get("k") or 2, weights=r.get("weights")), []
        if "indices" in q:
            raise BadInput("sparse queries are not supported by the stand-in")
    raise BadInput("this query form is not supported by the stand-in: %s" % (sorted(q) if isinstance(q, dict) else type(q).__name__))


def prefetch_in(p, lookup):
    if p is None:
        return None
    if isinstance(p, dict):
        p = [p]
    out = []
    for x in p:
        q, _ = query_in(x.get("query"), x.get("using"), lookup)
        out.append(qe.Prefetch(limit=x.get("limit", 10), query=q, prefetches=prefetch_in(x.get("prefetch"), lookup),
                               params=search_params(x.get("params")), filter=filter_in(x.get("filter")),
                               score_threshold=x.get("score_threshold")))
    return out
