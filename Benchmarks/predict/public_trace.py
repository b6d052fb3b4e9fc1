#!/usr/bin/env python3
"""The public trace: Taylor's half-hourly electricity demand of England and Wales, June to
August 2000 (4,032 points, daily and weekly seasonality), as pmdarima ships it
(pmdarima.datasets.load_taylor; Benchmarks/predict/setup installs it). Scaled so that its
largest value is 95 % of the predictor's capacity (50 requests per second): the load stays in
0...1 and keeps its shape. Writes "t,requests" CSV with t every 1,800 s from a Monday.

Usage: public_trace.py OUT.csv
"""
import sys

from pmdarima.datasets import load_taylor

y = load_taylor(as_series=False)
start = 1_700_438_400 - 86400 * 0  # timestamps only matter for time of day and day of week
# The series starts on Monday 5 June 2000 at 00:00.
top = max(y)
with open(sys.argv[1], "w") as f:
    f.write("t,requests\n")
    for i, v in enumerate(y):
        f.write(f"{start + i * 1800},{50 * 0.95 * v / top:.4f}\n")
