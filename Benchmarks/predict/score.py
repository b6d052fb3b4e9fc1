#!/usr/bin/env python3
"""Walk-forward scoring of the load predictor against its baselines on one trace.

Every model forecasts the load (min(requests / 50, 1)) h steps after each origin i of the test
period, from data up to i only. Hyperparameters are fixed before the test period: the baselines'
smoothing factors are chosen on the validation period just before it (the last week of the
warm-up, or the last day on the 5 s trace), the original's forest keeps its own settings, and the
predictor (predict-bench walk, which wrote MODEL.csv) runs with its defaults and trains on its
own triggers.

Usage: score.py TRACE.csv MODEL.csv --interval S --h1 STEPS --h2 STEPS --test-from I
                --validation N --day P --week W --rf-every K [--stride S] [--history N]
"""
import argparse
import time

import numpy as np

p = argparse.ArgumentParser()
p.add_argument("trace"); p.add_argument("model")
p.add_argument("--interval", type=float, required=True)
p.add_argument("--h1", type=int, required=True); p.add_argument("--h2", type=int, required=True)
p.add_argument("--test-from", type=int, required=True)
p.add_argument("--validation", type=int, required=True, help="origins before --test-from used to choose smoothing factors")
p.add_argument("--day", type=int, required=True); p.add_argument("--week", type=int, required=True)
p.add_argument("--rf-every", type=int, required=True, help="the original's forest retrains every this many samples")
p.add_argument("--stride", type=int, default=1, help="score every stride-th origin")
p.add_argument("--history", type=int, default=138240, help="origins the boosted trees train on (the predictor's history)")
a = p.parse_args()

data = np.loadtxt(a.trace, delimiter=",", skiprows=1)
t, req = data[:, 0], data[:, 1]
y = np.minimum(req / 50.0, 1.0)
n = len(y)
model = np.loadtxt(a.model, delimiter=",", skiprows=1)
mi = model[:, 0].astype(int)
assert np.allclose(model[:, 1], y[mi], atol=1e-9), "the predictor's loads differ from the trace's"
horizons = [a.h1, a.h2]
model_fc = {a.h1: dict(zip(mi, model[:, 2])), a.h2: dict(zip(mi, model[:, 3]))}


def origins(h, lo, hi):
    return np.arange(lo, min(hi, n - h), a.stride)


def metrics(pred, actual, naive):
    err = np.abs(pred - actual)
    nz = actual != 0
    return err.mean(), (err[nz] / np.abs(actual[nz])).mean(), (err.mean() + 1e-12) / (np.abs(naive - actual).mean() + 1e-12)


# --- EWMA: forecast = the exponentially weighted mean at the origin
def ewma(alpha):
    out = np.empty(n)
    m = y[0]
    for i in range(n):
        m += alpha * (y[i] - m)
        out[i] = m
    return out


# --- Holt-Winters, additive, damped trend, daily season; every grid point run at once
def holt_winters(grid, want):
    g = len(grid)
    al = np.array([x[0] for x in grid]); be = np.array([x[1] for x in grid])
    ga = np.array([x[2] for x in grid]); ph = np.array([x[3] for x in grid])
    P = a.day
    level = np.full(g, y[:P].mean()); trend = np.zeros(g)
    season = np.tile(y[:P] - y[:P].mean(), (g, 1))
    damp = {h: np.array([sum(f ** k for k in range(1, h + 1)) for f in ph]) for h in horizons}
    out = {h: {} for h in horizons}
    for i in range(P, n):
        s = season[:, i % P]
        prev = level
        level = al * (y[i] - s) + (1 - al) * (level + ph * trend)
        trend = be * (level - prev) + (1 - be) * ph * trend
        season[:, i % P] = ga * (y[i] - level) + (1 - ga) * s
        for h in horizons:
            if i in want[h]:
                out[h][i] = np.clip(level + damp[h] * trend + season[:, (i + h) % P], 0, 1)
    return out


