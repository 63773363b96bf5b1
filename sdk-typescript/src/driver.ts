/**
 * Walks one `candles` batch of the run's merged stream for a strategy (PROTOCOL.md section 6,
 * docs/orders.md section 1). For each timestamp group: the alerts at its first index to onAlert, then the
 * order book's fills at that timestamp, then per candle: mark (and liquidation check), onCandle, its
 * signals submitted, the end of its symbol when the candle is in `ends`. onExit once after the last batch.
 * An `onBatch` strategy is called once per batch and its signals replayed through the same walk.
 *
 * Speed: the loop only goes async when the plugin actually returned a thenable (a Promise per candle costs
 * more than the rest of the loop together); per candle it allocates only the Candle handed to the plugin.
 *
 * One file of ~580 lines, on purpose: the walk is a resumable state machine (it may stop at any event for a
 * Promise and go on from there), and its phases share that state; split, the order of events docs/orders.md
 * fixes would no longer be readable in one place.
 */
import { ProtocolError, SignalError } from './errors';
import { HistoryView, CandleRecord, Series, decodeColumns, type DecodedColumns } from './history';
import { f64View } from './columns';
import { OrderBook, type Bar, type Decision, type Rules } from './orders';
import type { BatchAlert, ParsedBatch } from './batch';
import { LookaheadCheck, decided, decidedOrNull, headOf, type Decided, type LookaheadFinding } from './lookahead';
import { toOrderSignal } from './signalshape';
import type { BatchSignal, CandleBatch, Position, StrategyContext, StrategyPlugin } from './types';

export { toOrderSignal };

/** A signal on the wire, keys in PROTOCOL.md's order. */
export interface WireSignal {
  at: number;
  alert: number | null;
  type: 'entry' | 'exit';
  side: unknown;
  size: unknown;
  price: unknown;
  stop: unknown;
  valid_for: unknown;
  stop_loss: unknown;
  take_profit: unknown;
  trail_pct: unknown;
  symbol: unknown;
  reason: unknown;
}

export interface WirePosition {
  side: 'long' | 'short';
  size: number;
  entry_price: number;
  entry_timestamp: number;
}

export interface CandlesResult {
  signals: WireSignal[];
  book: { cash: number; positions: Record<string, WirePosition> };
  /** The look-ahead check's finding, once a run (PROTOCOL.md section 6). */
  lookahead?: LookaheadFinding;
}

/** A plugin method threw or rejected: carries what the error map needs. */
export class HookFailure extends Error {
  constructor(readonly error: unknown, readonly hook: string, readonly at: number | null) {
    super(`${hook} failed`);
  }
}

export function isThenable(v: unknown): v is PromiseLike<unknown> {
  return v !== null && (typeof v === 'object' || typeof v === 'function') &&
    typeof (v as { then?: unknown }).then === 'function';
}

export interface RunSettings {
  runId: string;
  history: number;
  symbols: readonly string[];
  rules: Rules;
  /** `run.lookahead_check`: replay samples of onBatch's batches cut short (./lookahead.ts). */
  lookahead?: boolean;
}

/**
 * `ctx.indicators`: a Map whose `get` refuses a name that is not a configured indicator (a typo would
 * otherwise read `undefined`, compare false, and silently trade nothing).
 */
export class IndicatorMap extends Map<string, number> {
  override get(name: string): number {
    const v = super.get(name);
    if (v === undefined) throw unknownIndicator(name, [...this.keys()]);
    return v;
  }
}

function unknownIndicator(name: string, known: string[]): Error {
  const list = known.length === 0 ? '(none: add "indicators" to the run config or plugin.json)' : known.join(', ');
  return new Error(`Unknown indicator '${name}'; known: ${list}`);
}

/** One symbol's state across batches. */
class SymbolState {
  readonly indicators = new IndicatorMap();
  /** Store index just after the symbol's last candle seen (what `ctx.history` ends at in an alert). */
  seenEnd = 0;
  constructor(readonly name: string, readonly series: Series) {}
}

