/**
 * The batch walk of the merged stream: event order, per-symbol history and indicators, the order book
 * inside a batch (ctx.position/positions/cash/equity), lists of signals, other symbols, onExit once, async,
 * onBatch replay, batch-size invariance.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { MemoryHost } from './harness';
import { FIXTURES, REPO_ROOT, assertClose, candlesParams, merge, rowsFromCloses, type OrdersCase, type Row } from './helpers';
import type { Alert, BatchSignal, Candle, CandleBatch, Signal, StrategyContext, StrategyPlugin } from '../src/types';
import { entry, exit, hold } from '../src/signals';

type Book = { cash: number; positions: Record<string, { side: string; size: number; entry_price: number; entry_timestamp: number }> };
type Result = { signals: Record<string, unknown>[]; book: Book };
const resultOf = (r: unknown[]): Result => {
  assert.equal(r[2], null, `unexpected error ${JSON.stringify(r[2])}`);
  return r[3] as Result;
};

const T0 = 1_700_000_000_000;

test('alerts come before the candles of their timestamp, at == n is dropped; onExit last', async () => {
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
    'candle 11 hist=2', 'candle 12 hist=3', 'exit']);
});

test('merged stream: per-symbol history across batches, capped at run.history; candle.symbol and ctx.symbol', async () => {
  const seen: string[] = [];
  const plugin: StrategyPlugin = {
    onCandle: (c, ctx) => {
      const h = ctx.history;
      assert.equal(ctx.symbol, c.symbol);
      assert.equal(h.close(h.length - 1), c.close);
      assert.equal(h.get(-1)!.symbol, c.symbol);
      seen.push(`${c.symbol}:${[...h.column('close')].join(',')}`);
    },
  };
  const host = new MemoryHost(plugin);
  await host.initialize({}, { history: 3, symbols: ['A', 'B'] });
  const rows = merge(rowsFromCloses([1, 2, 3, 4, 5], T0, 0), rowsFromCloses([10, 20, 30], T0 + 60_000, 1));
  // Cut at timestamp boundaries: [t0], [t1 A, t1 B], [t2.., ...]
  await host.request('candles', candlesParams(['A', 'B'], 0, rows.slice(0, 1)));
  await host.request('candles', candlesParams(['A', 'B'], 1, rows.slice(1, 3)));
  await host.request('candles', candlesParams(['A', 'B'], 3, rows.slice(3), { last: true }));
  assert.deepEqual(seen, ['A:1', 'A:1,2', 'B:10', 'A:1,2,3', 'B:10,20', 'A:2,3,4', 'B:10,20,30', 'A:3,4,5']);
});

test('history slice/iterate copy candles; timestamps exact', async () => {
  let sliced: Candle[] = [];
  const plugin: StrategyPlugin = { onCandle: (_c, ctx) => { sliced = ctx.history.slice(-2); assert.equal([...ctx.history].length, ctx.history.length); } };
  const h = new MemoryHost(plugin);
  await h.initialize();
  await h.request('candles', candlesParams('X', 0, rowsFromCloses([1, 2, 3], 1_700_000_000_123), { last: true }));
  assert.deepEqual(sliced.map((c) => [c.close, c.timestamp, c.symbol]), [[2, 1_700_000_060_123, 'X'], [3, 1_700_000_120_123, 'X']]);
});

test('indicators are per symbol; an alert sees its symbol\'s last values; unknown names throw a clear error', async () => {
  const seen: string[] = [];
  const plugin: StrategyPlugin = {
    onCandle: (c, ctx) => { seen.push(`${c.symbol}${ctx.indicators.get('sma')}/${ctx.indicator('sma')}`); },
    onAlert: (a, ctx) => { seen.push(`alert ${a.symbol}${ctx.indicators.get('sma')} hist=${ctx.history.length}`); },
  };
  const h = new MemoryHost(plugin);
  await h.initialize({}, { symbols: ['A', 'B'] });
  const rows = merge(rowsFromCloses([1, 2], T0, 0), rowsFromCloses([5, 6], T0, 1));
  await h.request('candles', candlesParams(['A', 'B'], 0, rows.slice(0, 2), { indicators: { sma: [NaN, 50] } }));
  await h.request('candles', candlesParams(['A', 'B'], 2, rows.slice(2), {
    indicators: { sma: [1.5, 55] }, alerts: [{ at: 0, timestamp: T0 + 1, symbol: 'B', price: null }], last: true,
  }));
  assert.deepEqual(seen, ['ANaN/NaN', 'B50/50', 'alert B50 hist=1', 'A1.5/1.5', 'B55/55']);

  const bad = new MemoryHost({ onCandle: (_c, ctx) => (ctx.indicators.get('sma_5')! > 0 ? { type: 'entry' } : null) });
  await bad.initialize();
  const r = await bad.request('candles', candlesParams('X', 0, rowsFromCloses([1]), { indicators: { sma_10: [1], rsi: [2] } }));
  const err = r[2] as Record<string, unknown>;
  assert.equal(err['message'], "Unknown indicator 'sma_5'; known: sma_10, rsi");
  assert.equal(err['hook'], 'on_candle');
  const none = new MemoryHost({ onCandle: (_c, ctx) => ctx.indicator('ema') > 0 ? null : null });
  await none.initialize();
  const r2 = await none.request('candles', candlesParams('X', 0, rowsFromCloses([1])));
  assert.match((r2[2] as Record<string, string>)['message']!, /^Unknown indicator 'ema'; known: \(none/);
});

test('ctx.position/positions/cash/equity follow the book inside a batch; the response carries signals and book', async () => {
  const seen: string[] = [];
  const plugin: StrategyPlugin = {
    onCandle: (c, ctx: StrategyContext): Signal | null => {
      const p = ctx.position;
      seen.push(`${c.close} ${p === null ? '-' : `${p.side} ${p.size}@${p.entryPrice}`} cash=${ctx.cash} eq=${ctx.equity} n=${ctx.positions.size}`);
      if (c.close === 10) return { type: 'entry', side: 'short', reason: 'go' };
      if (c.close === 12) return { type: 'exit', size: 0.25 };
      return null;
    },
  };
  const h = new MemoryHost(plugin);
  await h.initialize({}, { rules: { initial_capital: 1000, size: 0.5 } });
  const rows = rowsFromCloses([9, 10, 11, 12, 13]).map((r) => ({ ...r, open: r.close - 0.5 }));
  const r = resultOf(await h.request('candles', candlesParams('X', 0, rows)));
  // The short fills at the next open (10.5), then is marked at each close; the partial exit at 12.5.
  assert.deepEqual(seen, [
    '9 - cash=1000 eq=1000 n=0',
    '10 - cash=1000 eq=1000 n=0',
    '11 short 0.5@10.5 cash=1005.25 eq=999.75 n=1',
    '12 short 0.5@10.5 cash=1005.25 eq=999.25 n=1',
    '13 short 0.25@10.5 cash=1002.125 eq=998.875 n=1',
  ]);
  assert.deepEqual(r.signals, [
    { at: 1, alert: null, type: 'entry', side: 'short', size: null, price: null, stop: null, valid_for: null, stop_loss: null,
      take_profit: null, trail_pct: null, symbol: null, reason: 'go' },
    { at: 3, alert: null, type: 'exit', side: null, size: 0.25, price: null, stop: null, valid_for: null, stop_loss: null,
      take_profit: null, trail_pct: null, symbol: null, reason: null },
  ]);
  assert.deepEqual(Object.keys(r.signals[0]!), ['at', 'alert', 'type', 'side', 'size', 'price', 'stop', 'valid_for', 'stop_loss',
    'take_profit', 'trail_pct', 'symbol', 'reason']);
  assert.deepEqual(r.book, { cash: 1002.125, positions: { X: { side: 'short', size: 0.25, entry_price: 10.5, entry_timestamp: T0 + 120_000 } } });
  assert.deepEqual(Object.keys(r.book.positions['X']!), ['side', 'size', 'entry_price', 'entry_timestamp']);
});

test('a list of signals, and signals naming another symbol; onExit once after the last batch', async () => {
  let exits = 0;
  let positionsAtExit: string[] = [];
  const plugin: StrategyPlugin = {
    onCandle: (c, ctx): Signal[] | null => {
      if (c.symbol === 'A' && ctx.history.length === 1) return [{ type: 'entry' }, { type: 'entry', symbol: 'B', side: 'short', reason: 'pair' }];
      if (c.symbol === 'B' && ctx.history.length === 2) return [{ type: 'exit', symbol: 'A' }, { type: 'hold' }];
      return null;
    },
    onExit: (ctx) => { exits++; positionsAtExit = [...ctx.positions.keys()]; },
  };
  const h = new MemoryHost(plugin);
  await h.initialize({}, { symbols: ['A', 'B'] });
  const rows = merge(rowsFromCloses([10, 11, 12, 13], T0, 0), rowsFromCloses([20, 21, 22, 23, 24], T0, 1));
  const a = resultOf(await h.request('candles', candlesParams(['A', 'B'], 0, rows.slice(0, 4))));
  assert.deepEqual(a.signals.map((s) => [s['at'], s['type'], s['side'], s['symbol'], s['reason']]),
    [[0, 'entry', null, null, null], [0, 'entry', 'short', 'B', 'pair'], [3, 'exit', null, 'A', null]]);
  assert.deepEqual(a.book.positions, {
    A: { side: 'long', size: 1, entry_price: 11, entry_timestamp: T0 + 60_000 },
    B: { side: 'short', size: 1, entry_price: 21, entry_timestamp: T0 + 60_000 },
  });
  const b = resultOf(await h.request('candles', candlesParams(['A', 'B'], 4, rows.slice(4, 8), { ends: [2] })));
  assert.deepEqual(b.book.positions, { B: { side: 'short', size: 1, entry_price: 21, entry_timestamp: T0 + 60_000 } });
  assert.equal(exits, 0);
  const c = resultOf(await h.request('candles', candlesParams(['A', 'B'], 8, rows.slice(8), { last: true })));
  assert.equal(exits, 1);
  assert.deepEqual(positionsAtExit, []);
  // A: +1 (11 -> 12); B: short 21 -> closed at the end at 24: -3.
  assert.deepEqual(c.book, { cash: 9998, positions: {} });
});

test('a second stream (offset 0 again) starts from a fresh book, history and indicators', async () => {
  const seen: string[] = [];
  const plugin: StrategyPlugin = {
    onCandle: (c, ctx) => {
      seen.push(`${c.close}:${ctx.history.length}:${ctx.indicator('sma')}:${ctx.cash}`);
      return ctx.position === null ? { type: 'entry' } : null;
    },
  };
  const h = new MemoryHost(plugin);
  await h.initialize();
  const first = resultOf(await h.request('candles', candlesParams('X', 0, rowsFromCloses([1, 2, 3]), { last: true, indicators: { sma: [NaN, 1.5, 2.5] } })));
  assert.equal(first.book.cash, 10000 + (3 - 2));
  resultOf(await h.request('candles', candlesParams('X', 0, rowsFromCloses([7]), { last: true, indicators: { sma: [7] } })));
  assert.deepEqual(seen, ['1:1:NaN:10000', '2:2:1.5:9998', '3:3:2.5:9998', '7:1:7:10000']);
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
  const asyncR = await run({ onCandle: async (c, ctx) => rule(c, ctx), onAlert: async () => null, onExit: async () => {} });
  assert.equal(sync.signals.length, 5);
  assert.deepEqual(asyncR, sync);
});

/** A small deterministic generator (mulberry32). */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Three symbols with gaps (not every symbol at every timestamp), ragged ends, random walks. */
function randomStream(seed: number, length: number): Row[] {
  const r = rng(seed);
  const rows: Row[] = [];
  const price = [100, 50, 20];
  const stop = [length, length - 7, length - 20];
  for (let t = 0; t < length; t++) {
    for (let s = 0; s < 3; s++) {
      if (t >= stop[s]! || (s === 2 && t < 5) || r() < 0.1) continue;
      const open = price[s]!;
      const close = open * (1 + (r() - 0.5) * 0.06);
      const high = Math.max(open, close) * (1 + r() * 0.02);
      const low = Math.min(open, close) * (1 - r() * 0.02);
      price[s] = close;
      rows.push({ timestamp: T0 + t * 60_000, open, high, low, close, volume: 1, symbol: s });
    }
  }
  return rows;
}

