#!/usr/bin/python3
"""Writes a seeded Qdrant-like JSON document (a scroll/search response) of about SIZE bytes.
Usage: gen_qdrant.py OUT [SIZE_BYTES=10000000] [SEED=42]
Points: u64 ids (some above Int64 max), 128-dim vectors of f32 values printed as Qdrant
prints them (shortest text that reads back as the same f32), nested payloads with strings
holding escapes (\\" \\\\ \\n \\t \\u00e9 \\ud83d\\ude80) and raw UTF-8."""
import json, random, struct, sys

out = sys.argv[1]
size = int(sys.argv[2]) if len(sys.argv) > 2 else 10_000_000
rng = random.Random(int(sys.argv[3]) if len(sys.argv) > 3 else 42)

def f32(x):
    v = struct.unpack("<f", struct.pack("<f", x))[0]
    for p in range(6, 10):
        s = "%.*g" % (p, v)
        if struct.unpack("<f", struct.pack("<f", float(s)))[0] == v:
            return s
    return repr(v)

words = ["disk", "latency", "nginx", "redis", "qdrant", "überprüfung", "café", "日本語", "ошибка",
         "deploy", "rollback", "🚀", "naïve", "kube-proxy", "tab\there", "quote\"d", "back\\slash",
         "line\nbreak", "señal", "Zürich"]

def text(n):
    return " ".join(rng.choice(words) for _ in range(n))

def point(i):
    pid = rng.getrandbits(64) if i % 3 == 0 else rng.randrange(1, 2**53)
    vec = "[" + ",".join(f32(rng.gauss(0.0, 0.08)) for _ in range(128)) + "]"
    payload = {
        "name": text(3),
        "description": text(rng.randrange(8, 30)),
        "tags": [rng.choice(words) for _ in range(rng.randrange(0, 6))],
        "source": {"host": "node-%d.example.internal" % rng.randrange(100),
                   "path": "/var/log/app/%d.log" % rng.randrange(1000),
                   "offset": rng.randrange(2**40)},
        "score_hint": round(rng.random(), 6),
        "created_at": "2024-%02d-%02dT%02d:%02d:%02dZ" % (rng.randrange(1, 13), rng.randrange(1, 29),
                        rng.randrange(24), rng.randrange(60), rng.randrange(60)),
        "active": rng.random() < 0.7,
        "parent": None if rng.random() < 0.5 else rng.randrange(10**6),
        "meta": {"lang": rng.choice(["de", "en", "ja", "ru", "fr"]),
                 "chunks": [{"i": k, "len": rng.randrange(50, 2000)} for k in range(rng.randrange(1, 4))]},
    }
    # half the strings with \u escapes (ensure_ascii), half raw UTF-8
    p = json.dumps(payload, ensure_ascii=(i % 2 == 0), separators=(",", ":"))
    return '{"id":%d,"version":%d,"score":%s,"payload":%s,"vector":%s}' % (
        pid, rng.randrange(1000), f32(rng.random()), p, vec)

parts, n, i = [], 0, 0
while n < size:
    s = point(i)
    parts.append(s)
    n += len(s.encode()) + 1
    i += 1
doc = '{"result":{"points":[' + ",".join(parts) + '],"next_page_offset":null},"status":"ok","time":0.012345}'
with open(out, "w", encoding="utf-8") as f:
    f.write(doc)
print(f"{out}: {len(doc.encode())} bytes, {i} points", file=sys.stderr)