class Context implements StrategyContext {
  symbol = '';
  sym = -1;
  indicators: IndicatorMap;
  constructor(readonly runId: string, readonly history: HistoryView, readonly book: OrderBook, private readonly none: IndicatorMap) {
    this.indicators = none;
  }
  get position(): Position | null {
    return this.sym < 0 ? null : this.book.position(this.sym);
  }
  get positions(): ReadonlyMap<string, Position> {
    return this.book.positions();
  }
  get cash(): number {
    return this.book.cash;
  }
  get equity(): number {
    return this.book.equity();
  }
  indicator(name: string): number {
    return this.indicators.get(name);
  }
  /** Points the context at a symbol (-1: one outside the run), its history ending at `end`. */
  at(sym: number, name: string, state: SymbolState | null, end: number): void {
    this.sym = sym;
    this.symbol = name;
    if (state === null) {
      this.history.moveTo(null, 0);
      this.indicators = this.none;
    } else {
      this.history.moveTo(state.series, end);
      this.indicators = state.indicators;
    }
  }
}

export class StrategyDriver {
  private states: SymbolState[];
  private book: OrderBook;
  private ctx: Context;
  private exited = false;
  private started = false;
  /** Indicator names of the run (from the first batch); each symbol's map holds them all. */
  private indicatorNames: string[] = [];
  private readonly noIndicators = new IndicatorMap();
  /** Methods looked up once: a plugin's methods do not change during a run. */
  readonly onCandle: StrategyPlugin['onCandle'];
  readonly onAlert: StrategyPlugin['onAlert'];
  readonly onBatch: StrategyPlugin['onBatch'];
  readonly onExit: StrategyPlugin['onExit'];
  /** One a run, as in the Python SDK (not reset by a new stream). */
  readonly lookahead: LookaheadCheck;

  constructor(readonly plugin: StrategyPlugin, public run: RunSettings) {
    this.onCandle = plugin.onCandle;
    this.onAlert = plugin.onAlert;
    this.onBatch = plugin.onBatch;
    this.onExit = plugin.onExit;
    this.lookahead = new LookaheadCheck(run.lookahead === true, run.runId);
    this.book = new OrderBook(run.rules, run.symbols);
    this.states = run.symbols.map((s) => new SymbolState(s, new Series(s, run.history)));
    this.ctx = new Context(run.runId, new HistoryView(run.history), this.book, this.noIndicators);
  }

  /** A new stream (offset 0 after another one): start flat with empty history. */
  private reset(): void {
    this.book = new OrderBook(this.run.rules, this.run.symbols);
    this.states = this.run.symbols.map((s) => new SymbolState(s, new Series(s, this.run.history)));
    this.ctx = new Context(this.run.runId, new HistoryView(this.run.history), this.book, this.noIndicators);
    this.exited = false;
    this.indicatorNames = [];
  }

  /** The book, for tests. */
  get orderBook(): OrderBook {
    return this.book;
  }

  /** Runs a batch. Plugin failures come out (thrown or rejected) as HookFailure. */
  handle(batch: ParsedBatch): CandlesResult | Promise<CandlesResult> {
    if (this.run.symbols.length === 0 && batch.symbols && batch.symbols.length > 0) {
      // A host that did not list the symbols in initialize: the batch names them (as the Python SDK does).
      this.run = { ...this.run, symbols: batch.symbols };
      this.reset();
    } else if (batch.offset === 0 && this.started) this.reset();
    this.started = true;
    const walk = new BatchWalk(this, this.prepare(batch), batch);
    try {
      const r = walk.run();
      if (isThenable(r)) {
        return Promise.resolve(r).then(undefined, (e: unknown) => {
          throw e instanceof ProtocolError ? e : new HookFailure(e, walk.hook, walk.at);
        });
      }
      return r;
    } catch (e) {
      throw e instanceof ProtocolError ? e : new HookFailure(e, walk.hook, walk.at);
    }
  }

