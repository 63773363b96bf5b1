/**
 * The order book (docs/orders.md): a port of the Python `plughost_sdk.orders`, used by the driver as the
 * mirror behind `ctx.position`, `ctx.positions`, `ctx.cash` and `ctx.equity`. The host is the authority;
 * it replays the same signals and compares its cash and positions with this book's after every batch.
 *
 * Every float formula is written in the same operation order as docs/orders.md (and the Python book), so
 * both give the same numbers: protocol/vectors/orders.json pins them to 1e-9. One file, as the Python
 * module is: the two are read function by function side by side.
 *
 * The book knows nothing about batches or plugins: the caller walks the stream (docs/orders.md section 1)
 * and calls `fillsAt`, `mark`, `submit` and `endSymbol` in that order.
 */

export type Side = 'long' | 'short';
export type SizeMode = 'units' | 'notional' | 'fraction';
export type FillAt = 'next_open' | 'close';

/** The order model's run keys (`initialize` params `run.rules`). */
export interface Rules {
  initialCapital: number;
  feeBps: number;
  slippageBps: number;
  size: number;
  sizeMode: SizeMode;
  leverage: number;
  fillAt: FillAt;
}

export const DEFAULT_RULES: Readonly<Rules> = {
  initialCapital: 10_000, feeBps: 0, slippageBps: 0, size: 1, sizeMode: 'units', leverage: 1, fillAt: 'next_open',
};

/** A non-hold signal with every optional field present (null when absent): the wire signal's fields. */
export interface OrderSignal {
  type: 'entry' | 'exit';
  side: string | null;
  size: number | null;
  price: number | null;
  stop: number | null;
  validFor: number | null;
  stopLoss: number | null;
  takeProfit: number | null;
  trailPct: number | null;
  symbol: string | null;
  reason: string | null;
}

/** A position as strategies see it (`ctx.position`, `ctx.positions`). */
export interface PositionView {
  readonly side: Side;
  readonly size: number;
  readonly entryPrice: number;
  readonly entryTimestamp: number;
}

export interface BookTrade {
  symbol: string;
  side: Side;
  entryTime: number;
  entryPrice: number;
  exitTime: number;
  exitPrice: number;
  size: number;
  fees: number;
  pnl: number;
  entryReason: string | null;
  exitReason: string | null;
}

/** One candle as the book needs it; `sym` indexes the run's symbols. */
export interface Bar {
  sym: number;
  timestamp: number;
  open: number;
  high: number;
  low: number;
  close: number;
}

/** Where a decision was made: a candle (`alert` null) or an alert. */
export interface Decision {
  /** The event's symbol (-1 when the alert names a symbol outside the run). */
  sym: number;
  /** The candle's timestamp, or the alert's. */
  timestamp: number;
  /** The candle's close (unused for an alert). */
  close: number;
  /** For an alert: its price (null when it has none). */
  alert: { price: number | null } | null;
}

/** What `submit` did with a signal (for tests and diagnostics; the counts are on the book). */
export type Outcome = 'invalid' | 'hold' | 'ignored' | 'rejected' | 'expired' | 'pending' | 'filled';

type Kind = 'market' | 'limit' | 'stop';

interface Order {
  entry: boolean;
  kind: Kind;
  /** The entry's side; for an exit, the side of the position it closes (fixed at the fill). */
  side: Side;
  size: number | null;
  /** The limit price or the stop level (NaN for a market order). */
  level: number;
  validLeft: number;
  stopLoss: number | null;
  takeProfit: number | null;
  trailPct: number | null;
  reason: string | null;
  /** Equity when the order was decided (for `fraction` sizing). */
  equity: number;
}

interface Held {
  side: Side;
  units: number;
  entryPrice: number;
  entryTime: number;
  /** The part of the entry fee not yet charged to a trade. */
  entryFee: number;
  entryReason: string | null;
  stopLoss: number | null;
  takeProfit: number | null;
  trailPct: number | null;
  /** Best price since the entry (trailing stop), starting at the entry fill price. */
  best: number;
  /** Timestamp of the entry fill, and whether the protective levels are live on a candle of that time. */
  fillTs: number;
  liveOnFill: boolean;
  view: PositionView | null;
}

const isNum = (v: number | null): v is number => v !== null;
const positive = (v: number | null): boolean => v === null || (Number.isFinite(v) && v > 0);

/**
 * The checks of PROTOCOL.md section 8 (the host's). A signal failing them is sent to the host, which fails
 * the run; the book skips it.
 */
