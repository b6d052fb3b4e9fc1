#!/usr/bin/env python3
"""1 GiB of mixed data for the backup benchmark (deterministic: seed 42).

  text/       300 MiB of log-like text lines in 30 files
  json/       200 MiB of Qdrant-like JSON payload lines in 20 files
  random/     250 MiB of random bytes in 5 files (incompressible)
  small/      20,000 small files (~2 KiB of text each, ~40 MiB) in 200 directories
  large/      2 x 100 MiB of semi-compressible records
  sparse/     2 sparse WAL-like files of 2 GiB each, 32 MiB of data in each (64 MiB stored)
  plus a few symlinks and hard links.
Usage: gen.py DIR
"""
import os, random, sys, json

root = sys.argv[1]
rnd = random.Random(42)
MiB = 1 << 20
words = ["".join(rnd.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rnd.randint(2, 10))) for _ in range(5000)]
levels = ["INFO", "WARN", "ERROR", "DEBUG"]

def text_block(n):
    out, size = [], 0
    while size < n:
        line = f"2026-11-{rnd.randint(1,28):02d}T{rnd.randint(0,23):02d}:{rnd.randint(0,59):02d}:{rnd.randint(0,59):02d}Z {rnd.choice(levels)} " \
               + " ".join(rnd.choices(words, k=rnd.randint(5, 16))) + f" id={rnd.getrandbits(32)}\n"
        out.append(line); size += len(line)
    return "".join(out).encode()[:n]

def json_block(n):
    out, size = [], 0
    while size < n:
        rec = {"id": rnd.getrandbits(48), "vector": [round(rnd.uniform(-1, 1), 4) for _ in range(8)],
               "payload": {"title": " ".join(rnd.choices(words, k=6)), "tags": rnd.choices(words, k=3),
                           "score": rnd.random(), "created": f"2026-11-{rnd.randint(1,28):02d}"}}
        line = json.dumps(rec) + "\n"
        out.append(line); size += len(line)
    return "".join(out).encode()[:n]

def write(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)

for i in range(30): write(f"{root}/text/app-{i:02d}.log", text_block(10 * MiB))
for i in range(20): write(f"{root}/json/points-{i:02d}.jsonl", json_block(10 * MiB))
for i in range(5): write(f"{root}/random/blob-{i}.bin", rnd.randbytes(50 * MiB))
for i in range(20000):
    write(f"{root}/small/d{i // 100:03d}/f{i:05d}.txt", text_block(rnd.randint(512, 3584)))
for i in range(2):
    recs = bytearray()
    while len(recs) < 100 * MiB:
        recs += rnd.getrandbits(64).to_bytes(8, "little") + bytes(24) + text_block(96)
    write(f"{root}/large/segment-{i}.dat", bytes(recs[:100 * MiB]))
os.makedirs(f"{root}/sparse", exist_ok=True)
for i in range(2):
    with open(f"{root}/sparse/wal-{i}.log", "wb") as f:
        for k in range(32):   # 1 MiB of data every 64 MiB
            f.seek(k * 64 * MiB)
            f.write(text_block(MiB))
        f.truncate(2048 * MiB)
os.symlink("../text/app-00.log", f"{root}/small/link-to-log")
os.link(f"{root}/json/points-00.jsonl", f"{root}/json/points-00-hardlink.jsonl")
