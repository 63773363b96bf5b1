/** The batch walk: event order, history, indicators, mirror inside a batch, async, batch invariance. */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { MemoryHost } from './harness';
import { candlesParams, rowsFromCloses, vectors, type MirrorCase, type Row } from './helpers';
import type { Alert, BatchSignal, Candle, CandleBatch, Signal, StrategyContext, StrategyPlugin } from '../src/types';

type Result = { signals: Record<string, unknown>[]; position: Record<string, unknown> | null };
const resultOf = (r: unknown[]): Result => {
  assert.equal(r[2], null, `unexpected error ${JSON.stringify(r[2])}`);
  return r[3] as Result;
};

test('alerts with at == i come before candle i, at == n after the last; onExit last', async () => {
  const events: string[] = [];
  const plugin: StrategyPlugin = {
    onAlert: (a: Alert, ctx) => { events.push(`alert ${a.id} hist=${ctx.history.length}`); },
    onCandle: (c: Candle, ctx) => { events.push(`candle ${c.close} hist=${ctx.history.length}`); },
    onExit: () => { events.push('exit'); },
  };
  const h = new MemoryHost(plugin);
  await h.initialize();
  const rows = rowsFromCloses([10, 11, 12]);
  resultOf(await h.request('candles', candlesParams('X', 0, rows, {
    last: true,
    alerts: [{ at: 1, id: 'b', timestamp: 1, price: null }, { at: 0, id: 'a', timestamp: 0, price: null },
      { at: 3, id: 'z', timestamp: 9, price: null }, { at: 1, id: 'c', timestamp: 2, price: null }],
  })));
  assert.deepEqual(events, ['alert a hist=0', 'candle 10 hist=1', 'alert b hist=1', 'alert c hist=1',
    'candle 11 hist=2', 'candle 12 hist=3', 'alert z hist=3', 'exit']);
});

test('history spans batches, is capped at run.history, ends at the current candle', async () => {
  const seen: string[] = [];
  const plugin: StrategyPlugin = {
    onCandle: (c, ctx) => {
      const h = ctx.history;
      assert.equal(h.close(h.length - 1), c.close);
      assert.equal(h.get(-1)!.timestamp, c.timestamp);
      seen.push(`${h.length}:${[...h.column('close')].join(',')}`);
    },
  };
  const host = new MemoryHost(plugin);
  await host.initialize({}, { history: 3 });
  const rows = rowsFromCloses([1, 2, 3, 4, 5]);
  await host.request('candles', candlesParams('X', 0, rows.slice(0, 2)));
  await host.request('candles', candlesParams('X', 2, rows.slice(2, 3)));
  await host.request('candles', candlesParams('X', 3, rows.slice(3), { last: true }));
  assert.deepEqual(seen, ['1:1', '2:1,2', '3:1,2,3', '3:2,3,4', '3:3,4,5']);
});

test('history slice/iterate copy candles; timestamps exact', async () => {
  let sliced: Candle[] = [];
  const plugin: StrategyPlugin = { onCandle: (_c, ctx) => { sliced = ctx.history.slice(-2); assert.equal([...ctx.history].length, ctx.history.length); } };
  const h = new MemoryHost(plugin);
  await h.initialize();
  await h.request('candles', candlesParams('X', 0, rowsFromCloses([1, 2, 3], 1_700_000_000_123), { last: true }));
  assert.deepEqual(sliced.map((c) => [c.close, c.timestamp, c.symbol]), [[2, 1_700_000_060_123, 'X'], [3, 1_700_000_120_123, 'X']]);
});

test('indicators: one Map updated per candle; values kept for an alert at the next batch start', async () => {
  const seen: string[] = [];
  const plugin: StrategyPlugin = {
    onCandle: (_c, ctx) => { seen.push(`c${ctx.indicators.get('sma')}`); },
    onAlert: (_a, ctx) => { seen.push(`a${ctx.indicators.get('sma')}`); },
  };
  const h = new MemoryHost(plugin);
  await h.initialize();
  const rows = rowsFromCloses([1, 2, 3]);
  await h.request('candles', candlesParams('X', 0, rows.slice(0, 2), { indicators: { sma: [NaN, 1.5] } }));
  await h.request('candles', candlesParams('X', 2, rows.slice(2), { indicators: { sma: [2.5] }, alerts: [{ at: 0, timestamp: 0, price: null }], last: true }));
  assert.deepEqual(seen, ['cNaN', 'c1.5', 'a1.5', 'c2.5']);
});