/** A strategy using every order kind, decided from history and the book only (so it is causal). */
function randomStrategy(seed: number): StrategyPlugin {
  const r = rng(seed);
  return {
    onCandle: (c, ctx): Signal[] | Signal | null => {
      const x = r();
      const h = ctx.history;
      if (h.length < 3) return null;
      const prev = h.close(h.length - 2);
      if (ctx.position === null) {
        if (x < 0.15) return { type: 'entry', side: c.close > prev ? 'long' : 'short', reason: 'm' };
        if (x < 0.25) return { type: 'entry', price: c.close * 0.99, validFor: 3, stopLoss: c.close * 0.9, takeProfit: c.close * 1.05 };
        if (x < 0.35) return { type: 'entry', side: 'short', stop: c.low, validFor: 2, stopLoss: c.close * 1.08, trailPct: 3 };
        if (x < 0.4) return [{ type: 'entry', size: 0.5 }, { type: 'entry', symbol: 'C', side: 'short', size: 2 }];
        return null;
      }
      if (x < 0.1) return { type: 'exit', reason: 'x' };
      if (x < 0.15) return { type: 'exit', size: ctx.position.size / 2, price: c.high };
      if (x < 0.2) return { type: 'exit', symbol: 'A' };
      return null;
    },
  };
}

