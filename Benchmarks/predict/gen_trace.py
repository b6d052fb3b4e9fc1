#!/usr/bin/env python3
"""A seeded synthetic load trace for the predictor benchmark: requests per second sampled every
5 s, with a daily cycle (a morning and an afternoon peak), a weekly cycle (weekends at 45 %),
AR(1) noise, and bursts (Poisson arrivals, exponential decay). Writes "t,requests" CSV.

Usage: gen_trace.py OUT.csv [--days 17] [--seed 1] [--interval 5]
"""
import argparse
import math
import random

p = argparse.ArgumentParser()
p.add_argument("out")
p.add_argument("--days", type=float, default=17)
p.add_argument("--seed", type=int, default=1)
p.add_argument("--interval", type=float, default=5)
a = p.parse_args()

rng = random.Random(a.seed)
start = 1_700_438_400  # a Monday, 00:00 UTC
n = int(a.days * 86400 / a.interval)
noise = 0.0
burst = 0.0
phi = math.exp(-a.interval / 120)          # noise correlated over ~2 minutes
burst_rate = a.interval / 5400             # one burst every 1.5 h on average
burst_decay = math.exp(-a.interval / 90)   # bursts fade over ~1.5 minutes
with open(a.out, "w") as f:
    f.write("t,requests\n")
    for i in range(n):
        t = start + i * a.interval
        hour = (t % 86400) / 3600
        weekday = (t // 86400 + 3) % 7  # 0 = Monday
        daily = 0.15 + 0.55 * math.exp(-((hour - 10.5) / 2.2) ** 2) + 0.45 * math.exp(-((hour - 15.5) / 2.8) ** 2)
        weekly = 0.45 if weekday >= 5 else 1.0
        noise = phi * noise + math.sqrt(1 - phi * phi) * rng.gauss(0, 0.06)
        if rng.random() < burst_rate:
            burst += rng.uniform(0.2, 0.5)
        burst *= burst_decay
        level = max(0.0, 0.08 + daily * weekly + noise + burst)
        f.write(f"{t},{50 * min(level, 1.2):.4f}\n")
