/**
 * Walks one `candles` batch for a strategy (PROTOCOL.md section 6): alerts with `at == i` to onAlert,
 * then candle i to onCandle, the position mirror after every signal, onExit after a symbol's last batch.
 *
 * Speed: the loop only goes async when the plugin actually returned a thenable (a Promise per candle costs
 * more than the rest of the loop together); per candle it allocates only the Candle handed to the plugin.
 */
import { SignalError } from './errors';
import { HistoryView, CandleRecord, Series } from './history';
import { f64View } from './columns';
import { PositionMirror, checkSignal, type FillRef } from './position';
import type { BatchAlert, ParsedBatch } from './batch';
import type { BatchSignal, CandleBatch, Position, Signal, StrategyContext, StrategyPlugin } from './types';

export interface WireSignal {
  at: number;
  alert: number | null;
  type: 'entry' | 'exit';
  price: number | null;
  size: number | null;
  reason: string | null;
}

export interface WirePosition {
  entry_price: number;
  size: number;
  entry_timestamp: number;
}

export interface CandlesResult {
  signals: WireSignal[];
  position: WirePosition | null;
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
  size: number;
}

/** One symbol's state across batches. */
class SymbolState {
  readonly indicators = new Map<string, number>();
  readonly mirror: PositionMirror;
  constructor(readonly series: Series, size: number) {
    this.mirror = new PositionMirror(size);
  }
}

class Context implements StrategyContext {
  state: SymbolState | null = null;
  symbol = '';
  indicators: Map<string, number> = new Map();
  constructor(readonly runId: string, readonly history: HistoryView) {}
  get position(): Position | null {
    return this.state === null ? null : this.state.mirror.position;
  }
}

export class StrategyDriver {
  private readonly symbols = new Map<string, SymbolState>();
  private readonly ctx: Context;
  /** Methods looked up once: a plugin's methods do not change during a run. */
  private readonly onCandle: StrategyPlugin['onCandle'];
  private readonly onAlert: StrategyPlugin['onAlert'];
  private readonly onBatch: StrategyPlugin['onBatch'];
  private readonly onExit: StrategyPlugin['onExit'];

  constructor(private readonly plugin: StrategyPlugin, private readonly run: RunSettings) {
    this.ctx = new Context(run.runId, new HistoryView(run.history));
    this.onCandle = plugin.onCandle;
    this.onAlert = plugin.onAlert;
    this.onBatch = plugin.onBatch;
    this.onExit = plugin.onExit;
  }

  /** Runs a batch. Plugin failures come out (thrown or rejected) as HookFailure. */
  handle(batch: ParsedBatch): CandlesResult | Promise<CandlesResult> {
    let state = this.symbols.get(batch.symbol);
    if (state === undefined || batch.offset === 0) {
      state = new SymbolState(new Series(batch.symbol, this.run.history), this.run.size);
      this.symbols.set(batch.symbol, state);
    }
    state.series.append(batch.columns, batch.n);
    const ctx = this.ctx;
    ctx.state = state;
    ctx.symbol = batch.symbol;
    ctx.indicators = state.indicators;
    ctx.history.moveTo(state.series, state.series.base);
    const walk = new BatchWalk(this.plugin, this.onCandle, this.onAlert, this.onBatch, this.onExit, ctx, state, batch);
    const done = (r: CandlesResult): CandlesResult => {
      if (batch.last) this.symbols.delete(batch.symbol);
      return r;
    };
    try {
      const r = walk.run();
      if (isThenable(r)) {
        return Promise.resolve(r).then(done, (e: unknown) => {
          throw new HookFailure(e, walk.hook, walk.at);
        });
      }
      return done(r);
    } catch (e) {
      throw new HookFailure(e, walk.hook, walk.at);
    }
  }
}

/** The resumable state of one batch walk: `run()` picks up where an awaited call left it. */
class BatchWalk {
  hook = 'on_candle';
  at: number | null = null;
  private i = 0;
  private a = 0;
  private exited = false;
  private readonly order: number[];
  private readonly signals: WireSignal[] = [];
  private readonly ref: FillRef = {
    fromAlert: false, alertPrice: null, hasBar: true, open: 0, high: 0, low: 0, close: 0, timestamp: 0,
  };
  private readonly indNames: string[];
  private readonly indValues: Float64Array[];

  constructor(
    private readonly plugin: StrategyPlugin,
    private readonly onCandle: StrategyPlugin['onCandle'],
    private readonly onAlert: StrategyPlugin['onAlert'],
    private readonly onBatch: StrategyPlugin['onBatch'],
    private readonly onExit: StrategyPlugin['onExit'],
    private readonly ctx: Context,
    private readonly state: SymbolState,
    private readonly batch: ParsedBatch,
  ) {
    this.order = alertOrder(batch.alerts);
    this.indNames = batch.indicators.map(([name]) => name);
    this.indValues = batch.indicators.map(([name, bin]) => f64View(bin, batch.n, name));
  }