async function runInBatches(rows: Row[], batch: number, plugin: StrategyPlugin, rules: Record<string, unknown>): Promise<{ signals: unknown[]; books: Book[] }> {
  const h = new MemoryHost(plugin);
  await h.initialize({}, { symbols: ['A', 'B', 'C'], history: 5, rules });
  const lastOf = new Map<number, number>();
  rows.forEach((row, i) => lastOf.set(row.symbol!, i));
  const ends = new Set(lastOf.values());
  const signals: unknown[] = [];
  const books: Book[] = [];
  for (let o = 0; o < rows.length;) {
    // At least `batch` candles, never splitting a timestamp.
    let e = Math.min(o + batch, rows.length);
    while (e < rows.length && rows[e]!.timestamp === rows[e - 1]!.timestamp) e++;
    const slice = rows.slice(o, e);
    const res = resultOf(await h.request('candles', candlesParams(['A', 'B', 'C'], o, slice, {
      last: e >= rows.length, ends: slice.map((_, i) => i).filter((i) => ends.has(o + i)),
    })));
    signals.push(...res.signals.map((s) => ({ ...s, at: (s['at'] as number) + o })));
    books.push(res.book);
    o = e;
  }
  return { signals, books };
}

test('batch size never changes the signals or the book (three symbols, every order kind, shorts, fees)', async () => {
  for (const seed of [1, 2, 3]) {
    const rows = randomStream(seed, 120);
    const rules = { fee_bps: 7, slippage_bps: 3, size_mode: 'notional', size: 1000, leverage: 2 };
    const whole = await runInBatches(rows, 1000, randomStrategy(seed), rules);
    assert.ok(whole.signals.length > 20, `seed ${seed}: ${whole.signals.length} signals`);
    for (const b of [1, 7]) {
      const got = await runInBatches(rows, b, randomStrategy(seed), rules);
      assert.deepEqual(got.signals, whole.signals, `seed ${seed} batch ${b}`);
      assert.deepEqual(got.books.at(-1), whole.books.at(-1), `seed ${seed} batch ${b}`);
    }
  }
});

