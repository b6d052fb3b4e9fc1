#!/usr/bin/env python3
"""Writes a deterministic nginx access log in the combined format, with nginx's $request_time
as the last field, for the log benchmarks (Benchmarks/logs/run.sh). Same seed and size, same
bytes. Clients follow a Zipf-like law (a few heavy hitters with distinct counts, a long tail);
about 1 line in 200 carries an SQL-injection attempt, some in upper case (which the guide's
case-sensitive grep does not see); 1 in 100 is a 429.

    gen_access_log.py OUT [--size 1G] [--seed 14]
"""
import argparse
import random
import sys

def size_arg(s):
    mult = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    return int(float(s[:-1]) * mult[s[-1].upper()]) if s[-1].upper() in mult else int(s)

MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
PATHS = ["/api/search", "/api/documents", "/api/documents/%d", "/api/embeddings", "/health",
         "/metrics", "/static/app.%d.js", "/static/style.css", "/api/collections/%d/points", "/login",
         "/api/admin/users", "/favicon.ico"]
QUERIES = ["", "", "", "?q=redis+cluster", "?page=%d", "?q=vector+search&limit=10", "?id=%d"]
SQLI = ["?id=1+union+select+password+from+users", "?q=1%27;drop+table+sessions;--",
        "?id=1+UNION+SELECT+NULL,NULL--", "?name=x%27+or+1=1;delete+from+users",
        "?sort=(select+sleep(5))", "?q=%27;insert+into+admins+values(1)", "?id=1;UPDATE+users+SET+role=admin"]
AGENTS = ["Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0",
          "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/119.0 Safari/537.36",
          "python-requests/2.31.0", "curl/7.88.1", "Prometheus/2.42.0", "Go-http-client/1.1",
          "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_1) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Safari/605.1.15",
          "AutoUpdater/1.2 (compatible)"]
REFERERS = ["-", "-", "https://docs.example.com/", "https://docs.example.com/search?q=qdrant"]
STATUS = [200] * 850 + [304] * 40 + [404] * 40 + [429] * 10 + [500] * 5 + [201] * 30 + [401] * 15 + [403] * 10


def clf(sec):
    """[10/Oct/2026:13:55:36 +0000] for a Unix time (civil date after Howard Hinnant)."""
    days, rem = divmod(sec, 86400)
    z = days + 719468
    era = z // 146097
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    d = doy - (153 * mp + 2) // 5 + 1
    m = mp + 3 if mp < 10 else mp - 9
    y = yoe + era * 400 + (1 if m <= 2 else 0)
    return "%02d/%s/%04d:%02d:%02d:%02d +0000" % (d, MONTHS[m - 1], y, rem // 3600, rem // 60 % 60, rem % 60)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--size", type=size_arg, default=1 << 30)
    ap.add_argument("--seed", type=int, default=14)
    a = ap.parse_args()
    rnd = random.Random(a.seed)
    nclients = 20000
    ips = []
    for k in range(nclients):
        ips.append("%d.%d.%d.%d" % (rnd.choice([10, 172, 192, 203, 198, 100]), rnd.randrange(256), rnd.randrange(256), rnd.randrange(1, 255)))
    ips = list(dict.fromkeys(ips))
    # Zipf-like weights: client k gets 1/(k+1)^1.1 of the traffic
    cum, total = [], 0.0
    for k in range(len(ips)):
        total += 1.0 / (k + 1) ** 1.1
        cum.append(total)
    t = 1793491200  # 2026-11-01T00:00:00Z
    written = 0
    batch = 100000
    stamps = {}
    with open(a.out, "w", buffering=1 << 22) as f:
        while written < a.size:
            # one C-level draw per field and batch; only the cheap per-line work is left in Python
            clients = rnd.choices(ips, cum_weights=cum, k=batch)
            paths = rnd.choices(PATHS, k=batch)
            queries = rnd.choices(QUERIES, k=batch)
            statuses = rnd.choices(STATUS, k=batch)
            referers = rnd.choices(REFERERS, k=batch)
            agents = rnd.choices(AGENTS, k=batch)
            lines = []
            for i in range(batch):
                t += rnd.random() * 0.9
                sec = int(t)
                stamp = stamps.get(sec)
                if stamp is None:
                    if len(stamps) > 4096:
                        stamps.clear()
                    stamp = stamps[sec] = clf(sec)
                p = paths[i]
                if "%d" in p:
                    p = p % rnd.randrange(1, 5000)
                if rnd.random() < 0.005:
                    q = rnd.choice(SQLI)
                else:
                    q = queries[i]
                    if "%d" in q:
                        q = q % rnd.randrange(1, 100)
                method = "POST" if p.startswith("/api/search") and rnd.random() < 0.3 else "GET"
                status = statuses[i]
                size = rnd.randrange(200, 60000) if status == 200 else rnd.randrange(0, 600)
                lines.append('%s - - [%s] "%s %s%s HTTP/1.1" %d %d "%s" "%s" %.3f\n' % (
                    clients[i], stamp, method, p, q, status, size, referers[i], agents[i], rnd.expovariate(12.5)))
            chunk = "".join(lines)
            if written + len(chunk) > a.size:
                # end on a whole line at the size asked for (or just past it)
                cut = chunk.find("\n", a.size - written) + 1 or len(chunk)
                chunk = chunk[:cut]
            f.write(chunk)
            written += len(chunk)
    print("%s: %d bytes" % (a.out, written), file=sys.stderr)


if __name__ == "__main__":
    main()
