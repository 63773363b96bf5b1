/** The example TypeScript plugins, built by `npm run build` at the repo root, driven in memory. */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { join } from 'node:path';
import { MemoryHost } from './harness';
import { REPO_ROOT, candlesParams, merge, rowsFromCloses } from './helpers';
import { instantiate, checkShape } from '../src/loader';
import type { FeaturePlugin, StrategyPlugin } from '../src/types';

function load(rel: string, kind: 'strategy' | 'feature'): StrategyPlugin | FeaturePlugin {
  const entry = join(REPO_ROOT, rel);
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return checkShape(instantiate(require(entry), entry), kind, entry);
}

/** The crossover rule recomputed naively (full sums each candle): integer closes keep both exact. */
function reference(closes: number[], fast: number, slow: number): [number, string][] {
  const out: [number, string][] = [];
  let prev: number | null = null;
  for (let i = slow - 1; i < closes.length; i++) {
    const sum = (k: number): number => closes.slice(i + 1 - k, i + 1).reduce((a, b) => a + b, 0);
    const diff = sum(fast) / fast - sum(slow) / slow;
    if (prev !== null && prev <= 0 && diff > 0) out.push([i, 'golden-cross']);
    if (prev !== null && prev >= 0 && diff < 0) out.push([i, 'death-cross']);
    prev = diff;
  }
  return out;
}

test('simple-ma: signals match the naive rule, across batches, per symbol of a merged stream', async () => {
  const closes = Array.from({ length: 400 }, (_, i) => 100 + Math.round(20 * Math.sin(i / 15) + 7 * Math.sin(i / 4)));
  const want = reference(closes, 5, 12);
  assert.ok(want.length > 6);
  const h = new MemoryHost(load('plugins/strategies/simple-ma/dist/index.js', 'strategy'));
  await h.initialize({ fast: 5, slow: 12 }, { symbols: ['OTHER', 'X'] });
  // Another symbol in the same stream, its closes reversed: state must be per symbol.
  const rows = merge(rowsFromCloses([...closes].reverse(), undefined, 0), rowsFromCloses(closes, undefined, 1));
  const got: [number, string][] = [];
  for (let o = 0; o < rows.length; o += 38) {
    const r = (await h.request('candles', candlesParams(['OTHER', 'X'], o, rows.slice(o, o + 38))))[3] as
      { signals: { at: number; reason: string; symbol: string | null }[] };
    for (const s of r.signals) {
      const row = o + s.at;
      if (rows[row]!.symbol === 1) got.push([(row - 1) / 2, s.reason]);
      assert.equal(s.symbol, null);
    }
  }
  assert.deepEqual(got, want);
});

test('simple-ma: fast >= slow is refused at initialize', async () => {
  const h = new MemoryHost(load('plugins/strategies/simple-ma/dist/index.js', 'strategy'));
  const r = await h.initialize({ fast: 30, slow: 10 });
  assert.equal((r[2] as Record<string, unknown>)['type'], 'RangeError');
});

test('visualization: chart.html is self-contained with a marker per entry and exit', async () => {
  const h = new MemoryHost(load('plugins/features/visualization/dist/index.js', 'feature'), 'feature');
  await h.initialize({}, { symbols: ['BTC<USD>', 'ETH'] });
  const closes = Array.from({ length: 5000 }, (_, i) => 100 + (i % 50));
  h.notify('candles', candlesParams(['BTC<USD>', 'ETH'], 0, merge(rowsFromCloses(closes, undefined, 0), rowsFromCloses(closes.slice(0, 100), undefined, 1))));
  const t0 = 1_700_000_000_000;
  const trade = { symbol: 'BTC<USD>', side: 'short', fees: 0.5, entry_time: t0, entry_price: 100, exit_time: t0 + 600_000, exit_price: 110, size: 1, pnl: 10, entry_reason: 'golden-cross', exit_reason: 'death-cross' };
  h.notify('trades', { trades: [trade, { ...trade, entry_time: t0 + 900_000, exit_time: t0 + 1_200_000, pnl: -2 }] });
  await h.settle();
  const r = await h.request('post_run', { results: { run_id: 'r1', status: 'ok', metrics: { num_trades: 2, total_pnl: 8 }, trades: {},
    equity: { timestamp: [t0, t0 + 1, t0 + 2, t0 + 3], equity: [1000, 1010, 990, 1008] }, config: {} } });
  assert.equal(r[2], null);
  const out = r[3] as { artifacts: Record<string, string>; metrics: Record<string, number> };
  const html = out.artifacts['chart.html']!;
  assert.deepEqual(out.metrics, { chart_trades: 2 });
  assert.match(html, /^<!doctype html>/);
  assert.equal((html.match(/<svg /g) ?? []).length, 4);
  assert.match(html, /short entry 100/);
  assert.equal((html.match(/class="entry"/g) ?? []).length, 2);
  assert.equal((html.match(/class="exit"/g) ?? []).length, 2);
  assert.match(html, /BTC&lt;USD&gt;/);
  assert.doesNotMatch(html, /<script|src=|href=/);
  assert.ok(html.length < 300_000, `html is ${html.length} bytes`);
});