export function validSignal(s: OrderSignal, symbols: ReadonlyMap<string, number>): boolean {
  if (s.type !== 'entry' && s.type !== 'exit') return false;
  if (s.side !== null && s.side !== 'long' && s.side !== 'short') return false;
  if (!positive(s.size) || !positive(s.price) || !positive(s.stop) || !positive(s.stopLoss) || !positive(s.takeProfit)) return false;
  if (s.trailPct !== null && !(Number.isFinite(s.trailPct) && s.trailPct > 0 && s.trailPct < 100)) return false;
  if (s.validFor !== null && !(Number.isInteger(s.validFor) && s.validFor >= 1)) return false;
  if (s.price !== null && s.stop !== null) return false;
  // Levels belong to entries (an exit's are ignored, not checked).
  if (s.type === 'entry' && s.stopLoss !== null && s.takeProfit !== null) {
    if (s.side === 'short' ? !(s.stopLoss > s.takeProfit) : !(s.stopLoss < s.takeProfit)) return false;
  }
  if (s.symbol !== null && !symbols.has(s.symbol)) return false;
  return true;
}

export class OrderBook {
  cash: number;
  ignored = 0;
  rejected = 0;
  expired = 0;
  /** Rejections by reason: `insufficient_cash`, `liquidated`, `no_price`. */
  readonly rejectedBy = new Map<string, number>();
  readonly trades: BookTrade[] = [];
  liquidated = false;
  readonly symbolIndex: ReadonlyMap<string, number>;

  /** Open positions by symbol index, in the order they were opened. */
  private readonly open = new Map<number, Held>();
  /** Last close seen per symbol (NaN: none yet). */
  private readonly marks: Float64Array;
  private readonly ended: Uint8Array;
  private readonly pendingEntry: (Order | null)[];
  private readonly pendingExit: (Order | null)[];
  private viewCache: Map<string, PositionView> | null = null;
  /** Scratch for fillsAt: the priced orders of each candle of the timestamp, before its fills. */
  private readonly triedEntry: (Order | null)[];
  private readonly triedExit: (Order | null)[];

  constructor(readonly rules: Rules, readonly symbols: readonly string[]) {
    this.cash = rules.initialCapital;
    this.symbolIndex = new Map(symbols.map((s, i) => [s, i]));
    this.marks = new Float64Array(symbols.length).fill(NaN);
    this.ended = new Uint8Array(symbols.length);
    this.pendingEntry = symbols.map(() => null);
    this.pendingExit = symbols.map(() => null);
    this.triedEntry = symbols.map(() => null);
    this.triedExit = symbols.map(() => null);
  }

  // ---- the portfolio as strategies see it ----

  equity(): number {
    let e = this.cash;
    for (const [s, p] of this.open) {
      const v = p.units * this.markOf(s, p);
      e = p.side === 'long' ? e + v : e - v;
    }
    return e;
  }

  position(sym: number): PositionView | null {
    const p = this.open.get(sym);
    if (p === undefined) return null;
    p.view ??= { side: p.side, size: p.units, entryPrice: p.entryPrice, entryTimestamp: p.entryTime };
    return p.view;
  }

  /** Every open position by symbol name, in symbol order. Rebuilt only after a change. */
  positions(): ReadonlyMap<string, PositionView> {
    this.viewCache ??= new Map(this.sortedPositions());
    return this.viewCache;
  }

  /** Open positions in run-symbol order (for the wire's `book`). */
  sortedPositions(): [string, PositionView][] {
    const out: [string, PositionView][] = [];
    for (let s = 0; s < this.symbols.length; s++) {
      const p = this.position(s);
      if (p !== null) out.push([this.symbols[s]!, p]);
    }
    return out;
  }

  hasPending(sym: number): boolean {
    return this.pendingEntry[sym] !== null || this.pendingExit[sym] !== null;
  }

  private markOf(s: number, p: Held): number {
    const m = this.marks[s]!;
    return Number.isNaN(m) ? p.entryPrice : m;
  }

  // ---- decisions (docs/orders.md section 2) ----

