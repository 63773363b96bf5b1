/**
 * The look-ahead check of onBatch strategies (src/lookahead.ts), in memory through the Server: a planted
 * `close[i + 1]` is flagged on every run, its honest twin never is, and the check never changes an answer.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { MemoryHost } from './harness';
import { candlesParams, type Row, type WireAlert } from './helpers';
import type { BatchSignal, CandleBatch, StrategyPlugin } from '../src/types';

type Answer = { signals: Record<string, unknown>[]; book: unknown; lookahead?: { at: number; cut: number; given: number; replayed: number } };

const T0 = 1_700_000_000_000;

/** A random walk of `n` closes (a fixed generator: the same stream every run). */
function walk(n: number, seed = 5): Row[] {
  let s = seed;
  const rand = (): number => {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    return s / 2 ** 32;
  };
  const rows: Row[] = [];
  let close = 100;
  for (let i = 0; i < n; i++) {
    const open = close;
    close *= Math.exp((rand() - 0.5) * 0.02);
    rows.push({ timestamp: T0 + i * 60_000, open, high: Math.max(open, close) * 1.002, low: Math.min(open, close) * 0.998, close, volume: 1 });
  }
  return rows;
}

/** An SMA(5)/SMA(20) crossover on closes; `peek` reads candle i+1's close for the decision at candle i. */
class Cross implements StrategyPlugin {
  tail: number[] = [];
  prev = NaN;
  constructor(readonly peek: boolean) {}

  onBatch(batch: CandleBatch): BatchSignal[] {
    const close = Array.from(batch.close, (c, i) => (this.peek ? (batch.close[i + 1] ?? NaN) : c));
    const { out, tail, prev } = crossings([...this.tail, ...close], close.length, this.prev);
    this.tail = tail;
    this.prev = prev;
    return out;
  }
}

function crossings(data: number[], n: number, prev: number): { out: BatchSignal[]; tail: number[]; prev: number } {
  const mean = (k: number, w: number): number => {
    let sum = 0;
    for (let j = Math.max(0, k - w + 1); j <= k; j++) sum += data[j]!;
    return sum / w;
  };
  const out: BatchSignal[] = [];
  const off = data.length - n;
  for (let i = 0; i < n; i++) {
    const diff = mean(off + i, 5) - mean(off + i, 20);
    if (prev <= 0 && diff > 0) out.push({ type: 'entry', at: i });
    if (prev >= 0 && diff < 0) out.push({ type: 'exit', at: i });
    prev = diff;
  }
  return { out, tail: data.slice(-25), prev };
}

async function run(plugin: StrategyPlugin, rows: Row[], batchSize: number, runId: string, check: boolean,
  alerts: (offset: number, n: number) => WireAlert[] = () => []): Promise<Answer[]> {
  const h = new MemoryHost(plugin);
  const init = await h.request('initialize', { config: {}, run_id: runId, run: { history: 200, symbols: ['X'], rules: {}, lookahead_check: check } });
  assert.equal(init[2], null);
  const answers: Answer[] = [];
  for (let off = 0; off < rows.length; off += batchSize) {
    const part = rows.slice(off, off + batchSize);
    const last = off + batchSize >= rows.length;
    const r = await h.request('candles', candlesParams('X', off, part, { last, alerts: alerts(off, part.length) }));
    assert.equal(r[2], null, `unexpected error ${JSON.stringify(r[2])}`);
    answers.push(r[3] as Answer);
  }
  return answers;
}

const findings = (answers: Answer[]): NonNullable<Answer['lookahead']>[] =>
  answers.flatMap((a) => (a.lookahead === undefined ? [] : [a.lookahead]));

const ROWS = walk(3000);