# --- the original's forest: 9 features over a 10-sample window, 50 trees of depth 10 on scaled
# inputs, the last 1,000 samples, retrained every rf-every samples; the target is h steps after
# the window (the original always used 5) and prediction uses the same 10-sample window (the
# original used 30: fixed here in the forest's favour)
def rf_features(i):
    w = req[i - 9:i + 1]
    mean = w.mean()
    std = w.std()
    ts = t[i]
    if std > 0:
        c = np.corrcoef(w[:-1], w[1:])[0, 1]
        c = 0.0 if np.isnan(c) else c
    else:
        c = 0.0
    return [mean, w.max(), 0.0, 0.0, 0.0, (ts % 86400) / 86400, ((ts // 86400) % 7) / 7, c, std / mean if mean else 0.0]


def random_forest(h, test):
    from sklearn.ensemble import RandomForestRegressor
    from sklearn.preprocessing import StandardScaler
    out = {}
    feats = {}
    def f(i):
        if i not in feats:
            feats[i] = rf_features(i)
        return feats[i]
    k = 0
    while k < len(test):
        T = test[k] - (test[k] % a.rf_every)          # the last retraining at or before this origin
        lo = max(9, T - 999)
        idx = [i for i in range(lo, T - h + 1)]       # windows ending at i whose target i+h <= T
        X = np.array([f(i) for i in idx]); Y = y[np.array(idx) + h]
        sc = StandardScaler().fit(X)
        rf = RandomForestRegressor(n_estimators=50, max_depth=10, random_state=42).fit(sc.transform(X), Y)
        batch = [i for i in test[k:] if i < T + a.rf_every]
        pr = rf.predict(sc.transform(np.array([f(i) for i in batch])))
        for i, v in zip(batch, pr):
            out[i] = min(1.0, max(0.0, v))
        k += len(batch)
    return out


# --- gradient-boosted trees (scikit-learn's HistGradientBoostingRegressor with its defaults:
# 100 iterations, learning rate 0.1, 31 leaves, no early stopping), given the same information
# as the predictor: the level, its changes over 1, 3 and 12 steps, the mean of the last 12, the
# target's time of day and day of week, and the seasonal lags of Sources/Predict/Features.swift
# (the load at the same phase of the day and of the week as the target, and as the origin, the
# most recent one known). Trained on the last `history` origins (the predictor's own history,
# capped) before each retraining, retrained every --day origins. Target: the change of the load.
def seasonal_offsets(h):
    offs = []
    for P in (a.day, a.week):
        back = -(-h // P) * P
        offs += [h - back, -back]
    return offs


def gbt_features(idx, h):
    idx = np.asarray(idx)
    cols = [y[idx], y[idx] - y[idx - 1], y[idx] - y[idx - 3], y[idx] - y[idx - 12]]
    cs = np.concatenate([[0.0], np.cumsum(y)])
    cols.append((cs[idx + 1] - cs[idx - 11]) / 12 - y[idx])
    tt = t[idx] + h * a.interval
    cols += [(tt % 86400) / 86400, ((tt // 86400) % 7)]
    r = max(0, int(30 // a.interval))
    lags = []
    for k, o in enumerate(seasonal_offsets(h)):
        at = idx + o
        lo, hi = at - r, np.minimum(at + r, idx)
        v = (cs[hi + 1] - cs[np.maximum(lo, 0)]) / (hi - lo + 1) - y[idx]
        # as the predictor: a weekly lag before the trace's start takes the daily one's value
        lags.append(np.where(lo >= 0, v, lags[k - 2] if k >= 2 else 0.0))
    return np.column_stack(cols + lags)


def gradient_boosting(h, test, history):
    from sklearn.ensemble import HistGradientBoostingRegressor
    out = {}
    k = 0
    while k < len(test):
        T = test[k]
        lo = max(12, T - h - history)
        idx = np.arange(lo, T - h + 1)
        m = HistGradientBoostingRegressor(early_stopping=False, random_state=42)
        m.fit(gbt_features(idx, h), y[idx + h] - y[idx])
        batch = [i for i in test[k:] if i < T + a.day]
        pr = m.predict(gbt_features(batch, h)) + y[np.asarray(batch)]
        for i, v in zip(batch, pr):
            out[i] = min(1.0, max(0.0, v))
        k += len(batch)
    return out


rows = []
vlo = a.test_from - a.validation
val = {h: origins(h, vlo, a.test_from - h) for h in horizons}
test = {h: origins(h, a.test_from, n) for h in horizons}
want = {h: set(val[h]) | set(test[h]) for h in horizons}

started = time.time()
alphas = [0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.8]
ew = {al: ewma(al) for al in alphas}
hw_grid = [(al, be, ga, ph) for al in (0.05, 0.2, 0.5) for be in (0.001, 0.01) for ga in (0.05, 0.2) for ph in (0.9, 0.98)]
hw = holt_winters(hw_grid, want)
print(f"(baselines computed in {time.time() - started:.0f} s)")

for h in horizons:
    o = test[h]
    actual = y[o + h]
    naive = y[o]
    res = {}
    res["last value"] = naive
    res["seasonal naive (day)"] = y[o + h - a.day]
    res["seasonal naive (week)"] = y[o + h - a.week]
    best = min(alphas, key=lambda al: np.abs(ew[al][val[h]] - y[val[h] + h]).mean())
    res[f"EWMA (alpha {best})"] = ew[best][o]
    vh = np.array([hw[h][i] for i in val[h]]); th = np.array([hw[h][i] for i in o])
    gi = int(np.argmin(np.abs(vh - y[val[h] + h][:, None]).mean(axis=0)))
    res["Holt-Winters (a {}, b {}, g {}, phi {})".format(*hw_grid[gi])] = th[:, gi]
    started = time.time()
    rf = random_forest(h, list(o))
    res["original's random forest (9 features)"] = np.array([rf[i] for i in o])
    rf_time = time.time() - started
    started = time.time()
    gb = gradient_boosting(h, list(o), a.history)
    res["gradient-boosted trees (HistGradientBoosting)"] = np.array([gb[i] for i in o])
    gb_time = time.time() - started
    res["opsh predictor (ridge around its chosen anchor)"] = np.array([model_fc[h][i] for i in o])
    print(f"\nhorizon {h} steps = {h * a.interval:g} s, {len(o)} origins (forest: {rf_time:.0f} s, boosted trees: {gb_time:.0f} s)")
    print(f"{'model':50} {'MAE':>8} {'MAPE':>8} {'MASE':>8}")
    for name, pred in res.items():
        mae, mape, mase = metrics(np.asarray(pred), actual, naive)
        print(f"{name:50} {mae:8.4f} {mape:8.3f} {mase:8.3f}")