  submit(sig: OrderSignal, at: Decision): Outcome {
    if (!validSignal(sig, this.symbolIndex)) return 'invalid';
    const sym = sig.symbol === null ? at.sym : this.symbolIndex.get(sig.symbol)!;
    if (sym < 0) return 'invalid';
    const entry = sig.type === 'entry';
    const held = this.open.get(sym);
    if (entry ? held !== undefined : held === undefined) {
      this.ignored++;
      return 'ignored';
    }
    if (entry && this.liquidated) return this.reject('liquidated');
    if (this.ended[sym] === 1) {
      this.expired++;
      return 'expired';
    }
    const kind: Kind = sig.price !== null ? 'limit' : sig.stop !== null ? 'stop' : 'market';
    const order: Order = {
      entry,
      kind,
      side: entry ? (sig.side === 'short' ? 'short' : 'long') : held!.side,
      size: sig.size,
      level: kind === 'limit' ? sig.price! : kind === 'stop' ? sig.stop! : NaN,
      validLeft: sig.validFor ?? 1,
      stopLoss: entry ? sig.stopLoss : null,
      takeProfit: entry ? sig.takeProfit : null,
      trailPct: entry ? sig.trailPct : null,
      reason: sig.reason,
      equity: this.equity(),
    };
    if (entry) this.pendingEntry[sym] = order;
    else this.pendingExit[sym] = order;
    if (kind !== 'market') return 'pending';
    if (at.alert !== null) {
      if (at.alert.price === null || sym !== at.sym) return 'pending';
      return this.fill(sym, order, at.alert.price, true, at.timestamp, true);
    }
    if (this.rules.fillAt !== 'close') return 'pending';
    let price = at.close;
    if (sym !== at.sym) {
      price = this.marks[sym]!;
      if (Number.isNaN(price)) {
        this.drop(sym, order);
        return this.reject('no_price');
      }
    }
    return this.fill(sym, order, price, true, at.timestamp, false);
  }

  // ---- fills at a timestamp (section 3) ----

  /**
   * The fills of one timestamp: `bars[0..count)` are its candles, in symbol order, before the strategy
   * sees them. No allocation: this runs once per timestamp.
   */
  fillsAt(bars: readonly Bar[], count = bars.length): void {
    let busy = false;
    for (let k = 0; k < count && !busy; k++) {
      const s = bars[k]!.sym;
      busy = this.pendingEntry[s] !== null || this.pendingExit[s] !== null || (this.open.size > 0 && this.open.has(s));
    }
    if (!busy) return;
    const triedEntry = this.triedEntry;
    const triedExit = this.triedExit;
    for (let k = 0; k < count; k++) {
      const s = bars[k]!.sym;
      triedEntry[k] = priced(this.pendingEntry[s]!);
      triedExit[k] = priced(this.pendingExit[s]!);
    }
    for (let k = 0; k < count; k++) this.exitsAtOpen(bars[k]!);
    for (let k = 0; k < count; k++) this.entriesAtOpen(bars[k]!);
    for (let k = 0; k < count; k++) this.inside(bars[k]!);
    for (let k = 0; k < count; k++) {
      const s = bars[k]!.sym;
      this.useUp(s, triedEntry[k]!);
      this.useUp(s, triedExit[k]!);
      triedEntry[k] = null;
      triedExit[k] = null;
    }
    for (let k = 0; k < count; k++) {
      const b = bars[k]!;
      const p = this.open.get(b.sym);
      if (p === undefined || p.trailPct === null || !live(p, b.timestamp)) continue;
      p.best = p.side === 'long' ? Math.max(p.best, b.high) : Math.min(p.best, b.low);
    }
  }

  /** A priced order tried at this timestamp that is still pending uses up one candle of its `valid_for`. */
  private useUp(s: number, o: Order | null): void {
    if (o === null || (this.pendingEntry[s] !== o && this.pendingExit[s] !== o)) return;
    o.validLeft -= 1;
    if (o.validLeft <= 0) {
      this.drop(s, o);
      this.expired++;
    }
  }

  /** Pass (a): the pending exit order, then stop-loss, trailing stop, take-profit, if the open fills them. */
  private exitsAtOpen(b: Bar): void {
    const s = b.sym;
    const open = b.open;
    const o = this.pendingExit[s]!;
    let p = this.open.get(s);
    if (o !== null && p !== undefined) {
      const sell = p.side === 'long';
      if (o.kind === 'market') this.fill(s, o, open, true, b.timestamp, true);
      else if (o.kind === 'limit' && (sell ? open >= o.level : open <= o.level)) this.fill(s, o, open, false, b.timestamp, true);
      else if (o.kind === 'stop' && (sell ? open <= o.level : open >= o.level)) this.fill(s, o, open, true, b.timestamp, true);
    }
    p = this.open.get(s);
    if (p === undefined || !live(p, b.timestamp)) return;
    const long = p.side === 'long';
    if (isNum(p.stopLoss) && (long ? open <= p.stopLoss : open >= p.stopLoss)) {
      this.protect(s, p, open, true, b.timestamp, 'stop_loss');
      return;
    }
    if (isNum(p.trailPct)) {
      const level = trailLevel(p);
      if (long ? open <= level : open >= level) {
        this.protect(s, p, open, true, b.timestamp, 'trailing_stop');
        return;
      }
    }
    if (isNum(p.takeProfit) && (long ? open >= p.takeProfit : open <= p.takeProfit)) {
      this.protect(s, p, open, false, b.timestamp, 'take_profit');
    }
  }

