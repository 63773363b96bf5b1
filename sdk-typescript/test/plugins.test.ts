/** The example TypeScript plugins, built by `npm run build` at the repo root, driven in memory. */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { join } from 'node:path';
import { MemoryHost } from './harness';
import { REPO_ROOT, candlesParams, rowsFromCloses } from './helpers';
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

test('simple-ma: signals match the naive rule, across batches, per symbol', async () => {
  const closes = Array.from({ length: 400 }, (_, i) => 100 + Math.round(20 * Math.sin(i / 15) + 7 * Math.sin(i / 4)));
  const want = reference(closes, 5, 12);
  assert.ok(want.length > 6);
  const h = new MemoryHost(load('plugins/strategies/simple-ma/dist/index.js', 'strategy'));
  await h.initialize({ fast: 5, slow: 12 });
  const rows = rowsFromCloses(closes);
  const got: [number, string][] = [];
  for (let o = 0; o < rows.length; o += 37) {
    // Interleave another symbol's batch to check state is per symbol.
    await h.request('candles', candlesParams('OTHER', o, rowsFromCloses(closes.slice(o, o + 37).reverse())));
    const r = (await h.request('candles', candlesParams('X', o, rows.slice(o, o + 37))))[3] as { signals: { at: number; reason: string }[] };
    got.push(...r.signals.map((s): [number, string] => [s.at + o, s.reason]));
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
  h.notify('candles', candlesParams('BTC<USD>', 0, rowsFromCloses(Array.from({ length: 5000 }, (_, i) => 100 + (i % 50)))));
  const t0 = 1_700_000_000_000;
  const trade = { symbol: 'BTC<USD>', entry_time: t0, entry_price: 100, exit_time: t0 + 600_000, exit_price: 110, size: 1, pnl: 10, entry_reason: 'golden-cross', exit_reason: 'death-cross' };
  h.notify('trades', { trades: [trade, { ...trade, entry_time: t0 + 900_000, exit_time: t0 + 1_200_000, pnl: -2 }] });
  await h.settle();
  const r = await h.request('post_run', { results: { run_id: 'r1', status: 'ok', metrics: { num_trades: 2, total_pnl: 8 }, trades: {},
    equity: { timestamp: [t0, t0 + 1, t0 + 2, t0 + 3], equity: [1000, 1010, 990, 1008] }, config: {} } });
  assert.equal(r[2], null);
  const out = r[3] as { artifacts: Record<string, string>; metrics: Record<string, number> };
  const html = out.artifacts['chart.html']!;
  assert.deepEqual(out.metrics, { chart_trades: 2 });
  assert.match(html, /^<!doctype html>/);
  assert.equal((html.match(/<svg /g) ?? []).length, 3);
  assert.equal((html.match(/class="entry"/g) ?? []).length, 2);
  assert.equal((html.match(/class="exit"/g) ?? []).length, 2);
  assert.match(html, /BTC&lt;USD&gt;/);
  assert.doesNotMatch(html, /<script|src=|href=/);
  assert.ok(html.length < 300_000, `html is ${html.length} bytes`);
});
