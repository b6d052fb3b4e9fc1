"""The same flow driven by PyPI qdrant-client (REST) as a real client."""
import os
import threading

import pytest

qc = pytest.importorskip("qdrant_client")
from qdrant_client import QdrantClient, models  # noqa: E402

from test_snapshots import DIM, N, make_points, queries, serve_dir  # noqa: E402


def client_results(client, name):
    out = []
    for q in queries():
        r = client.query_points(name, query=q, limit=10, with_payload=True)
        out.append([(p.id, round(p.score, 6), p.payload) for p in r.points])
        r = client.query_points(name, query=q, limit=5, query_filter=models.Filter(
            must=[models.FieldCondition(key="tag", match=models.MatchValue(value="b"))]))
        out.append([p.id for p in r.points])
    out.append(client.count(name, exact=True).count)
    return out


def test_qdrant_client_flow(standin_factory, tmp_path):
    s = standin_factory("--strict")  # qdrant-client 1.20 against the 1.19 spec, responses checked too
    client = QdrantClient(url=s.url, timeout=120, check_compatibility=True)
    assert not client.collection_exists("big")
    client.create_collection("big", vectors_config=models.VectorParams(size=DIM, distance=models.Distance.COSINE),
                             hnsw_config=models.HnswConfigDiff(m=8, ef_construct=64))
    assert client.collection_exists("big")
    pts = make_points()
    client.upsert("big", points=[models.PointStruct(**p) for p in pts], wait=True)
    client.create_payload_index("big", field_name="tag", field_schema=models.PayloadSchemaType.KEYWORD, wait=True)
    info = client.get_collection("big")
    assert info.points_count == N and info.status == models.CollectionStatus.GREEN
    assert info.config.hnsw_config.m == 8
    assert info.payload_schema["tag"].data_type == models.PayloadSchemaType.KEYWORD
    client.update_collection("big", optimizers_config=models.OptimizersConfigDiff(indexing_threshold=50000))
    assert client.get_collection("big").config.optimizer_config.indexing_threshold == 50000
    before = client_results(client, "big")
    assert before[-1] == N

    snap = client.create_snapshot("big", wait=True)
    assert [x.name for x in client.list_snapshots("big")] == [snap.name]
    path = os.path.join(s.snapshots, "big", snap.name)

    # by upload
    client.delete_collection("big")
    assert not client.collection_exists("big")
    with open(path, "rb") as f:
        client.http.snapshots_api.recover_from_uploaded_snapshot(
            collection_name="big", wait=True, checksum=snap.checksum, snapshot=("up.snapshot", f.read()))
    assert client_results(client, "big") == before

    # by URL
    client.delete_collection("big")
    srv = serve_dir(os.path.dirname(path))
    try:
        assert client.recover_snapshot("big", location="http://127.0.0.1:%d/%s" % (srv.server_address[1], snap.name),
                                       checksum=snap.checksum, wait=True)
    finally:
        srv.shutdown()
        srv.server_close()
    assert client_results(client, "big") == before

    # errors come back as qdrant-client's UnexpectedResponse with Qdrant's body
    from qdrant_client.http.exceptions import UnexpectedResponse
    with pytest.raises(UnexpectedResponse) as e:
        client.get_collection("nope")
    assert e.value.status_code == 404 and b"Not found: Collection `nope` doesn't exist!" in e.value.content

    assert client.delete_snapshot("big", snap.name, wait=True)
    assert [x.name for x in client.list_snapshots("big")] == ["up.snapshot"]  # uploaded files are kept
    full = client.create_full_snapshot(wait=True)
    assert [x.name for x in client.list_full_snapshots()] == [full.name]
    client.close()