  /** Copies the batch's candles into their symbols' series; returns each candle's store index. */
  private prepare(batch: ParsedBatch): Prepared {
    const n = batch.n;
    const cols = decodeColumns(batch.columns, n);
    const nsym = this.run.symbols.length;
    const counts = new Int32Array(nsym);
    const sym = batch.symbol;
    for (let i = 0; i < n; i++) {
      const s = sym[i]!;
      if (!(s >= 0 && s < nsym)) {
        throw new ProtocolError('invalid message', `columns.symbol[${i}] = ${s} is not an index into run.symbols (${nsym} symbols)`);
      }
      counts[s]!++;
    }
    // Rows of each symbol, one flat array in symbol blocks (counting sort): no per-symbol allocation.
    const start = new Int32Array(nsym + 1);
    for (let s = 0; s < nsym; s++) start[s + 1] = start[s]! + counts[s]!;
    const rows = new Int32Array(n);
    const fillAt = start.slice(0, nsym);
    for (let i = 0; i < n; i++) rows[fillAt[sym[i]!]!++] = i;
    const store = new Int32Array(n);
    for (let s = 0; s < nsym; s++) {
      const state = this.states[s]!;
      if (counts[s] === 0) continue;
      const mine = rows.subarray(start[s]!, start[s + 1]!);
      state.series.appendRows(cols, mine, counts[s]!);
      state.seenEnd = state.series.base;
      for (let k = 0; k < mine.length; k++) store[mine[k]!] = state.series.base + k;
    }
    // Series that got no rows keep their buffers; their kept tail still ends at `length`.
    for (let s = 0; s < nsym; s++) if (counts[s] === 0) this.states[s]!.seenEnd = this.states[s]!.series.length;
    const isEnd = new Uint8Array(n);
    for (const e of batch.ends) isEnd[e] = 1;
    const names = batch.indicators.map(([name]) => name);
    if (names.join('\u0000') !== this.indicatorNames.join('\u0000')) {
      this.indicatorNames = names;
      for (const st of this.states) {
        for (const k of [...st.indicators.keys()]) if (!names.includes(k)) st.indicators.delete(k);
        for (const k of names) if (!st.indicators.has(k)) st.indicators.set(k, NaN);
      }
    }
    return {
      cols, store, names,
      values: batch.indicators.map(([name, bin]) => f64View(bin, n, name)),
      isEnd,
    };
  }

  get symbolStates(): readonly SymbolState[] {
    return this.states;
  }
  get context(): Context {
    return this.ctx;
  }
  get didExit(): boolean {
    return this.exited;
  }
  markExited(): void {
    this.exited = true;
  }
}

interface Prepared {
  cols: DecodedColumns;
  /** Per candle, its store index in its symbol's series. */
  store: Int32Array;
  names: string[];
  values: Float64Array[];
  /** 1 for candles that are the last of their symbol. */
  isEnd: Uint8Array;
}

type Phase = 'alerts' | 'candles';

/** The resumable state of one batch walk: `run()` picks up where an awaited call left it. */
class BatchWalk {
  hook = 'on_candle';
  at: number | null = null;
  private i = 0;
  private a = 0;
  private phase: Phase = 'alerts';
  private groupEnd = 0;
  private readonly order: number[];
  private readonly signals: WireSignal[] = [];
  private readonly bars: Bar[] = [];
  /** onBatch mode: its signals by candle index and by alert index, replayed by the walk. */
  private byCandle: Map<number, BatchSignal[]> | null = null;
  private byAlert: Map<number, BatchSignal[]> | null = null;
  private readonly decision: Decision = { sym: -1, timestamp: 0, close: NaN, alert: null };

  constructor(private readonly d: StrategyDriver, private readonly p: Prepared, private readonly batch: ParsedBatch) {
    this.order = alertOrder(batch.alerts);
  }