test('ctx.position follows the mirror inside a batch; response carries signals and position', async () => {
  const positions: (number | null)[] = [];
  const plugin: StrategyPlugin = {
    onCandle: (c, ctx: StrategyContext): Signal | null => {
      positions.push(ctx.position?.entryPrice ?? null);
      if (c.close === 10) return { type: 'entry', reason: 'go' };
      if (c.close === 12) return { type: 'exit', size: 0.25 };
      return null;
    },
  };
  const h = new MemoryHost(plugin);
  await h.initialize({}, { size: 0.5 });
  const r = resultOf(await h.request('candles', candlesParams('X', 0, rowsFromCloses([9, 10, 11, 12]))));
  assert.deepEqual(positions, [null, null, 10, 10]);
  assert.deepEqual(r.signals, [
    { at: 1, alert: null, type: 'entry', price: null, size: null, reason: 'go' },
    { at: 3, alert: null, type: 'exit', price: null, size: 0.25, reason: null },
  ]);
  assert.deepEqual(r.position, { entry_price: 10, size: 0.25, entry_timestamp: 1_700_000_060_000 });
});

test('last resets the symbol: a new stream starts flat with empty history', async () => {
  const lens: number[] = [];
  const plugin: StrategyPlugin = { onCandle: (_c, ctx) => { lens.push(ctx.history.length); return ctx.position ? null : { type: 'entry' }; } };
  const h = new MemoryHost(plugin);
  await h.initialize();
  const a = resultOf(await h.request('candles', candlesParams('X', 0, rowsFromCloses([1, 2]), { last: true })));
  assert.notEqual(a.position, null);
  const b = resultOf(await h.request('candles', candlesParams('Y', 0, rowsFromCloses([3]), { last: true })));
  assert.equal(b.signals.length, 1);
  assert.deepEqual(lens, [1, 2, 1]);
});

test('async methods (Promises) give the same result as sync ones', async () => {
  const rule = (c: Candle, ctx: StrategyContext): Signal | null =>
    (ctx.position === null && c.close < 5 ? { type: 'entry' } : ctx.position !== null && c.close > 7 ? { type: 'exit' } : null);
  const closes = [6, 4, 5, 8, 3, 9, 2];
  const run = async (plugin: StrategyPlugin): Promise<Result> => {
    const h = new MemoryHost(plugin);
    await h.initialize();
    return resultOf(await h.request('candles', candlesParams('X', 0, rowsFromCloses(closes), { last: true })));
  };
  const sync = await run({ onCandle: rule });
  const asyncR = await run({ onCandle: async (c, ctx) => rule(c, ctx), onExit: async () => {} });
  assert.equal(sync.signals.length, 5);
  assert.deepEqual(asyncR, sync);
});

test('batch size never changes the signals', async () => {
  const closes = Array.from({ length: 50 }, (_, i) => 10 + Math.sin(i / 3) * 5);
  const plugin = (): StrategyPlugin => ({
    onCandle: (c, ctx) => {
      const h = ctx.history;
      if (h.length < 4) return null;
      const avg = (h.close(h.length - 2) + h.close(h.length - 3) + h.close(h.length - 4)) / 3;
      if (!ctx.position && c.close > avg) return { type: 'entry' };
      if (ctx.position && c.close < avg) return { type: 'exit' };
      return null;
    },
  });
  const runWith = async (batch: number): Promise<unknown[]> => {
    const h = new MemoryHost(plugin());
    await h.initialize({}, { history: 5 });
    const rows = rowsFromCloses(closes);
    const out: unknown[] = [];
    for (let o = 0; o < rows.length; o += batch) {
      const r = resultOf(await h.request('candles', candlesParams('X', o, rows.slice(o, o + batch), { last: o + batch >= rows.length })));
      out.push(...r.signals.map((s) => ({ ...s, at: (s['at'] as number) + o })));
    }
    return out;
  };
  const whole = await runWith(50);
  assert.ok(whole.length > 4);
  for (const b of [1, 3, 7]) assert.deepEqual(await runWith(b), whole, `batch ${b}`);
});

for (const c of vectors<MirrorCase[]>('position_mirror.json')) {
  test(`onBatch replays position_mirror case ${c.name}`, async () => {
    const plugin: StrategyPlugin = {
      onBatch: (_b: CandleBatch): BatchSignal[] => c.signals.map((s) => ({ ...s })),
    };
    const h = new MemoryHost(plugin);
    await h.initialize({}, { size: c.run_size });
    const rows: Row[] = c.candles.map((k) => ({ ...k, volume: 0 }));
    const r = resultOf(await h.request('candles', candlesParams('X', 0, rows, { alerts: c.alerts })));
    assert.deepEqual(r.position, c.expect.position);
    assert.equal(r.signals.length, c.signals.length);
  });
}

test('invalid signals are the plugin error, reported with hook and at', async () => {
  for (const bad of [{ type: 'buy' }, { type: 'entry', size: 0 }, { type: 'entry', size: -1 }, { type: 'entry', price: NaN }, 42]) {
    const h = new MemoryHost({ onCandle: (c) => (c.close === 2 ? (bad as Signal) : null) });
    await h.initialize();
    const r = await h.request('candles', candlesParams('X', 0, rowsFromCloses([1, 2, 3])));
    const err = r[2] as Record<string, unknown>;
    assert.equal(err['type'], 'SignalError', JSON.stringify(bad));
    assert.equal(err['hook'], 'on_candle');
    assert.equal(err['at'], 1);
  }
});