test('a planted close[i+1] is flagged on every run, once, naming a candle before the cut', async () => {
  for (const batchSize of [250, 1000, 3000]) {
    for (const seed of ['a', 'b', 'c']) {
      const answers = await run(new Cross(true), ROWS, batchSize, `peek-${seed}-${batchSize}`, true);
      const found = findings(answers);
      assert.equal(found.length, 1, `seed ${seed} batch ${batchSize}: ${JSON.stringify(found)}`);
      const f = found[0]!;
      assert.ok(Number.isInteger(f.at) && f.at >= 0 && f.at < f.cut && f.cut < batchSize, JSON.stringify(f));
    }
  }
});

test('the honest twin is never flagged, and the check changes no answer', async () => {
  for (const batchSize of [250, 1000, 3000]) {
    for (const seed of ['a', 'b', 'c']) {
      const checked = await run(new Cross(false), ROWS, batchSize, `h-${seed}-${batchSize}`, true);
      assert.deepEqual(findings(checked), []);
      const unchecked = await run(new Cross(false), ROWS, batchSize, `h-${seed}-${batchSize}`, false);
      assert.deepEqual(checked, unchecked);
      assert.ok(checked.flatMap((a) => a.signals).length > 20);
    }
  }
});

test('with lookahead_check off nothing is replayed and nothing is flagged', async () => {
  const sizes: number[] = [];
  const plugin = new Cross(true);
  const onBatch = plugin.onBatch.bind(plugin);
  plugin.onBatch = (b) => { sizes.push(b.n); return onBatch(b); };
  assert.deepEqual(findings(await run(plugin, ROWS, 250, 'off', false)), []);
  assert.deepEqual(sizes, Array(12).fill(250));
});

test('replays stay within 25 % of the rows given (plus one batch), and the live state is put back', async () => {
  const replayed: number[] = []; // outside the plugin: what the check cannot restore, so what it did
  // Signals only at the end of each batch: every cut would be a whole batch without the budget.
  const plugin = {
    calls: 0,
    sizes: [] as number[],
    onBatch(b: CandleBatch): BatchSignal[] {
      if (b.n < 100) replayed.push(b.n);
      this.calls++;
      this.sizes.push(b.n);
      return [{ type: this.calls % 2 ? 'entry' : 'exit', at: 98 }]; // candle 98 of each batch of 100
    },
  };
  const answers = await run(plugin, ROWS, 100, 'budget', true);
  assert.deepEqual(findings(answers), []);
  assert.equal(plugin.calls, 30);
  assert.deepEqual(plugin.sizes, Array(30).fill(100));
  const total = replayed.reduce((x, y) => x + y, 0);
  assert.ok(replayed.length > 0, 'nothing was checked');
  assert.ok(total <= 0.25 * 3000 + 100, `replayed ${total} rows of 3000`);
});

test('an object-literal plugin (own methods) and an async onBatch are checked too', async () => {
  const literal = {
    tail: [] as number[],
    prev: NaN,
    onBatch(b: CandleBatch): BatchSignal[] {
      const close = Array.from(b.close, (_c, i) => b.close[i + 1] ?? NaN);
      const r = crossings([...this.tail, ...close], close.length, this.prev);
      this.tail = r.tail;
      this.prev = r.prev;
      return r.out;
    },
  };
  assert.equal(findings(await run(literal, ROWS, 500, 'literal', true)).length, 1);
  const asyncCross = new Cross(true);
  const sync = asyncCross.onBatch.bind(asyncCross);
  asyncCross.onBatch = ((b: CandleBatch) => new Promise((res) => setImmediate(res)).then(() => sync(b))) as unknown as Cross['onBatch'];
  assert.equal(findings(await run(asyncCross, ROWS, 500, 'async', true)).length, 1);
  const honest = new Cross(false);
  const honestSync = honest.onBatch.bind(honest);
  honest.onBatch = ((b: CandleBatch) => Promise.resolve().then(() => honestSync(b))) as unknown as Cross['onBatch'];
  const checked = await run(honest, ROWS, 500, 'async', true);
  assert.deepEqual(findings(checked), []);
  assert.deepEqual(checked, await run(new Cross(false), ROWS, 500, 'async', false));
});