test('onBatch: called once per batch; its signals are replayed through the walk like onCandle\'s', async () => {
  const rows = randomStream(9, 80);
  // The same decisions as a function of (symbol, index in the symbol's stream), per candle and per batch.
  const decide = (k: number): Signal | null =>
    k % 7 === 3 ? { type: 'entry', side: k % 2 ? 'short' : 'long', stopLoss: undefined } : k % 7 === 5 ? { type: 'exit' } : null;
  const counts = new Map<string, number>();
  const perCandle: StrategyPlugin = {
    onCandle: (c) => {
      const k = counts.get(c.symbol) ?? 0;
      counts.set(c.symbol, k + 1);
      return decide(k);
    },
  };
  let calls = 0;
  const bcounts = new Map<string, number>();
  const vectorized: StrategyPlugin = {
    onBatch: (b: CandleBatch): BatchSignal[] => {
      calls++;
      assert.equal(b.symbols.length, 3);
      const out: BatchSignal[] = [];
      for (let i = 0; i < b.n; i++) {
        const s = b.symbolAt(i);
        assert.equal(b.symbols[b.symbolIndex[i]!], s);
        const k = bcounts.get(s) ?? 0;
        bcounts.set(s, k + 1);
        const sig = decide(k);
        if (sig !== null) out.push({ ...sig, at: i });
      }
      return out.reverse(); // order within a batch does not matter: replayed by candle index
    },
  };
  const a = await runInBatches(rows, 7, perCandle, {});
  const b = await runInBatches(rows, 7, vectorized, {});
  assert.equal(calls, b.books.length);
  assert.ok(a.signals.length > 10);
  assert.deepEqual(b.signals, a.signals);
  assert.deepEqual(b.books, a.books);
});