  run(): CandlesResult | Promise<CandlesResult> {
    if (this.d.onBatch !== undefined && this.byCandle === null) return this.runBatch();
    const replay = this.byCandle !== null;
    const { batch, order, d, p } = this;
    const alerts = batch.alerts;
    const n = batch.n;
    const ctx = d.context;
    const book = ctx.book;
    const states = d.symbolStates;
    const cols = p.cols;
    const symCol = batch.symbol;
    const names = p.names;
    const values = p.values;
    for (;;) {
      if (this.phase === 'alerts') {
        // Alerts after the last candle (`at == n`) are dropped (docs/orders.md section 1), as the host does.
        if (this.i < n && this.a < order.length && alerts[order[this.a]!]!.at <= this.i) {
          const k = order[this.a++]!;
          const alert = alerts[k]!;
          this.hook = 'on_alert';
          this.at = alert.at;
          if (replay) {
            this.takeAll(this.byAlert!.get(k), k, alert.at, this.alertDecision(alert));
            continue;
          }
          if (d.onAlert === undefined) continue;
          this.pointAtAlert(alert);
          const r = d.onAlert.call(d.plugin, alert, ctx);
          if (isThenable(r)) return Promise.resolve(r).then((v) => { this.takeAlert(v, k); return this.run(); });
          this.takeAlert(r, k);
          continue;
        }
        if (this.i >= n) break;
        this.startGroup();
        this.phase = 'candles';
      }
      // The candles of the current timestamp group: the hot loop.
      const end = this.groupEnd;
      const store = p.store;
      const isEnd = p.isEnd;
      const onCandle = d.onCandle;
      const nind = names.length;
      this.hook = 'on_candle';
      while (this.i < end) {
        const i = this.i;
        const s = symCol[i]!;
        const state = states[s]!;
        const st = store[i]!;
        book.mark(s, cols.close[i]!, cols.timestamp[i]!);
        state.seenEnd = st + 1;
        if (nind > 0) {
          const ind = state.indicators;
          for (let j = 0; j < nind; j++) ind.set(names[j]!, values[j]![i]!);
        }
        this.at = i;
        if (replay) {
          this.takeAll(this.byCandle!.get(i), null, i, this.candleDecision(i));
        } else if (onCandle !== undefined) {
          ctx.at(s, state.name, state, st + 1);
          const candle = new CandleRecord(cols.timestamp[i]!, cols.open[i]!, cols.high[i]!, cols.low[i]!, cols.close[i]!,
            cols.volume[i]!, state.name);
          const r = onCandle.call(d.plugin, candle, ctx);
          if (r !== undefined && r !== null) {
            if (isThenable(r)) return Promise.resolve(r).then((v) => { this.takeCandle(v, i); this.afterCandle(i); return this.run(); });
            this.takeCandle(r, i);
          }
        }
        if (isEnd[i] === 1) book.endSymbol(s, cols.timestamp[i]!);
        this.i = i + 1;
      }
      this.phase = 'alerts';
    }
    return this.finish();
  }


  /** The fills of the timestamp group starting at candle `i` (all in this batch: a batch never splits one). */
  private startGroup(): void {
    const { cols } = this.p;
    const sym = this.batch.symbol;
    const n = this.batch.n;
    const i = this.i;
    const t = cols.timestamp[i]!;
    const bars = this.bars;
    let j = i;
    for (; j < n && cols.timestamp[j] === t; j++) {
      const k = j - i;
      // A pool of Bar objects reused from group to group: no allocation per candle.
      if (k === bars.length) bars.push({ sym: 0, timestamp: 0, open: 0, high: 0, low: 0, close: 0 });
      const b = bars[k]!;
      b.sym = sym[j]!;
      b.timestamp = t;
      b.open = cols.open[j]!;
      b.high = cols.high[j]!;
      b.low = cols.low[j]!;
      b.close = cols.close[j]!;
    }
    this.groupEnd = j;
    this.d.context.book.fillsAt(bars, j - i);
  }