  /** Pass (b): the pending entry order, if the open fills it. */
  private entriesAtOpen(b: Bar): void {
    const s = b.sym;
    const o = this.pendingEntry[s]!;
    if (o === null || this.open.has(s)) return;
    const open = b.open;
    const buy = o.side === 'long';
    if (o.kind === 'market') this.fill(s, o, open, true, b.timestamp, true);
    else if (o.kind === 'limit' && (buy ? open <= o.level : open >= o.level)) this.fill(s, o, open, false, b.timestamp, true);
    else if (o.kind === 'stop' && (buy ? open >= o.level : open <= o.level)) this.fill(s, o, open, true, b.timestamp, true);
  }

  /** Pass (c): stops (pending stop order, stop-loss, trailing stop), then limits (pending limit, take-profit). */
  private inside(b: Bar): void {
    const s = b.sym;
    const ts = b.timestamp;
    // The pending stop order: an entry when flat, an exit when in a position.
    let p = this.open.get(s);
    let o = p === undefined ? this.pendingEntry[s]! : this.pendingExit[s]!;
    if (o !== null && o.kind === 'stop') {
      const buy = o.entry ? o.side === 'long' : p!.side === 'short';
      // At max/min(open, level): a level an entry's own open already passed fills at that open.
      if (buy ? b.high >= o.level : b.low <= o.level) this.fill(s, o, buy ? Math.max(b.open, o.level) : Math.min(b.open, o.level), true, ts, false);
    }
    p = this.open.get(s);
    if (p !== undefined && live(p, ts)) {
      const long = p.side === 'long';
      if (isNum(p.stopLoss) && (long ? b.low <= p.stopLoss : b.high >= p.stopLoss)) {
        this.protect(s, p, long ? Math.min(b.open, p.stopLoss) : Math.max(b.open, p.stopLoss), true, ts, 'stop_loss');
      } else if (isNum(p.trailPct)) {
        const level = trailLevel(p);
        if (long ? b.low <= level : b.high >= level) {
          this.protect(s, p, long ? Math.min(b.open, level) : Math.max(b.open, level), true, ts, 'trailing_stop');
        }
      }
    }
    p = this.open.get(s);
    o = p === undefined ? this.pendingEntry[s]! : this.pendingExit[s]!;
    if (o !== null && o.kind === 'limit') {
      const buy = o.entry ? o.side === 'long' : p!.side === 'short';
      if (buy ? b.low <= o.level : b.high >= o.level) this.fill(s, o, buy ? Math.min(b.open, o.level) : Math.max(b.open, o.level), false, ts, false);
    }
    p = this.open.get(s);
    if (p !== undefined && live(p, ts) && isNum(p.takeProfit)) {
      const long = p.side === 'long';
      if (long ? b.high >= p.takeProfit : b.low <= p.takeProfit) {
        this.protect(s, p, long ? Math.max(b.open, p.takeProfit) : Math.min(b.open, p.takeProfit), false, ts, 'take_profit');
      }
    }
  }

  // ---- marks, liquidation, end of data (sections 4, 6, 7) ----

  /** A candle's close becomes its symbol's mark; then the liquidation check (section 6). */
  mark(sym: number, close: number, timestamp: number): void {
    this.marks[sym] = close;
    if (this.open.size > 0 && this.equity() <= 0) this.liquidate(timestamp);
  }

  private liquidate(ts: number): void {
    // In symbol order (the trades' order, and the cash's order of additions, as in the Python book).
    for (const s of [...this.open.keys()].sort((x, y) => x - y)) {
      const p = this.open.get(s)!;
      this.close(s, p, p.units, this.markOf(s, p), ts, 'liquidated');
    }
    this.pendingEntry.fill(null);
    this.pendingExit.fill(null);
    this.liquidated = true;
  }

  /** After the strategy saw the symbol's last candle: close at that close, expire pending orders. */
  endSymbol(sym: number, ts: number): void {
    const p = this.open.get(sym);
    if (p !== undefined) this.close(sym, p, p.units, this.markOf(sym, p), ts, 'end_of_data');
    for (const o of [this.pendingEntry[sym], this.pendingExit[sym]]) {
      if (o !== null && o !== undefined) this.expired++;
    }
    this.pendingEntry[sym] = null;
    this.pendingExit[sym] = null;
    this.ended[sym] = 1;
  }