/** Every order-book case (hand-computed and shared) through the real driver: onBatch returns its signals. */
const cases: OrdersCase[] = [
  ...JSON.parse(readFileSync(join(FIXTURES, 'orders_hand.json'), 'utf8')) as OrdersCase[],
  ...(existsSync(join(REPO_ROOT, 'protocol', 'vectors', 'orders.json'))
    ? JSON.parse(readFileSync(join(REPO_ROOT, 'protocol', 'vectors', 'orders.json'), 'utf8')) as OrdersCase[] : []),
];
const camel: Record<string, string> = { valid_for: 'validFor', stop_loss: 'stopLoss', take_profit: 'takeProfit', trail_pct: 'trailPct' };
for (const c of cases) {
  test(`driver replays order case: ${c.name}`, async () => {
    const plugin: StrategyPlugin = {
      onBatch: (): BatchSignal[] => c.signals.map((s) =>
        Object.fromEntries(Object.entries(s).map(([k, v]) => [camel[k] ?? k, v])) as unknown as BatchSignal),
    };
    const h = new MemoryHost(plugin);
    await h.initialize({}, { symbols: c.symbols, rules: c.rules });
    const rows: Row[] = c.candles.map(([timestamp, symbol, open, high, low, close]) => ({ timestamp, symbol, open, high, low, close }));
    const r = resultOf(await h.request('candles', candlesParams(c.symbols, 0, rows, {
      alerts: c.alerts.map((a) => ({ ...a, data: {} })), ends: c.ends, last: true,
    })));
    assertClose(r.book.cash, c.expect.cash, 'cash');
    assertClose(r.book.positions, c.expect.positions, 'positions');
    assert.equal(r.signals.length, c.signals.length);
  });
}

