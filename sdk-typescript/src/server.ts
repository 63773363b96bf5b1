/**
 * The plugin side of one conversation: hello, then requests answered one at a time, in order.
 * Independent of process stdio (the runner wires it to fd 0/1; tests wire it to memory).
 */
import { decode, encode } from './codec';
import { ProtocolError } from './errors';
import { FrameDecoder, encodeFrame, DEFAULT_MAX_FRAME } from './framing';
import { errorMap, field, params as mapParams, isInt, isList, isMap, isNumber, isString, notification, parseIncoming, response, NOTIFICATION,
  type Incoming, type Params } from './messages';
import { parseCandles } from './batch';
import { HookFailure, StrategyDriver, isThenable, type CandlesResult, type RunSettings } from './driver';
import { FeatureDriver, type HookError } from './feature';
import { DEFAULT_RULES, type Rules } from './orders';
import type { FeaturePlugin, StrategyPlugin } from './types';
import { SDK_NAME, SDK_VERSION, PROTOCOL_VERSION } from './version';
import { candlesAnswer } from './answers';

export type PluginKind = 'strategy' | 'feature';

export interface ServerOptions {
  plugin: StrategyPlugin | FeaturePlugin;
  kind: PluginKind;
  /** Writes one whole frame to the host; must not reorder frames. */
  write: (frame: Uint8Array) => void;
  /** Free-text diagnostics (stderr). */
  log: (line: string) => void;
  maxFrame?: number;
  pid?: number;
  /** Called after the shutdown response has been written. */
  onShutdown?: () => void;
}

/** Protocol method names the plugin implements, in the order of the table in PROTOCOL.md section 5. */
export function methodsOf(plugin: StrategyPlugin | FeaturePlugin, kind: PluginKind): string[] {
  const has = (o: unknown, k: string): boolean =>
    typeof o === 'object' && o !== null && typeof (o as Record<string, unknown>)[k] === 'function';
  const out: string[] = [];
  if (has(plugin, 'initialize')) out.push('initialize');
  if (kind === 'strategy') {
    for (const [proto, ts] of [['on_alert', 'onAlert'], ['on_candle', 'onCandle'], ['on_batch', 'onBatch'], ['on_exit', 'onExit']]) {
      if (has(plugin, ts!)) out.push(proto!);
    }
  } else {
    const hooks = (plugin as FeaturePlugin).hooks;
    for (const [proto, ts] of [['on_pre_run', 'onPreRun'], ['on_post_run', 'onPostRun'], ['on_trade', 'onTrade'], ['on_candle', 'onCandle']]) {
      if (has(hooks, ts!)) out.push(proto!);
    }
  }
  return out;
}

const HOOK_OF_REQUEST: Record<string, string> = {
  initialize: 'initialize', pre_run: 'on_pre_run', post_run: 'on_post_run',
};

export class Server {
  private readonly frames: FrameDecoder;
  private readonly queue: Incoming[] = [];
  private busy = false;
  private strategy: StrategyDriver | null = null;
  private readonly feature: FeatureDriver | null;
  readonly maxFrame: number;

  constructor(private readonly opts: ServerOptions) {
    this.maxFrame = opts.maxFrame ?? DEFAULT_MAX_FRAME;
    this.frames = new FrameDecoder(this.maxFrame);
    this.feature = opts.kind === 'feature' ? new FeatureDriver(opts.plugin as FeaturePlugin) : null;
  }

  hello(): void {
    const p = this.opts.plugin;
    this.send(notification('hello', {
      protocol: PROTOCOL_VERSION,
      sdk: SDK_NAME,
      sdk_version: SDK_VERSION,
      plugin: {
        name: typeof p.name === 'string' ? p.name : null,
        version: typeof p.version === 'string' ? p.version : null,
        type: this.opts.kind,
      },
      methods: methodsOf(p, this.opts.kind),
      pid: this.opts.pid ?? process.pid,
    }));
  }

  /** Feeds bytes from the host. A ProtocolError here means the stream is broken: stop the process. */
  feed(chunk: Uint8Array): void {
    for (const body of this.frames.push(chunk)) this.queue.push(parseIncoming(decode(body)));
    this.pump();
  }

  /** Handles queued messages one at a time; only an async plugin call makes it wait. */
  private pump(): void {
    while (!this.busy && this.queue.length > 0) {
      const m = this.queue.shift()!;
      const r = this.dispatch(m);
      if (isThenable(r)) {
        this.busy = true;
        Promise.resolve(r).then(() => {
          this.busy = false;
          this.pump();
        }, (e: unknown) => {
          // dispatch catches plugin errors itself; this is a bug in the SDK, say so loudly.
          this.opts.log(`plughost sdk: internal error: ${(e as Error)?.stack ?? String(e)}`);
          this.busy = false;
          this.pump();
        });
      }
    }
  }

  private dispatch(m: Incoming): void | Promise<void> {
    if (m.kind === NOTIFICATION) return this.notify(m.method, m.params);
    const { id, method, params } = m;
    let out: unknown;
    try {
      out = this.call(method, params);
    } catch (e) {
      this.fail(id, method, e);
      return;
    }
    if (isThenable(out)) {
      return Promise.resolve(out).then((v) => this.reply(id, method, v), (e: unknown) => this.fail(id, method, e));
    }
    this.reply(id, method, out);
  }