  /** After an awaited onCandle: the rest of what the hot loop does after the call. */
  private afterCandle(i: number): void {
    if (this.p.isEnd[i] === 1) this.d.context.book.endSymbol(this.batch.symbol[i]!, this.p.cols.timestamp[i]!);
    this.i = i + 1;
    if (this.i >= this.groupEnd) this.phase = 'alerts';
  }

  private candleDecision(i: number): Decision {
    const dec = this.decision;
    dec.sym = this.batch.symbol[i]!;
    dec.timestamp = this.p.cols.timestamp[i]!;
    dec.close = this.p.cols.close[i]!;
    dec.alert = null;
    return dec;
  }

  /** ctx for an alert: its symbol's history and indicators up to the last candle of it seen. */
  private pointAtAlert(alert: BatchAlert): void {
    const d = this.d;
    const s = d.context.book.symbolIndex.get(alert.symbol);
    if (s === undefined) {
      d.context.at(-1, alert.symbol, null, 0);
      return;
    }
    const state = d.symbolStates[s]!;
    d.context.at(s, alert.symbol, state, state.seenEnd);
  }

  private alertDecision(alert: BatchAlert): Decision {
    return { sym: this.d.context.book.symbolIndex.get(alert.symbol) ?? -1, timestamp: alert.timestamp, close: NaN, alert: { price: alert.price } };
  }

  private runBatch(): CandlesResult | Promise<CandlesResult> {
    const { batch, d, p } = this;
    const ctx = d.context;
    const n = batch.n;
    const symbols = d.run.symbols;
    // ctx as of the batch start, pointed at the first candle's symbol.
    if (n > 0) {
      const s = batch.symbol[0]!;
      const state = d.symbolStates[s]!;
      ctx.at(s, state.name, state, state.seenEnd);
    }
    let one = n > 0 ? batch.symbol[0]! : -1;
    for (let i = 1; i < n && one >= 0; i++) if (batch.symbol[i] !== one) one = -1;
    const view: CandleBatch = {
      symbol: one >= 0 ? symbols[one]! : '',
      symbols,
      symbolIndex: batch.symbol,
      symbolAt: (i: number) => symbols[batch.symbol[i]!]!,
      offset: batch.offset,
      n,
      timestamp: p.cols.timestamp,
      open: p.cols.open,
      high: p.cols.high,
      low: p.cols.low,
      close: p.cols.close,
      volume: p.cols.volume,
      indicators: new Map(p.names.map((name, j) => [name, p.values[j]!])),
      ends: batch.ends,
      alerts: batch.alerts,
      last: batch.last,
    };
    this.hook = 'on_batch';
    this.at = null;
    const probe = d.lookahead.before(d.plugin, n);
    const r = d.onBatch!.call(d.plugin, view, ctx);
    const take = (v: unknown): CandlesResult | Promise<CandlesResult> => {
      this.bucket(v);
      // An answer the walk will refuse is not checked: the walk raises its error, with the candle.
      const given = probe === null ? null : decidedOrNull(v, n, batch.alerts);
      if (given !== null) {
        const checked = d.lookahead.check(d.plugin, probe!, n, given, (cut) => this.replayHead(view, cut));
        if (checked !== undefined) return checked.then(() => this.run());
      }
      return this.run();
    };
    return isThenable(r) ? Promise.resolve(r).then(take) : take(r);
  }

  /** onBatch on the first `cut` candles of the batch, as a batch of their own (the look-ahead check). */
  private replayHead(view: CandleBatch, cut: number): readonly Decided[] | Promise<readonly Decided[]> {
    const { d, batch } = this;
    const { head, kept } = headOf(view, batch.alerts, cut);
    const r = d.onBatch!.call(d.plugin, head, d.context);
    const decide = (v: unknown): readonly Decided[] => decided(v, cut, head.alerts, kept);
    return isThenable(r) ? Promise.resolve(r).then(decide) : decide(r);
  }