/** A peeker whose state cannot be copied faithfully: the check skips it, and its answers are untouched. */
class Tail {
  data: number[] = [];
  keep(values: number[]): void {
    this.data = values.slice(-25);
  }
}

class ClassState implements StrategyPlugin {
  tail = new Tail();
  prev = NaN;
  onBatch(b: CandleBatch): BatchSignal[] {
    const close = Array.from(b.close, (_c, i) => b.close[i + 1] ?? NaN);
    const r = crossings([...this.tail.data, ...close], close.length, this.prev);
    this.tail.keep(r.tail);
    this.prev = r.prev;
    return r.out;
  }
}

class PrivateState implements StrategyPlugin {
  #tail: number[] = [];
  #prev = NaN;
  onBatch(b: CandleBatch): BatchSignal[] {
    const close = Array.from(b.close, (_c, i) => b.close[i + 1] ?? NaN);
    const r = crossings([...this.#tail, ...close], close.length, this.#prev);
    this.#tail = r.tail;
    this.#prev = r.prev;
    return r.out;
  }
}

test('state that cannot be copied (a class instance, #private fields) is not checked and not changed', async () => {
  for (const make of [() => new ClassState(), () => new PrivateState()]) {
    const checked = await run(make(), ROWS, 250, 'uncopyable', true);
    assert.deepEqual(findings(checked), []);
    assert.deepEqual(checked, await run(make(), ROWS, 250, 'uncopyable', false));
  }
});

test('a replay that throws or answers out of range is not a finding', async () => {
  let replays = 0;
  const plugin = {
    onBatch(b: CandleBatch): BatchSignal[] {
      if (b.n < 250) {
        if (replays++ % 2) throw new Error('only whole batches');
        return [{ type: 'entry', at: 400 }];
      }
      return [{ type: 'entry', at: 10 }, { type: 'exit', at: 200 }];
    },
  };
  const answers = await run(plugin, ROWS, 250, 'throws', true);
  assert.deepEqual(findings(answers), []);
  assert.ok(replays >= 2, `${replays} replays`);
});

test('signals answering alerts are compared by alert (alerts out of order in the batch)', async () => {
  // Alerts listed latest first: in a cut batch their indexes differ from the whole batch's.
  const alerts = (_off: number, n: number): WireAlert[] =>
    [n - 3, Math.floor(n / 2), 3, 1].map((at, k) => ({ at, id: `a${at}-${k}`, timestamp: T0, price: null }));
  const honest = {
    onBatch(b: CandleBatch): BatchSignal[] {
      return [
        ...b.alerts.map((a, k) => ({ type: a.id.endsWith('-1') || a.id.endsWith('-3') ? 'entry' : 'exit', at: a.at, alert: k }) as BatchSignal),
        ...[0, 2, 5, 9].filter((i) => i < b.n).map((at) => ({ type: 'exit', at }) as BatchSignal),
      ];
    },
  };
  const checked = await run(honest, ROWS.slice(0, 1000), 100, 'alerts', true, alerts);
  assert.deepEqual(findings(checked), []);
  assert.deepEqual(checked, await run(honest, ROWS.slice(0, 1000), 100, 'alerts', false, alerts));
  // One more answer to the alert at candle 1, which depends on the batch's length: flagged at that candle.
  const peeking = {
    onBatch: (b: CandleBatch): BatchSignal[] => {
      const k = b.alerts.findIndex((a) => a.at === 1);
      const extra: BatchSignal[] = k < 0 ? [] : [{ type: b.n > 50 ? 'entry' : 'exit', at: 1, alert: k }];
      return [...honest.onBatch(b), ...extra];
    },
  };
  const found = findings(await run(peeking, ROWS.slice(0, 1000), 100, 'alerts-peek', true, alerts));
  assert.equal(found.length, 1);
  assert.equal(found[0]!.at, 1);
});
