"""The TypeScript SDK's order book (sdk-typescript/src/orders.ts) against the Python one
(plughost_sdk.orders) on random cases: several symbols with gaps, alerts with and without a price, every
order kind, shorts, protective exits, fees, slippage, every size mode, tight leverage (rejections,
liquidations), both fill_at modes. The Python book replays each case (as protocol/make_vectors.py does for
orders.json); the TypeScript replay must give the same trades, counts, cash, equity and positions (1e-9)."""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO

sys.path.insert(0, str(REPO / "protocol"))
from make_vectors import replay_case

TEST_JS = REPO / "sdk-typescript" / "build-test" / "test" / "orders.test.js"

pytestmark = [
    pytest.mark.node,
    pytest.mark.skipif(shutil.which("node") is None or not TEST_JS.is_file(),
                       reason="TypeScript SDK tests not built (npm test --workspace sdk-typescript)"),
]

M = 60_000


def _signal(r: random.Random, at: int, alert: int | None, symbols: list[str]) -> dict[str, Any]:
    kind = r.random()
    out: dict[str, Any] = {"at": at, "alert": alert, "type": "entry" if r.random() < 0.6 else "exit"}
    for key in ("side", "size", "price", "stop", "valid_for", "stop_loss", "take_profit", "trail_pct", "symbol",
                "reason"):
        out[key] = None
    base = 100.0
    if out["type"] == "entry":
        side = "short" if r.random() < 0.4 else "long"
        out["side"] = side
        if r.random() < 0.5:
            sl, tp = base * r.uniform(0.9, 0.99), base * r.uniform(1.01, 1.1)
            out["stop_loss"], out["take_profit"] = (sl, tp) if side == "long" else (tp, sl)
        if r.random() < 0.3:
            out["trail_pct"] = r.uniform(0.5, 5)
    if kind < 0.3:
        out["price"] = base * r.uniform(0.95, 1.05)
        out["valid_for"] = r.randint(1, 4)
    elif kind < 0.55:
        out["stop"] = base * r.uniform(0.95, 1.05)
        out["valid_for"] = r.randint(1, 4)
    if r.random() < 0.4:
        out["size"] = r.choice([0.3, 0.5, 1.0, 2.0, 40.0, 3000.0])
    if r.random() < 0.2:
        out["symbol"] = r.choice(symbols)
    if r.random() < 0.5:
        out["reason"] = r.choice(["a", "b", "ünï"])
    return out


def _case(seed: int) -> dict[str, Any]:
    r = random.Random(seed)
    symbols = ["A", "B", "C"][: r.randint(1, 3)]
    candles: list[list[Any]] = []
    price = {s: 100.0 for s in range(len(symbols))}
    vol = r.choice([0.04, 0.04, 0.2])  # some wild cases: levered positions get liquidated
    for t in range(r.randint(8, 30)):
        for s in range(len(symbols)):
            if r.random() < 0.15 and t > 0:
                continue
            o = price[s] * (1 + r.uniform(-0.03, 0.03))
            c = o * (1 + r.uniform(-vol, vol))
            h, lo = max(o, c) * (1 + r.uniform(0, 0.02)), min(o, c) * (1 - r.uniform(0, 0.02))
            candles.append([t * M, s, o, h, lo, c])
            price[s] = c
    present = sorted({row[1] for row in candles})
    symbols = [symbols[s] for s in present]
    remap = {old: new for new, old in enumerate(present)}
    for row in candles:
        row[1] = remap[row[1]]
    last_ts = {s: max(row[0] for row in candles if row[1] == s) for s in range(len(symbols))}
    starts = [i for i, row in enumerate(candles) if i == 0 or row[0] != candles[i - 1][0]]
    alerts: list[dict[str, Any]] = []
    for _ in range(r.randint(0, 4)):
        s = r.randrange(len(symbols))
        when = r.randint(0, last_ts[s] // M) * M - r.choice([0, M // 2])
        at = next(i for i in starts if candles[i][0] >= when)
        alerts.append({"at": at, "id": f"x{len(alerts)}", "timestamp": when, "symbol": symbols[s],
                       "price": None if r.random() < 0.4 else 100.0 * r.uniform(0.95, 1.05)})
    alerts.sort(key=lambda a: (a["timestamp"], a["at"]))
    signals = []
    for k, a in enumerate(alerts):
        for _ in range(r.randint(0, 2)):
            signals.append(_signal(r, a["at"], k, symbols))
    for i in range(len(candles)):
        for _ in range(r.choice([0, 0, 0, 1, 1, 2])):
            signals.append(_signal(r, i, None, symbols))
    signals.sort(key=lambda x: x["at"])
    rules = {
        "initial_capital": r.choice([300.0, 1_000.0, 10_000.0]),
        "fee_bps": r.choice([0.0, 5.0, 30.0]),
        "slippage_bps": r.choice([0.0, 3.0, 50.0]),
        "size": r.choice([0.5, 1.0, 3.0, 8.0]),
        "size_mode": r.choice(["units", "notional", "fraction"]),
        "leverage": r.choice([1.0, 2.0, 10.0]),
        "fill_at": r.choice(["next_open", "close"]),
    }
    case = {"name": f"random-{seed}", "rules": rules, "symbols": symbols, "candles": candles, "alerts": alerts,
            "signals": signals}
    return {**case, "ends": [max(i for i, row in enumerate(candles) if row[1] == s) for s in range(len(symbols))],
            "expect": replay_case(case)}


def test_typescript_book_matches_the_python_book_on_random_cases(tmp_path: Path) -> None:
    cases = [_case(seed) for seed in range(400)]
    trades = sum(len(c["expect"]["trades"]) for c in cases)
    reasons = {t["exit_reason"] for c in cases for t in c["expect"]["trades"]}
    assert trades > 1000 and {"stop_loss", "take_profit", "trailing_stop", "end_of_data", "liquidated"} <= reasons
    assert sum(c["expect"]["rejected"] for c in cases) > 50 and sum(c["expect"]["expired"] for c in cases) > 50
    path = tmp_path / "cases.json"
    path.write_text(json.dumps(cases))
    done = subprocess.run(["node", "--test", str(TEST_JS)], env={**os.environ, "PLUGHOST_ORDERS_CASES": str(path)},
                          capture_output=True, text=True, timeout=300)
    failed = [line for line in done.stdout.splitlines() if line.startswith("not ok")]
    assert done.returncode == 0 and not failed, "\n".join(failed[:10]) + done.stdout[-3000:]
    assert done.stdout.count("ok ") >= len(cases)