  /** Sorts onBatch's signals into the walk's events (array order kept within one event). */
  private bucket(v: unknown): void {
    this.byCandle = new Map();
    this.byAlert = new Map();
    if (v === undefined || v === null) return;
    if (!Array.isArray(v)) throw new SignalError('onBatch must return an array of signals (or nothing)');
    const n = this.batch.n;
    for (const s of v as BatchSignal[]) {
      if (s === null || typeof s !== 'object') throw new SignalError('onBatch signals must be objects');
      const alert = s.alert ?? null;
      if (alert !== null) {
        if (!Number.isInteger(alert) || alert < 0 || alert >= this.batch.alerts.length) {
          throw new SignalError(`onBatch signal alert index ${alert} out of range 0..${this.batch.alerts.length - 1}`);
        }
        push(this.byAlert, alert, s);
      } else {
        if (!Number.isInteger(s.at) || s.at < 0 || s.at >= n) throw new SignalError(`onBatch signal at=${s.at} out of range 0..${n - 1}`);
        push(this.byCandle, s.at, s);
      }
    }
  }

  private takeAlert(r: unknown, k: number): void {
    if (r === undefined || r === null) return;
    const alert = this.batch.alerts[k]!;
    this.takeAll(r, k, alert.at, this.alertDecision(alert));
  }

  private takeCandle(r: unknown, i: number): void {
    this.takeAll(r, null, i, this.candleDecision(i));
  }

  /** One signal or a list, in order. */
  private takeAll(r: unknown, alert: number | null, at: number, where: Decision): void {
    if (r === undefined || r === null) return;
    if (Array.isArray(r)) {
      for (const s of r) if (s !== undefined && s !== null) this.take(s, alert, at, where);
    } else {
      this.take(r, alert, at, where);
    }
  }

  /** Records a signal for the response and submits it to the book (which skips what the host will refuse). */
  private take(r: unknown, alert: number | null, at: number, where: Decision): void {
    const sig = toOrderSignal(r, this.hook);
    if (sig === null) return;
    this.signals.push({
      at, alert, type: sig.type, side: sig.side, size: sig.size, price: sig.price, stop: sig.stop,
      valid_for: sig.validFor, stop_loss: sig.stopLoss, take_profit: sig.takeProfit, trail_pct: sig.trailPct,
      symbol: sig.symbol, reason: sig.reason,
    });
    this.d.context.book.submit(sig, where);
  }

  private finish(): CandlesResult | Promise<CandlesResult> {
    const d = this.d;
    if (this.batch.last && !d.didExit) {
      d.markExited();
      if (d.onExit !== undefined) {
        this.hook = 'on_exit';
        this.at = null;
        const r = d.onExit.call(d.plugin, d.context);
        if (isThenable(r)) return Promise.resolve(r).then(() => this.result());
      }
    }
    return this.result();
  }

  private result(): CandlesResult {
    const book = this.d.context.book;
    const positions: Record<string, WirePosition> = {};
    for (const [name, p] of book.sortedPositions()) {
      positions[name] = { side: p.side, size: p.size, entry_price: p.entryPrice, entry_timestamp: p.entryTimestamp };
    }
    const out: CandlesResult = { signals: this.signals, book: { cash: book.cash, positions } };
    const found = this.d.lookahead.take();
    if (found !== null) out.lookahead = found;
    return out;
  }
}

function push<T>(m: Map<number, T[]>, k: number, v: T): void {
  const a = m.get(k);
  if (a === undefined) m.set(k, [v]);
  else a.push(v);
}

/** Alert indexes by `at`, array order kept among equal `at` (already sorted in the usual case). */
function alertOrder(alerts: readonly BatchAlert[]): number[] {
  const order = alerts.map((_, k) => k);
  for (let k = 1; k < alerts.length; k++) {
    if (alerts[k]!.at < alerts[k - 1]!.at) {
      order.sort((x, y) => alerts[x]!.at - alerts[y]!.at || x - y);
      break;
    }
  }
  return order;
}