test('bracket-breakout-ts: stop entries at the range edge with the bracket, both sides, both bracket exits', async () => {
  const h = new MemoryHost(load('plugins/strategies/bracket-breakout-ts/dist/index.js', 'strategy'));
  const cfg = { lookback: 5, stop_pct: 2.0, target_pct: 4.0, valid_for: 3 };
  assert.deepEqual(await h.initialize(cfg, { symbols: ['A', 'B'], history: 10 }), [1, 1, null, null]);
  const wave = (k: number, phase: number): number => 100 + Math.round(10 * Math.sin(k / 4 + phase) + 3 * Math.sin(k * 1.7));
  const rows = merge(
    Array.from({ length: 120 }, (_, k) => ({ timestamp: 1000 * k, open: wave(k, 0), high: wave(k, 0) + 2, low: wave(k, 0) - 2, close: wave(k + 0.5, 0), symbol: 0 })),
    Array.from({ length: 120 }, (_, k) => ({ timestamp: 1000 * k, open: wave(k, 2), high: wave(k, 2) + 1, low: wave(k, 2) - 3, close: wave(k + 0.5, 2), symbol: 1 })),
  );
  const r = (await h.request('candles', candlesParams(['A', 'B'], 0, rows, { last: true })))[3] as
    { signals: Record<string, number | string | null>[]; book: { positions: Record<string, unknown> } };
  assert.ok(r.signals.length > 10, `${r.signals.length} signals`);
  const sides = new Set<unknown>();
  for (const s of r.signals) {
    const row = rows[s['at'] as number]!;
    const mine = rows.filter((x) => x.symbol === row.symbol && x.timestamp < row.timestamp).slice(-5);
    assert.equal(mine.length, 5);
    const hi = Math.max(...mine.map((x) => x.high));
    const lo = Math.min(...mine.map((x) => x.low));
    const long = row.close > (hi + lo) / 2;
    sides.add(s['side']);
    assert.deepEqual(s, {
      at: s['at'], alert: null, type: 'entry', side: long ? 'long' : 'short', size: null, price: null, stop: long ? hi : lo,
      valid_for: 3, stop_loss: long ? hi * (1 - 2 / 100) : lo * (1 + 2 / 100), take_profit: long ? hi * (1 + 4 / 100) : lo * (1 - 4 / 100),
      trail_pct: null, symbol: null, reason: long ? 'breakout-long' : 'breakout-short',
    });
  }
  assert.deepEqual(sides, new Set(['long', 'short']));
  assert.deepEqual(r.book.positions, {});
  // The SDK's book (the host's mirror) traded both sides and both bracket exits.
  const book = (h.server as unknown as { strategy: { orderBook: { trades: { side: string; exitReason: string }[] } } }).strategy.orderBook;
  const kinds = new Set(book.trades.map((t) => `${t.side} ${t.exitReason}`));
  for (const k of ['long stop_loss', 'long take_profit', 'short stop_loss', 'short take_profit']) assert.ok(kinds.has(k), `${k} in ${[...kinds].join(', ')}`);
});