  run(): CandlesResult | Promise<CandlesResult> {
    if (this.onBatch !== undefined) return this.runBatch();
    const { batch, ctx, plugin, order } = this;
    const alerts = batch.alerts;
    const n = batch.n;
    const series = this.state.series;
    const base = series.base;
    const history = ctx.history;
    const names = this.indNames;
    const values = this.indValues;
    const indicators = this.state.indicators;
    for (;;) {
      if (this.a < order.length && alerts[order[this.a]!]!.at <= this.i) {
        const k = order[this.a++]!;
        if (this.onAlert === undefined) continue;
        const alert = alerts[k]!;
        this.hook = 'on_alert';
        this.at = alert.at;
        const r = this.onAlert.call(plugin, alert, ctx);
        if (isThenable(r)) return Promise.resolve(r).then((v) => { this.takeAlert(v, k); return this.run(); });
        this.takeAlert(r, k);
        continue;
      }
      if (this.i < n) {
        const i = this.i++;
        const s = base + i;
        history.moveTo(series, s + 1);
        for (let j = 0; j < names.length; j++) indicators.set(names[j]!, values[j]![i]!);
        if (this.onCandle === undefined) continue;
        this.hook = 'on_candle';
        this.at = i;
        const candle = new CandleRecord(series.timestamp[s]!, series.open[s]!, series.high[s]!, series.low[s]!,
          series.close[s]!, series.volume[s]!, batch.symbol);
        const r = this.onCandle.call(plugin, candle, ctx);
        if (isThenable(r)) return Promise.resolve(r).then((v) => { this.takeCandle(v, i); return this.run(); });
        if (r !== undefined && r !== null) this.takeCandle(r, i);
        continue;
      }
      break;
    }
    return this.finish();
  }

  private runBatch(): CandlesResult | Promise<CandlesResult> {
    const { batch, ctx, state } = this;
    const series = state.series;
    const base = series.base;
    const n = batch.n;
    ctx.history.moveTo(series, base + n);
    const last = n - 1;
    if (last >= 0) for (let j = 0; j < this.indNames.length; j++) state.indicators.set(this.indNames[j]!, this.indValues[j]![last]!);
    const view: CandleBatch = {
      symbol: batch.symbol,
      offset: batch.offset,
      n,
      timestamp: series.timestamp.subarray(base, base + n),
      open: series.open.subarray(base, base + n),
      high: series.high.subarray(base, base + n),
      low: series.low.subarray(base, base + n),
      close: series.close.subarray(base, base + n),
      volume: series.volume.subarray(base, base + n),
      indicators: new Map(this.indNames.map((name, j) => [name, this.indValues[j]!])),
      alerts: batch.alerts,
      last: batch.last,
    };
    this.hook = 'on_batch';
    this.at = null;
    const r = this.onBatch!.call(this.plugin, view, ctx);
    const take = (v: unknown): CandlesResult | Promise<CandlesResult> => {
      this.takeBatchSignals(v);
      return this.finish();
    };
    return isThenable(r) ? Promise.resolve(r).then(take) : take(r);
  }

  private takeBatchSignals(v: unknown): void {
    if (v === undefined || v === null) return;
    if (!Array.isArray(v)) throw new SignalError('onBatch must return an array of signals (or nothing)');
    const n = this.batch.n;
    for (const s of v as BatchSignal[]) {
      if (s === null || typeof s !== 'object') throw new SignalError('onBatch signals must be objects');
      const alert = s.alert ?? null;
      if (alert !== null) {
        if (!Number.isInteger(alert) || alert < 0 || alert >= this.batch.alerts.length) {
          throw new SignalError(`onBatch signal alert index ${alert} out of range`);
        }
        this.at = this.batch.alerts[alert]!.at;
        this.take(s, alert, this.at);
      } else {
        if (!Number.isInteger(s.at) || s.at < 0 || s.at >= n) throw new SignalError(`onBatch signal at=${s.at} out of range 0..${n - 1}`);
        this.at = s.at;
        this.take(s, null, s.at);
      }
    }
  }

  private takeAlert(r: unknown, k: number): void {
    if (r !== undefined && r !== null) this.take(r, k, this.batch.alerts[k]!.at);
  }

  private takeCandle(r: unknown, i: number): void {
    if (r !== undefined && r !== null) this.take(r, null, i);
  }

  /** Checks a signal, applies it to the mirror, records it for the response. */
  private take(r: unknown, alert: number | null, at: number): void {
    if (typeof r !== 'object' || r === null) {
      throw new SignalError(`${this.hook} must return a Signal, null or undefined (got ${typeof r})`);
    }
    const sig = r as Signal;
    checkSignal(sig);
    if (sig.type === 'hold') return;
    const ref = this.ref;
    const series = this.state.series;
    const n = this.batch.n;
    if (alert === null) {
      ref.fromAlert = false;
      ref.alertPrice = null;
      ref.hasBar = true;
    } else {
      const a: BatchAlert = this.batch.alerts[alert]!;
      ref.fromAlert = true;
      ref.alertPrice = a.price;
      ref.hasBar = at < n;
    }
    if (ref.hasBar) {
      const s = series.base + at;
      ref.open = series.open[s]!;
      ref.high = series.high[s]!;
      ref.low = series.low[s]!;
      ref.close = series.close[s]!;
      ref.timestamp = series.timestamp[s]!;
    }
    if (alert !== null) ref.timestamp = this.batch.alerts[alert]!.timestamp;
    this.state.mirror.apply(sig.type === 'entry', sig.price, sig.size, ref);
    this.signals.push({
      at,
      alert,
      type: sig.type,
      price: sig.price ?? null,
      size: sig.size ?? null,
      reason: sig.reason ?? null,
    });
  }

  private finish(): CandlesResult | Promise<CandlesResult> {
    if (this.batch.last && !this.exited && this.onExit !== undefined) {
      this.exited = true;
      this.hook = 'on_exit';
      this.at = null;
      const r = this.onExit.call(this.plugin, this.ctx);
      if (isThenable(r)) return Promise.resolve(r).then(() => this.result());
    }
    return this.result();
  }

  private result(): CandlesResult {
    const p = this.state.mirror.position;
    return {
      signals: this.signals,
      position: p === null ? null : { entry_price: p.entryPrice, size: p.size, entry_timestamp: p.entryTimestamp },
    };
  }
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