  // ---- fills (section 4) ----

  private slip(price: number, buy: boolean): number {
    return buy ? price * (1 + this.rules.slippageBps / 10000) : price * (1 - this.rules.slippageBps / 10000);
  }

  private units(o: Order, price: number): number {
    const s = o.size ?? this.rules.size;
    switch (this.rules.sizeMode) {
      case 'notional': return s / price;
      case 'fraction': return s * o.equity / (price * (1 + this.rules.feeBps / 10000));
      default: return s;
    }
  }

  private fee(units: number, price: number): number {
    return units * price * this.rules.feeBps / 10000;
  }

  /** Fills order `o` of symbol `s` at `raw` (slipped when `slipped`); an entry passes the cash check first. */
  private fill(s: number, o: Order, raw: number, slipped: boolean, ts: number, liveOnFill: boolean): Outcome {
    this.drop(s, o);
    if (!o.entry) {
      const p = this.open.get(s)!;
      const price = slipped ? this.slip(raw, p.side === 'short') : raw;
      const units = o.size === null ? p.units : Math.min(this.units(o, price), p.units);
      this.close(s, p, units, price, ts, o.reason);
      return 'filled';
    }
    const price = slipped ? this.slip(raw, o.side === 'long') : raw;
    const units = this.units(o, price);
    const fee = this.fee(units, price);
    let notional = units * price;
    for (const [q, h] of this.open) notional += h.units * this.markOf(q, h);
    if (notional + fee > this.rules.leverage * this.equity() * (1 + 1e-9)) return this.reject('insufficient_cash');
    if (o.side === 'long') this.cash -= units * price + fee;
    else this.cash += units * price - fee;
    this.open.set(s, {
      side: o.side, units, entryPrice: price, entryTime: ts, entryFee: fee, entryReason: o.reason,
      stopLoss: o.stopLoss, takeProfit: o.takeProfit, trailPct: o.trailPct, best: price,
      fillTs: ts, liveOnFill, view: null,
    });
    this.viewCache = null;
    return 'filled';
  }

  /** A protective exit of the whole position at `raw` (slipped for stops). */
  private protect(s: number, p: Held, raw: number, slipped: boolean, ts: number, reason: string): void {
    const price = slipped ? this.slip(raw, p.side === 'short') : raw;
    this.close(s, p, p.units, price, ts, reason);
  }

  /** Closes `units` of the position at `price`: cash, one trade; a position emptied drops its exit order. */
  private close(s: number, p: Held, units: number, price: number, ts: number, reason: string | null): void {
    const fee = this.fee(units, price);
    const whole = units >= p.units;
    const entryShare = whole ? p.entryFee : p.entryFee * (units / p.units);
    if (p.side === 'long') this.cash += units * price - fee;
    else this.cash -= units * price + fee;
    const fees = fee + entryShare;
    const pnl = p.side === 'long' ? (price - p.entryPrice) * units - fees : (p.entryPrice - price) * units - fees;
    this.trades.push({
      symbol: this.symbols[s]!, side: p.side, entryTime: p.entryTime, entryPrice: p.entryPrice, exitTime: ts,
      exitPrice: price, size: units, fees, pnl, entryReason: p.entryReason, exitReason: reason,
    });
    if (whole) {
      this.open.delete(s);
      this.pendingExit[s] = null;
    } else {
      p.entryFee -= entryShare;
      p.units -= units;
      p.view = null;
    }
    this.viewCache = null;
  }

  private drop(s: number, o: Order): void {
    if (this.pendingEntry[s] === o) this.pendingEntry[s] = null;
    if (this.pendingExit[s] === o) this.pendingExit[s] = null;
  }

  private reject(reason: string): Outcome {
    this.rejected++;
    this.rejectedBy.set(reason, (this.rejectedBy.get(reason) ?? 0) + 1);
    return 'rejected';
  }
}

function priced(o: Order | null): Order | null {
  return o !== null && o.kind !== 'market' ? o : null;
}

/** Protective levels are live from the candle after the entry fill, or on it for an at-open fill. */
function live(p: Held, ts: number): boolean {
  return ts > p.fillTs || (ts === p.fillTs && p.liveOnFill);
}

function trailLevel(p: Held): number {
  return p.side === 'long' ? p.best * (1 - p.trailPct! / 100) : p.best * (1 + p.trailPct! / 100);
}
