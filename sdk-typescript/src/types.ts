/**
 * What plugin authors see (CONTRACT.md, "Writing a strategy" / "Writing a feature"): the same fields as
 * the Python SDK, in camelCase.
 */

/** A value or a Promise of it: every plugin method may be sync or async. */
export type MaybePromise<T> = T | PromiseLike<T>;

export interface Candle {
  /** Open time, ms since the epoch, UTC. */
  readonly timestamp: number;
  readonly open: number;
  readonly high: number;
  readonly low: number;
  readonly close: number;
  readonly volume: number;
  readonly symbol: string;
}

export interface Alert {
  readonly id: string;
  /** ms since the epoch, UTC. */
  readonly timestamp: number;
  readonly symbol: string;
  /** null when the alert carries no price. */
  readonly price: number | null;
  /** Every other column of the alert row. */
  readonly data: Readonly<Record<string, unknown>>;
}

export type SignalType = 'entry' | 'exit' | 'hold';

export interface Signal {
  type: SignalType;
  /** Fill price; must lie within the candle's [low, high] (for an alert: the next candle's). */
  price?: number | null;
  /** Defaults to the run's `size`; for `exit`, closes min(size, position). Must be > 0. */
  size?: number | null;
  reason?: string | null;
}

/** The position of the current symbol, as mirrored by the SDK (the host is the authority). */
export interface Position {
  readonly entryPrice: number;
  readonly size: number;
  readonly entryTimestamp: number;
}

/**
 * The last `history` candles of the current symbol, oldest first, the current candle last. A view over
 * the SDK's column buffers: nothing is copied per candle. It is only valid during the call it was passed
 * to; copy what you want to keep (`slice()` or `column(name).slice()`).
 */
export interface CandleHistory extends Iterable<Candle> {
  readonly length: number;
  /** Candle `i` (negative counts from the end, -1 is the current candle); undefined when out of range. */
  get(i: number): Candle | undefined;
  /** Allocation-free accessors for one field of candle `i` (0 = oldest; no negative indexes). */
  close(i: number): number;
  open(i: number): number;
  high(i: number): number;
  low(i: number): number;
  volume(i: number): number;
  timestamp(i: number): number;
  /** A Float64Array view (not a copy) of one column over the window. */
  column(name: CandleColumn): Float64Array;
  /** Copies candles [start, end) into an array, like Array.prototype.slice. */
  slice(start?: number, end?: number): Candle[];
}

export type CandleColumn = 'timestamp' | 'open' | 'high' | 'low' | 'close' | 'volume';

export interface StrategyContext {
  readonly runId: string;
  /** This symbol's open position, or null when flat. Updated after every signal, inside a batch too. */
  readonly position: Position | null;
  readonly history: CandleHistory;
  /**
   * Host-computed indicators (run config `indicators`) at the current candle; NaN until warmed up.
   * One Map updated in place: valid during the call only, copy it to keep values.
   */
  readonly indicators: ReadonlyMap<string, number>;
  /** The current symbol. */
  readonly symbol: string;
}

/** One batch of one symbol, for vectorized strategies (`onBatch`). Column views are valid during the call. */
export interface CandleBatch {
  readonly symbol: string;
  /** Index of the batch's first candle within the symbol's stream. */
  readonly offset: number;
  readonly n: number;
  readonly timestamp: Float64Array;
  readonly open: Float64Array;
  readonly high: Float64Array;
  readonly low: Float64Array;
  readonly close: Float64Array;
  readonly volume: Float64Array;
  readonly indicators: ReadonlyMap<string, Float64Array>;
  /** Alerts with the index `at` of the candle they come before (`at == n`: after the last candle). */
  readonly alerts: readonly (Alert & { readonly at: number })[];
  /** True on the symbol's last batch (`onExit` follows). */
  readonly last: boolean;
}

/** A signal from `onBatch`: `at` is the candle index, `alert` the index into `batch.alerts` if any. */
export interface BatchSignal extends Signal {
  at: number;
  alert?: number | null;
}

export type SignalResult = Signal | null | undefined | void;

export interface StrategyPlugin {
  name?: string;
  version?: string;
  initialize?(config: Record<string, unknown>): MaybePromise<void>;
  onAlert?(alert: Alert, ctx: StrategyContext): MaybePromise<SignalResult>;
  onCandle?(candle: Candle, ctx: StrategyContext): MaybePromise<SignalResult>;
  /** Replaces the per-candle loop (and onAlert) when present. */
  onBatch?(batch: CandleBatch, ctx: StrategyContext): MaybePromise<readonly BatchSignal[] | null | undefined | void>;
  onExit?(ctx: StrategyContext): MaybePromise<void>;
}

/** The run config as a feature sees it: snake_case keys exactly as in the run config file. */
export interface RunConfig {
  strategy?: string;
  candles?: string;
  alerts?: string | null;
  config?: Record<string, unknown>;
  size?: number;
  fee_bps?: number;
  history?: number;
  indicators?: Record<string, Record<string, unknown>>;
  [key: string]: unknown;
}

/** A closed trade (protocol `trades` notification, camelCased). */
export interface Trade {
  readonly symbol: string;
  readonly entryTime: number;
  readonly entryPrice: number;
  readonly exitTime: number;
  readonly exitPrice: number;
  readonly size: number;
  readonly pnl: number;
  readonly entryReason: string | null;
  readonly exitReason: string | null;
}

export interface BacktestResults {
  readonly runId: string;
  readonly status: string;
  readonly metrics: Readonly<Record<string, unknown>>;
  /** Columnar: `trades.symbol[i]`, `trades.entry_time[i]`, ... (snake_case column names as in trades.parquet). */
  readonly trades: Readonly<Record<string, readonly unknown[]>>;
  readonly equity: { readonly timestamp: readonly number[]; readonly equity: readonly number[] };
  readonly config: Readonly<Record<string, unknown>>;
}

export interface PostRunOutput {
  metrics?: Record<string, number | null>;  // null: cannot be computed for this run
  /** filename -> text or bytes; written under runs/<run_id>/artifacts/<plugin name>/. */
  artifacts?: Record<string, string | Uint8Array>;
}

export interface PluginHooks {
  /** Return the run config to use instead (or nothing to keep it). */
  onPreRun?(runConfig: RunConfig): MaybePromise<RunConfig | null | undefined | void>;
  onPostRun?(results: BacktestResults): MaybePromise<PostRunOutput | null | undefined | void>;
  onTrade?(trade: Trade): MaybePromise<void>;
  onCandle?(candle: Candle): MaybePromise<void>;
}

export interface FeaturePlugin {
  name?: string;
  version?: string;
  initialize?(config: Record<string, unknown>): MaybePromise<void>;
  hooks: PluginHooks;
}
