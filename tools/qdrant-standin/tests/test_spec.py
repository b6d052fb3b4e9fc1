"""The official spec itself is checked here (not at start-up), and the stand-in's routes against it."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import server  # noqa: E402
import spec as specmod  # noqa: E402


def test_openapi_spec_is_valid():
    from openapi_spec_validator import validate
    s = specmod.Spec()
    validate(s.raw)
    assert s.raw["openapi"].startswith("3.0")
    assert len(s.raw["paths"]) >= 50 and "CollectionInfo" in s.raw["components"]["schemas"]


SPEC_SHA256 = "ae5cf980e40fc12ce7ce48f500a7c9cc19a7d8fcf0cfa1e2c7c7b27faecd8ffa"  # qdrant v1.19.0


def test_vendored_spec_is_the_official_1_19_0():
    import hashlib
    s = specmod.Spec()
    assert hashlib.sha256(open(s.path, "rb").read()).hexdigest() == SPEC_SHA256
    shared = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "..", "shared", "qdrant", "openapi.json")
    if os.path.exists(shared):
        assert open(shared, "rb").read() == open(s.path, "rb").read()


def test_every_served_route_is_in_the_spec():
    s = specmod.Spec()
    for method, tmpl in server.HANDLERS:
        assert tmpl in s.raw["paths"], tmpl
        assert method.lower() in s.raw["paths"][tmpl], (method, tmpl)


def test_router_prefers_literal_segments():
    s = specmod.Spec()
    assert s.match("POST", "/collections/c/points/count")[0] == "/collections/{collection_name}/points/count"
    assert s.match("POST", "/collections/aliases")[0] == "/collections/aliases"
    assert s.match("GET", "/collections/c/points/7")[0] == "/collections/{collection_name}/points/{id}"
    assert s.match("GET", "/nope")[0] is None


def test_nullable_is_rewritten():
    s = specmod.Spec()
    hnsw = {"$ref": "#/components/schemas/UpdateCollection"}
    assert s.body_errors(hnsw, {"hnsw_config": None}) is None
    assert s.body_errors(hnsw, {"hnsw_config": {"m": "x"}})[0] == 400
    assert s.body_errors(hnsw, {"hnsw_config": {"m": -1}})[0] == 400  # serde: not a usize
    assert s.body_errors(hnsw, {"hnsw_config": {"ef_construct": 3}})[0] == 422  # validator: range(min = 4)
    assert s.unknown_fields(hnsw, {"hnsw_config": {"ef": 1}})[0][0] == "hnsw_config.ef"