test('signal shape errors are the plugin\'s error (hook, at); bad values are sent for the host to refuse, the book skips them', async () => {
  for (const bad of [{ type: 'buy' }, { type: 'entry', size: '1' }, { type: 'entry', symbol: 3 }, 42, 'entry']) {
    const h = new MemoryHost({ onCandle: (c) => (c.close === 2 ? (bad as Signal) : null) });
    await h.initialize();
    const r = await h.request('candles', candlesParams('X', 0, rowsFromCloses([1, 2, 3])));
    const err = r[2] as Record<string, unknown>;
    assert.equal(err['type'], 'SignalError', JSON.stringify(bad));
    assert.equal(err['hook'], 'on_candle');
    assert.equal(err['at'], 1);
  }
  // An exit's levels are ignored, not checked: a "wrong side" pair on an exit is a valid signal.
  const ok = new MemoryHost({ onCandle: (_c, ctx) => (ctx.position === null ? { type: 'entry' } : { type: 'exit', stopLoss: 5, takeProfit: 4 }) });
  await ok.initialize();
  const okr = resultOf(await ok.request('candles', candlesParams('X', 0, rowsFromCloses([1, 2, 3, 4]))));
  assert.equal(okr.book.cash, 10000 + (3 - 2) - 4); // in at 2, out at 3 (the exit filled), in again at 4
  const values: Signal[] = [{ type: 'entry', size: 0 }, { type: 'entry', price: -1 }, { type: 'entry', price: NaN },
    { type: 'entry', symbol: 'NOPE' }, { type: 'entry', price: 1, stop: 2 }, { type: 'entry', stopLoss: 5, takeProfit: 4 },
    { type: 'entry', trailPct: 100 }, { type: 'entry', validFor: 0.5 }];
  const h = new MemoryHost({ onCandle: (c) => (c.close === 1 ? values : null) });
  await h.initialize();
  const r = resultOf(await h.request('candles', candlesParams('X', 0, rowsFromCloses([1, 2, 3]))));
  assert.equal(r.signals.length, values.length);
  assert.deepEqual(r.book, { cash: 10000, positions: {} });
});

test('onBatch index errors name the index', async () => {
  const h = new MemoryHost({ onBatch: () => [{ type: 'entry', at: 5 }] });
  await h.initialize();
  const r = await h.request('candles', candlesParams('X', 0, rowsFromCloses([1, 2])));
  assert.match((r[2] as Record<string, string>)['message']!, /at=5 out of range 0..1/);
});

test('a symbol index outside run.symbols is a protocol error', async () => {
  const h = new MemoryHost({ onCandle: () => null });
  await h.initialize();
  const r = await h.request('candles', candlesParams('X', 0, rowsFromCloses([1], T0, 4)));
  assert.equal((r[2] as Record<string, unknown>)['type'], 'ProtocolError');
});

test('the signal helpers carry every field to the wire', async () => {
  const h = new MemoryHost({
    onCandle: (c, ctx) => (ctx.position === null
      ? [hold(), entry({ side: 'short', size: 2, stop: c.low, validFor: 2, stopLoss: c.high + 5, takeProfit: c.low - 5, trailPct: 50, reason: 'e' })]
      : exit({ price: c.low, validFor: 3, symbol: 'X', reason: 'x' })),
  });
  await h.initialize();
  const r = resultOf(await h.request('candles', candlesParams('X', 0, rowsFromCloses([10, 9, 8]))));
  assert.deepEqual(r.signals[0], { at: 0, alert: null, type: 'entry', side: 'short', size: 2, price: null, stop: 9, valid_for: 2,
    stop_loss: 16, take_profit: 4, trail_pct: 50, symbol: null, reason: 'e' });
  // The short stop entry at 9 fills at candle 1's open (9); the exit, a limit buy at candle 1's low (8),
  // at candle 2's open (8); flat again, candle 2 enters again.
  assert.deepEqual(r.signals.slice(1).map((s) => [s['at'], s['type'], s['price'], s['valid_for'], s['symbol']]),
    [[1, 'exit', 8, 3, 'X'], [2, 'entry', null, 2, null]]);
  assert.deepEqual(r.book, { cash: 10002, positions: {} });
});
