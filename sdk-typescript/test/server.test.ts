/** Server against in-memory streams: hello, requests, errors, feature hooks, shutdown. */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { MemoryHost } from './harness';
import { encode } from '../src/codec';
import { encodeFrame } from '../src/framing';
import { candlesParams, rowsFromCloses } from './helpers';
import type { BacktestResults, FeaturePlugin, StrategyPlugin, Trade } from '../src/types';

test('hello lists the implemented protocol methods in table order', () => {
  const h = new MemoryHost({ name: 's', version: '1.0.0', onExit() {}, onCandle() {}, initialize() {} } as StrategyPlugin);
  h.server.hello();
  assert.deepEqual(h.out[0], [2, 'hello', {
    protocol: 3, sdk: 'plughost-sdk-typescript', sdk_version: '0.1.0',
    plugin: { name: 's', version: '1.0.0', type: 'strategy' }, methods: ['initialize', 'on_candle', 'on_exit'], pid: 1234,
  }]);
  const f = new MemoryHost({ hooks: { onTrade() {}, onPostRun() {} } } as FeaturePlugin, 'feature');
  f.server.hello();
  assert.deepEqual((f.out[0] as unknown[])[2], {
    protocol: 3, sdk: 'plughost-sdk-typescript', sdk_version: '0.1.0',
    plugin: { name: null, version: null, type: 'feature' }, methods: ['on_post_run', 'on_trade'], pid: 1234,
  });
});

test('initialize passes config; a throw becomes an error response; the next request works', async () => {
  let config: unknown = null;
  let calls = 0;
  const plugin: StrategyPlugin = {
    initialize(c) { config = c; },
    onCandle(c) {
      calls++;
      if (c.close === 2) throw new RangeError('bad candle ünïcode');
      return null;
    },
  };
  const h = new MemoryHost(plugin);
  assert.deepEqual(await h.initialize({ fast: 10 }), [1, 1, null, null]);
  assert.deepEqual(config, { fast: 10 });
  const r = await h.request('candles', candlesParams('X', 0, rowsFromCloses([1, 2, 3])));
  assert.equal(r[0], 1);
  assert.equal(r[3], null);
  const err = r[2] as Record<string, unknown>;
  assert.equal(err['type'], 'RangeError');
  assert.equal(err['message'], 'bad candle ünïcode');
  assert.match(err['traceback'] as string, /RangeError: bad candle/);
  assert.equal(err['hook'], 'on_candle');
  assert.equal(err['at'], 1);
  assert.deepEqual(Object.keys(err), ['type', 'message', 'traceback', 'hook', 'at']);
  const ok = await h.request('candles', candlesParams('Y', 0, rowsFromCloses([5]), { last: true }));
  assert.deepEqual(ok, [1, 3, null, { signals: [], book: { cash: 10000, positions: {} } }]);
  assert.equal(calls, 3);
});

test('a rejected Promise and a non-Error throw become error responses', async () => {
  const h = new MemoryHost({
    initialize: async () => { throw new TypeError('async init'); },
    onCandle: async () => Promise.reject('plain string'),
  });
  const init = await h.initialize();
  assert.equal((init[2] as Record<string, unknown>)['type'], 'TypeError');
  assert.equal((init[2] as Record<string, unknown>)['hook'], 'initialize');
  const r = await h.request('candles', candlesParams('X', 0, rowsFromCloses([1])));
  const err = r[2] as Record<string, unknown>;
  assert.equal(err['type'], 'NonErrorThrown');
  assert.equal(err['message'], 'plain string');
  assert.equal(err['at'], 0);
});

test('onAlert and onExit failures name their hook', async () => {
  const h = new MemoryHost({ onCandle: () => null, onAlert: () => { throw new Error('a'); }, onExit: () => { throw new Error('x'); } });
  await h.initialize();
  const a = await h.request('candles', candlesParams('X', 0, rowsFromCloses([1, 2]), { alerts: [{ at: 1, timestamp: 5, price: null }] }));
  assert.equal((a[2] as Record<string, unknown>)['hook'], 'on_alert');
  assert.equal((a[2] as Record<string, unknown>)['at'], 1);
  const e = await h.request('candles', candlesParams('Y', 0, rowsFromCloses([1]), { last: true }));
  assert.equal((e[2] as Record<string, unknown>)['hook'], 'on_exit');
});

test('unknown method and malformed params get error responses, the server stays up', async () => {
  const h = new MemoryHost({ onCandle: () => null });
  const u = await h.request('frobnicate', null);
  assert.equal((u[2] as Record<string, unknown>)['type'], 'MethodNotFound');
  const bad = await h.request('candles', { symbol: 'X', offset: 0, n: 2, columns: {}, last: false });
  assert.equal((bad[2] as Record<string, unknown>)['type'], 'ProtocolError');
  assert.deepEqual(await h.initialize(), [1, 3, null, null]);
});

test('a response above the frame limit becomes an error response', async () => {
  const h = new MemoryHost({ hooks: { onPostRun: () => ({ artifacts: { 'big.txt': 'x'.repeat(5000) } }) } }, 'feature', 4096);
  const r = await h.request('post_run', { results: { run_id: 'r', status: 'ok', metrics: {}, trades: {}, equity: { timestamp: [], equity: [] }, config: {} } });
  assert.equal((r[2] as Record<string, unknown>)['type'], 'FrameTooLarge');
});

