/**
 * Feature hooks (PROTOCOL.md sections 6 and 7). `candles` and `trades` arrive as notifications: there is
 * no response to carry an error, so a failing hook is reported with a `hook_error` notification.
 */
import { CandleRecord } from './history';
import { copyF64, copyI64AsNumber } from './columns';
import { isThenable } from './driver';
import { isMap, isList } from './messages';
import type { ParsedBatch } from './batch';
import type { BacktestResults, FeaturePlugin, PluginHooks, PostRunOutput, RunConfig, Trade } from './types';
import { ProtocolError } from './errors';

export interface HookError {
  hook: string;
  /** The first error of the notification. */
  error: unknown;
  /** How many calls of the notification raised (PROTOCOL.md section 7). */
  count: number;
}

export class FeatureDriver {
  private readonly hooks: PluginHooks;
  /** `run.symbols` from initialize: what the batches' `symbol` column indexes. */
  symbols: readonly string[] = [];

  constructor(plugin: FeaturePlugin) {
    this.hooks = plugin.hooks;
  }

  /**
   * Calls onCandle per candle of the merged stream (each candle names its own symbol). A failure does not stop the batch: the first error and the number of
   * failing calls come back as one hook_error for the batch (PROTOCOL.md section 7).
   */
  candles(batch: ParsedBatch): HookError | null | Promise<HookError | null> {
    const onCandle = this.hooks.onCandle;
    if (onCandle === undefined) return null;
    const n = batch.n;
    const cols = batch.columns;
    const ts = new Float64Array(n);
    const o = new Float64Array(n);
    const h = new Float64Array(n);
    const l = new Float64Array(n);
    const c = new Float64Array(n);
    const v = new Float64Array(n);
    copyI64AsNumber(ts, 0, cols.timestamp, n, 'timestamp');
    copyF64(o, 0, cols.open, n, 'open');
    copyF64(h, 0, cols.high, n, 'high');
    copyF64(l, 0, cols.low, n, 'low');
    copyF64(c, 0, cols.close, n, 'close');
    copyF64(v, 0, cols.volume, n, 'volume');
    const sym = batch.symbol;
    const symbols = batch.symbols ?? this.symbols;
    const names: string[] = new Array<string>(n);
    for (let i = 0; i < n; i++) {
      const name = symbols[sym[i]!];
      if (name === undefined) throw new ProtocolError('invalid message', `columns.symbol[${i}] = ${sym[i]} is not an index into run.symbols (${symbols.length} symbols)`);
      names[i] = name;
    }
    const hooks = this.hooks;
    let failure: HookError | null = null;
    const failed = (error: unknown): void => {
      if (failure === null) failure = { hook: 'on_candle', error, count: 1 };
      else failure.count++;
    };
    const step = (from: number): HookError | null | Promise<HookError | null> => {
      for (let i = from; i < n; i++) {
        let r: unknown;
        try {
          r = onCandle.call(hooks, new CandleRecord(ts[i]!, o[i]!, h[i]!, l[i]!, c[i]!, v[i]!, names[i]!));
        } catch (error) {
          failed(error);
          continue;
        }
        if (isThenable(r)) {
          return Promise.resolve(r).then(() => step(i + 1), (error: unknown) => {
            failed(error);
            return step(i + 1);
          });
        }
      }
      return failure;
    };
    return step(0);
  }

  /** Calls onTrade per trade; failures come back as one hook_error for the notification, with a count. */
  async trades(params: Record<string, unknown> | null): Promise<HookError | null> {
    const raw = params?.['trades'];
    if (!isList(raw)) throw new ProtocolError('invalid message', 'params.trades must be a list');
    const onTrade = this.hooks.onTrade;
    if (onTrade === undefined) return null;
    let failure: HookError | null = null;
    for (const t of raw) {
      if (!isMap(t)) throw new ProtocolError('invalid message', 'each trade must be a map');
      try {
        const r = onTrade.call(this.hooks, toTrade(t));
        if (isThenable(r)) await r;
      } catch (error) {
        if (failure === null) failure = { hook: 'on_trade', error, count: 1 };
        else failure.count++;
      }
    }
    return failure;
  }

  async preRun(params: Record<string, unknown> | null): Promise<{ config: RunConfig } | null> {
    const config = params?.['config'];
    if (!isMap(config)) throw new ProtocolError('invalid message', 'params.config must be a map');
    if (this.hooks.onPreRun === undefined) return null;
    const out = await this.hooks.onPreRun(config as RunConfig);
    return out === undefined || out === null ? null : { config: out };
  }

  async postRun(params: Record<string, unknown> | null): Promise<PostRunOutput | null> {
    const r = params?.['results'];
    if (!isMap(r)) throw new ProtocolError('invalid message', 'params.results must be a map');
    if (this.hooks.onPostRun === undefined) return null;
    const out = await this.hooks.onPostRun(toResults(r));
    if (out === undefined || out === null) return null;
    // Keys in the spec's order; absent ones stay absent (nil and absent mean the same).
    const result: PostRunOutput = {};
    if (out.metrics !== undefined) result.metrics = out.metrics;
    if (out.artifacts !== undefined) result.artifacts = out.artifacts;
    return result;
  }
}

const str = (v: unknown): string | null => (typeof v === 'string' ? v : null);
const num = (v: unknown): number => (typeof v === 'number' ? v : typeof v === 'bigint' ? Number(v) : NaN);

function toTrade(t: Record<string, unknown>): Trade {
  return {
    symbol: String(t['symbol']),
    side: t['side'] === 'short' ? 'short' : 'long',
    entryTime: num(t['entry_time']),
    entryPrice: num(t['entry_price']),
    exitTime: num(t['exit_time']),
    exitPrice: num(t['exit_price']),
    size: num(t['size']),
    fees: t['fees'] === undefined || t['fees'] === null ? 0 : num(t['fees']),
    pnl: num(t['pnl']),
    entryReason: str(t['entry_reason']),
    exitReason: str(t['exit_reason']),
  };
}

function toResults(r: Record<string, unknown>): BacktestResults {
  const equity = isMap(r['equity']) ? r['equity'] : {};
  const nums = (v: unknown): number[] => (isList(v) ? v.map(num) : []);
  return {
    runId: String(r['run_id'] ?? ''),
    status: String(r['status'] ?? ''),
    metrics: isMap(r['metrics']) ? r['metrics'] : {},
    trades: (isMap(r['trades']) ? r['trades'] : {}) as Record<string, unknown[]>,
    equity: { timestamp: nums(equity['timestamp']), equity: nums(equity['equity']) },
    config: isMap(r['config']) ? r['config'] : {},
  };
}