  private call(method: string, raw: unknown): unknown {
    if (method === 'ping') return raw;
    const params = mapParams(raw, method);
    switch (method) {
      case 'initialize': return this.initialize(params);
      case 'candles': {
        if (this.opts.kind !== 'strategy') throw new ProtocolError('invalid message', 'candles is a notification for a feature');
        const batch = parseCandles(params);
        if (this.strategy === null) throw new ProtocolError('invalid message', 'candles before initialize (the SDK needs run.symbols and run.rules)');
        return this.strategy.handle(batch);
      }
      case 'pre_run': return this.requireFeature(method).preRun(params);
      case 'post_run': return this.requireFeature(method).postRun(params);
      case 'shutdown': return null;
      default: {
        const e = new Error(`unknown method ${JSON.stringify(method)}`);
        e.name = 'MethodNotFound';
        throw e;
      }
    }
  }

  private requireFeature(method: string): FeatureDriver {
    if (this.feature === null) throw new ProtocolError('invalid message', `${method} is only sent to features`);
    return this.feature;
  }

  private initialize(params: Params): unknown {
    const config = field(params, 'config', isMap, 'a map');
    const runId = field(params, 'run_id', isString, 'a string');
    const run = field(params, 'run', isMap, 'a map');
    const history = run['history'] ?? 200;
    if (!isInt(history) || history < 0) throw new ProtocolError('invalid message', 'params.run.history must be an int >= 0');
    const symbols = run['symbols'] ?? [];
    if (!isList(symbols) || !symbols.every(isString)) throw new ProtocolError('invalid message', 'params.run.symbols must be a list of strings');
    const settings: RunSettings = { runId, history, symbols, rules: parseRules(run['rules'], run['size']),
      lookahead: run['lookahead_check'] === true };
    if (this.opts.kind === 'strategy') this.strategy = new StrategyDriver(this.opts.plugin as StrategyPlugin, settings);
    else this.feature!.symbols = symbols;
    const init = this.opts.plugin.initialize;
    return init === undefined ? null : init.call(this.opts.plugin, config);
  }

  private notify(method: string, params: Params): void | Promise<void> {
    if (this.feature === null || (method !== 'candles' && method !== 'trades')) {
      this.opts.log(`plughost sdk: ignoring notification ${JSON.stringify(method)}`);
      return;
    }
    if (method === 'candles') {
      const r = this.feature.candles(parseCandles(params));
      if (isThenable(r)) return Promise.resolve(r).then((e) => this.hookError(e));
      this.hookError(r);
      return;
    }
    return this.feature.trades(params).then((e) => this.hookError(e),
      (e: unknown) => this.opts.log(`plughost sdk: bad trades notification: ${String(e)}`));
  }

  private hookError(e: HookError | null): void {
    if (e === null) return;
    this.send(notification('hook_error', { hook: e.hook, error: errorMap(e.error, e.hook, null), count: e.count }));
  }

  private reply(id: number, method: string, result: unknown): void {
    let frame: Buffer;
    try {
      const wire = method === 'candles' && result !== null && typeof result === 'object'
        ? candlesAnswer(result as CandlesResult) : result;
      frame = encodeFrame(encode(response(id, null, wire)));
    } catch (e) {
      this.fail(id, method, e);
      return;
    }
    if (frame.length - 4 > this.maxFrame) {
      const e = new Error(`the ${method} result is ${frame.length - 4} bytes, above the ${this.maxFrame} frame limit`);
      e.name = 'FrameTooLarge';
      this.fail(id, method, e);
      return;
    }
    this.opts.write(frame);
    if (method === 'shutdown') this.opts.onShutdown?.();
  }

  private fail(id: number, method: string, e: unknown): void {
    const map = e instanceof HookFailure
      ? errorMap(e.error, e.hook, e.at)
      : errorMap(e, e instanceof ProtocolError ? null : (HOOK_OF_REQUEST[method] ?? null), null);
    this.send(response(id, map, null));
  }

  private send(message: unknown): void {
    this.opts.write(encodeFrame(encode(message)));
  }
}

/** `run.rules` (PROTOCOL.md section 6) -> Rules; absent keys take the defaults of docs/orders.md. */
export function parseRules(raw: unknown, legacySize: unknown): Rules {
  if (raw !== undefined && raw !== null && !isMap(raw)) throw new ProtocolError('invalid message', 'params.run.rules must be a map');
  const r = (raw ?? {}) as Record<string, unknown>;
  const num = (key: string, dflt: number): number => {
    const v = r[key] ?? dflt;
    if (!isNumber(v)) throw new ProtocolError('invalid message', `params.run.rules.${key} must be a number`);
    return v;
  };
  const oneOf = <T extends string>(key: string, allowed: readonly T[], dflt: T): T => {
    const v = r[key] ?? dflt;
    if (!allowed.includes(v as T)) throw new ProtocolError('invalid message', `params.run.rules.${key} must be one of ${allowed.join(', ')}`);
    return v as T;
  };
  return {
    initialCapital: num('initial_capital', DEFAULT_RULES.initialCapital),
    feeBps: num('fee_bps', DEFAULT_RULES.feeBps),
    slippageBps: num('slippage_bps', DEFAULT_RULES.slippageBps),
    size: num('size', isNumber(legacySize) ? legacySize : DEFAULT_RULES.size),
    sizeMode: oneOf('size_mode', ['units', 'notional', 'fraction'] as const, DEFAULT_RULES.sizeMode),
    leverage: num('leverage', DEFAULT_RULES.leverage),
    fillAt: oneOf('fill_at', ['next_open', 'close'] as const, DEFAULT_RULES.fillAt),
  };
}
