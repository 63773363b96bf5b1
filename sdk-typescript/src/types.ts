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

export type Side = 'long' | 'short';

/**
 * A signal is an order (docs/orders.md). Without `price` and `stop` it is a market order (next open, or
 * this close with run key `fill_at = "close"`); with `price` a limit order, with `stop` a stop order, tried
 * on the symbol's next `validFor` candles. Field values are checked by the host (finite, > 0, levels on
 * the right side, a known `symbol`): a bad one fails the run with PLUGIN_PROTOCOL_ERROR.
 */
export interface Signal {
  type: SignalType;
  /** Entry side, `long` by default. An exit always closes the position's side. */
  side?: Side | null;
  /** In the run's `size_mode` (units, notional or fraction); defaults to the run's `size`. For `exit`, closes min(size, position). */
  size?: number | null;
  /** Limit price: a buy fills at min(open, price) once low <= price, a sell at max(open, price) once high >= price. */
  price?: number | null;
  /** Stop level: a buy fills at max(open, stop) once high >= stop, a sell at min(open, stop) once low <= stop. */
  stop?: number | null;
  /** Candles a limit or stop order is tried before it expires (default 1). */
  validFor?: number | null;
  /** Entries only: protective stop-loss price. */
  stopLoss?: number | null;
  /** Entries only: protective take-profit price. */
  takeProfit?: number | null;
  /** Entries only: trailing stop, in percent of the best price reached. */
  trailPct?: number | null;
  /** Acts on this symbol instead of the event's (must be a symbol of the run). */
  symbol?: string | null;
  reason?: string | null;
}

/** An open position, as mirrored by the SDK's order book (the host is the authority). */
export interface Position {
  readonly side: Side;
  /** Units of the asset held (always > 0; a short has side 'short'). */
  readonly size: number;
  readonly entryPrice: number;
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
  /** The current event's symbol (the candle's, or the alert's). */
  readonly symbol: string;
  /** The current symbol's open position, or null when flat. Updated after every fill, inside a batch too. */
  readonly position: Position | null;
  /** Every open position by symbol (a read-only Map; a new Map after each change). */
  readonly positions: ReadonlyMap<string, Position>;
  /** The portfolio's cash, as of the last candle seen. */
  readonly cash: number;
  /** Cash + longs marked at their symbol's last close - shorts marked the same way. */
  readonly equity: number;
  /** The current symbol's last `history` candles. */
  readonly history: CandleHistory;
  /**
   * The current symbol's host-computed indicators (run config `indicators`) at the current candle; NaN
   * until warmed up. `get` of a name that is not a configured indicator throws an Error naming the known
   * ones (use `has` to probe). One Map updated in place: valid during the call only.
   */
  readonly indicators: ReadonlyMap<string, number>;
  /** `indicators.get(name)`, typed `number`: throws `Unknown indicator 'x'; known: a, b` for an unknown name. */
  indicator(name: string): number;
}

/**
 * One batch of the run's merged stream (every symbol, by time), for vectorized strategies (`onBatch`).
 * Column views are valid during the call.
 */
export interface CandleBatch {
  /** The batch's symbol when all its candles have one symbol (always in a one-symbol run), else ''. */
  readonly symbol: string;
  /** Every symbol of the run, sorted (what `symbolIndex` indexes). */
  readonly symbols: readonly string[];
  /** Per candle, the index of its symbol in `symbols`. */
  readonly symbolIndex: Int32Array;
  /** The symbol of candle `i`. */
  symbolAt(i: number): string;
  /** Index of the batch's first candle within the run's stream. */
  readonly offset: number;
  readonly n: number;
  readonly timestamp: Float64Array;
  readonly open: Float64Array;
  readonly high: Float64Array;
  readonly low: Float64Array;
  readonly close: Float64Array;
  readonly volume: Float64Array;
  /** Per candle, the indicator's value for that candle's own symbol. */
  readonly indicators: ReadonlyMap<string, Float64Array>;
  /** Indexes of candles that are the last of their symbol. */
  readonly ends: readonly number[];
  /** Alerts with the index `at` of the candle they come before (the first candle of a timestamp). */
  readonly alerts: readonly (Alert & { readonly at: number })[];
  /** True on the stream's last batch (`onExit` follows). */
  readonly last: boolean;
}

/**
 * A signal from `onBatch`: `at` is the candle index within the batch (the signal acts on that candle's
 * symbol unless it names another), `alert` the index into `batch.alerts` when it answers an alert. The SDK
 * replays them through the stream walk in event order, as if `onCandle`/`onAlert` had returned them.
 */
export interface BatchSignal extends Signal {
  at: number;
  alert?: number | null;
}

/** What `onCandle`/`onAlert` return: nothing (hold), one signal, or a list of signals. */
export type SignalResult = Signal | readonly Signal[] | null | undefined | void;

export interface StrategyPlugin {
  name?: string;
  version?: string;
  initialize?(config: Record<string, unknown>): MaybePromise<void>;
  onAlert?(alert: Alert, ctx: StrategyContext): MaybePromise<SignalResult>;
  onCandle?(candle: Candle, ctx: StrategyContext): MaybePromise<SignalResult>;
  /** Replaces the per-candle loop (and onAlert) when present; called once per batch. */
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
  size_mode?: 'units' | 'notional' | 'fraction';
  initial_capital?: number;
  fee_bps?: number;
  slippage_bps?: number;
  leverage?: number;
  fill_at?: 'next_open' | 'close';
  history?: number;
  indicators?: Record<string, Record<string, unknown>>;
  [key: string]: unknown;
}

/** A closed trade (protocol `trades` notification, camelCased). */
export interface Trade {
  readonly symbol: string;
  readonly side: Side;
  readonly entryTime: number;
  readonly entryPrice: number;
  readonly exitTime: number;
  readonly exitPrice: number;
  readonly size: number;
  /** Both fills' fees for this trade (the entry fee pro rata for a partial exit). */
  readonly fees: number;
  /** Net of fees. */
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
  metrics?: Record<string, number>;
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