test('shutdown answers, then calls onShutdown', async () => {
  const h = new MemoryHost({ onCandle: () => null });
  assert.deepEqual(await h.request('shutdown', null), [1, 1, null, null]);
  assert.equal(h.shutdown, true);
});

test('feature: pre_run, post_run (metrics, text and bytes artifacts), trades, candles', async () => {
  const trades: Trade[] = [];
  const closes: string[] = [];
  let results: BacktestResults | null = null;
  const plugin: FeaturePlugin = {
    hooks: {
      onPreRun: (cfg) => ({ ...cfg, size: 2 }),
      onPostRun: async (r) => { results = r; return { metrics: { n: 1.5 }, artifacts: { 'a.html': '<p>', 'b.bin': new Uint8Array([0, 255]) } }; },
      onTrade: (t) => { trades.push(t); if (t.pnl < 0) throw new Error('negative'); },
      onCandle: (c) => { closes.push(`${c.symbol} ${c.close}`); },
    },
  };
  const h = new MemoryHost(plugin, 'feature');
  assert.deepEqual(await h.request('pre_run', { config: { strategy: 's', size: 1 } }), [1, 1, null, { config: { strategy: 's', size: 2 } }]);
  await h.initialize({}, { symbols: ['X', 'Y'] });
  const post = await h.request('post_run', { results: { run_id: 'r9', status: 'ok', metrics: { num_trades: 1 }, trades: { pnl: [1] },
    equity: { timestamp: [1, 2], equity: [100, 101.5] }, config: {} } });
  assert.deepEqual(post.slice(0, 3), [1, 3, null]);
  assert.deepEqual((post[3] as Record<string, unknown>)['metrics'], { n: 1.5 });
  const art = (post[3] as Record<string, Record<string, unknown>>)['artifacts']!;
  assert.equal(art['a.html'], '<p>');
  assert.deepEqual([...(art['b.bin'] as Uint8Array)], [0, 255]);
  assert.equal(results!.runId, 'r9');
  assert.deepEqual(results!.equity.equity, [100, 101.5]);
  const trade = { symbol: 'X', side: 'short', entry_time: 1, entry_price: 10, exit_time: 2, exit_price: 9, size: 1, fees: 0.25, pnl: -1,
    entry_reason: null, exit_reason: 'stop' };
  h.notify('trades', { trades: [trade, { ...trade, side: 'long', pnl: 3 }] });
  // The merged stream: each candle names its own symbol.
  h.notify('candles', candlesParams(['X', 'Y'], 0, [...rowsFromCloses([7], 1, 0), ...rowsFromCloses([8], 1, 1)]));
  await h.settle();
  assert.deepEqual(trades.map((t) => [t.side, t.fees, t.pnl, t.exitReason]), [['short', 0.25, -1, 'stop'], ['long', 0.25, 3, 'stop']]);
  assert.deepEqual(closes, ['X 7', 'Y 8']);
  const errors = h.out.filter((m) => Array.isArray(m) && m[1] === 'hook_error') as unknown[][];
  assert.equal(errors.length, 1);
  assert.equal((errors[0]![2] as Record<string, unknown>)['hook'], 'on_trade');
  assert.equal(((errors[0]![2] as Record<string, Record<string, unknown>>)['error'])!['message'], 'negative');
});

test('feature onCandle failure: the batch goes on, one hook_error with a count, later batches delivered', async () => {
  let seen = 0;
  const h = new MemoryHost({ hooks: { onCandle: async (c) => { seen++; if (c.close > 1) throw new Error('c'); } } }, 'feature');
  // Without initialize's run.symbols, the batch's own `symbols` name the candles (as the host sends them).
  h.notify('candles', { ...candlesParams('X', 0, rowsFromCloses([1, 2, 3])), symbols: ['X'] });
  h.notify('candles', { ...candlesParams('X', 3, rowsFromCloses([1])), symbols: ['X'] });
  await h.settle();
  assert.equal(seen, 4);
  const errors = h.out.filter((m) => Array.isArray(m) && m[1] === 'hook_error') as unknown[][];
  assert.equal(errors.length, 1);
  assert.equal((errors[0]![2] as { count: number }).count, 2);
});

test('requests are answered in order even when an earlier one is async', async () => {
  const h = new MemoryHost({ initialize: () => new Promise((r) => setTimeout(r, 20)), onCandle: () => null });
  h.server.feed(encodeFrame(encode([0, 7, 'initialize', { config: {}, run_id: 'r', run: {} }])));
  const second = await h.request('shutdown', null);
  assert.deepEqual(h.out.map((m) => (m as unknown[])[1]), [7, 1]);
  assert.deepEqual(second, [1, 1, null, null]);
});

test('ping echoes any params', async () => {
  const h = new MemoryHost({ onCandle: () => null });
  assert.deepEqual(await h.request('ping', { t: 1.5 }), [1, 1, null, { t: 1.5 }]);
  assert.deepEqual(await h.request('ping', [1, 'x']), [1, 2, null, [1, 'x']]);
  assert.deepEqual(await h.request('ping', null), [1, 3, null, null]);
});
