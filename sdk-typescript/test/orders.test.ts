/**
 * The order book against protocol/vectors/orders.json (shared with the host and the Python SDK) and the
 * hand-computed cases in test/fixtures/orders_hand.json (same format). A case is replayed the way the
 * driver walks a strategy (docs/orders.md section 1).
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { OrderBook, type Bar, type OrderSignal, type Rules } from '../src/orders';
import { FIXTURES, REPO_ROOT, assertClose, type OrdersCase } from './helpers';

export function rulesOf(r: OrdersCase['rules']): Rules {
  return {
    initialCapital: r.initial_capital, feeBps: r.fee_bps, slippageBps: r.slippage_bps, size: r.size,
    sizeMode: r.size_mode, leverage: r.leverage, fillAt: r.fill_at,
  };
}

/** A wire signal map -> the book's signal. */
export function fromWire(s: Record<string, unknown>): OrderSignal {
  const v = <T>(k: string): T | null => (s[k] ?? null) as T | null;
  return {
    type: s['type'] as 'entry' | 'exit', side: v('side'), size: v('size'), price: v('price'), stop: v('stop'),
    validFor: v('valid_for'), stopLoss: v('stop_loss'), takeProfit: v('take_profit'), trailPct: v('trail_pct'),
    symbol: v('symbol'), reason: v('reason'),
  };
}

export interface Replay {
  book: OrderBook;
  equity: [number, number][];
}

export function replay(c: OrdersCase): Replay {
  const book = new OrderBook(rulesOf(c.rules), c.symbols);
  const ends = new Set(c.ends);
  const equity: [number, number][] = [];
  const n = c.candles.length;
  const alertOrder = c.alerts.map((_, k) => k).sort((x, y) => c.alerts[x]!.at - c.alerts[y]!.at || x - y);
  let a = 0;
  const deliverUpTo = (i: number): void => {
    while (a < alertOrder.length && c.alerts[alertOrder[a]!]!.at <= i) {
      const k = alertOrder[a++]!;
      const al = c.alerts[k]!;
      const where = { sym: book.symbolIndex.get(al.symbol) ?? -1, timestamp: al.timestamp, close: NaN, alert: { price: al.price } };
      for (const s of c.signals) if (s['alert'] === k) book.submit(fromWire(s), where);
    }
  };
  let i = 0;
  while (i < n) {
    deliverUpTo(i);
    const t = c.candles[i]![0];
    const bars: Bar[] = [];
    let j = i;
    for (; j < n && c.candles[j]![0] === t; j++) {
      const [timestamp, sym, open, high, low, close] = c.candles[j]!;
      bars.push({ sym, timestamp, open, high, low, close });
    }
    book.fillsAt(bars);
    for (let r = i; r < j; r++) {
      const bar = bars[r - i]!;
      book.mark(bar.sym, bar.close, bar.timestamp);
      const where = { sym: bar.sym, timestamp: bar.timestamp, close: bar.close, alert: null };
      for (const s of c.signals) if (s['at'] === r && (s['alert'] ?? null) === null) book.submit(fromWire(s), where);
      if (ends.has(r)) book.endSymbol(bar.sym, bar.timestamp);
    }
    equity.push([t, book.equity()]);
    i = j;
  }
  // Alerts after the last candle are dropped (docs/orders.md section 1).
  return { book, equity };
}

function check(c: OrdersCase): void {
  const { book, equity } = replay(c);
  const trades = book.trades.map((t) => ({
    symbol: t.symbol, side: t.side, entry_time: t.entryTime, entry_price: t.entryPrice, exit_time: t.exitTime,
    exit_price: t.exitPrice, size: t.size, fees: t.fees, pnl: t.pnl, entry_reason: t.entryReason, exit_reason: t.exitReason,
  }));
  assertClose(trades, c.expect.trades, 'trades');
  assert.deepEqual([book.ignored, book.rejected, book.expired], [c.expect.ignored, c.expect.rejected, c.expect.expired],
    'ignored, rejected, expired');
  assertClose(book.cash, c.expect.cash, 'cash');
  assertClose(equity, c.expect.equity, 'equity');
  const positions = Object.fromEntries(book.sortedPositions().map(([s, p]) =>
    [s, { side: p.side, size: p.size, entry_price: p.entryPrice, entry_timestamp: p.entryTimestamp }]));
  assertClose(positions, c.expect.positions, 'positions');
  assert.equal(book.liquidated, c.expect.liquidated, 'liquidated');
}

const load = (path: string): OrdersCase[] => JSON.parse(readFileSync(path, 'utf8')) as OrdersCase[];

for (const c of load(join(FIXTURES, 'orders_hand.json'))) test(c.name, () => check(c));

const shared = join(REPO_ROOT, 'protocol', 'vectors', 'orders.json');
const sharedCases = existsSync(shared) ? load(shared) : [];
test('protocol/vectors/orders.json exists and has cases', () => {
  assert.ok(sharedCases.length > 0, `${shared} is missing or empty`);
});
for (const c of sharedCases) test(`orders.json: ${c.name}`, () => check(c));

// Extra cases in the same format, e.g. random ones replayed by the Python book
// (tests/node/test_orders_differential.py sets this).
const extra = process.env['PLUGHOST_ORDERS_CASES'];
if (extra !== undefined && extra !== '') for (const c of load(extra)) test(`extra: ${c.name}`, () => check(c));
