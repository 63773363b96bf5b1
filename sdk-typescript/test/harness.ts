/** An in-memory host for Server: send requests, collect decoded frames. */
import { Server, type PluginKind } from '../src/server';
import { decode, encode } from '../src/codec';
import { FrameDecoder, encodeFrame } from '../src/framing';
import type { FeaturePlugin, StrategyPlugin } from '../src/types';

export class MemoryHost {
  readonly out: unknown[] = [];
  readonly logs: string[] = [];
  readonly server: Server;
  private readonly frames = new FrameDecoder();
  private nextId = 1;
  shutdown = false;

  constructor(plugin: StrategyPlugin | FeaturePlugin, kind: PluginKind = 'strategy', maxFrame?: number) {
    this.server = new Server({
      plugin, kind, pid: 1234,
      write: (f) => { for (const b of this.frames.push(f)) this.out.push(withSignalMaps(decode(b))); },
      log: (l) => this.logs.push(l),
      onShutdown: () => { this.shutdown = true; },
      ...(maxFrame === undefined ? {} : { maxFrame }),
    });
  }

  /** Sends a request and waits until its response has been written. */
  async request(method: string, params: unknown): Promise<unknown[]> {
    const id = this.nextId++;
    this.server.feed(encodeFrame(encode([0, id, method, params])));
    // Wait by the clock, not by a count of turns: an async plugin may use timers.
    const deadline = Date.now() + 5000;
    while (Date.now() < deadline) {
      const r = this.out.find((m) => Array.isArray(m) && m[0] === 1 && m[1] === id);
      if (r !== undefined) return r as unknown[];
      await new Promise((res) => setImmediate(res));
    }
    throw new Error(`no response to ${method}`);
  }

  notify(method: string, params: Record<string, unknown> | null): void {
    this.server.feed(encodeFrame(encode([2, method, params])));
  }

  async settle(): Promise<void> {
    for (let i = 0; i < 20; i++) await new Promise((res) => setImmediate(res));
  }

  initialize(config: Record<string, unknown> = {}, run: Record<string, unknown> = {}): Promise<unknown[]> {
    return this.request('initialize', { config, run_id: 'r-1', run: { history: 200, size: 1.0, symbols: ['X'], rules: {}, ...run } });
  }
}

/** Reads protocol 3's signal columns back into version 2's maps (what the host's parser does), so tests
 * can compare signals as objects. */
export function withSignalMaps(message: unknown): unknown {
  if (!Array.isArray(message) || message[0] !== 1) return message;
  const result = message[3] as Record<string, unknown> | null;
  const cols = result?.['signals'] as Record<string, unknown> | undefined;
  if (cols === undefined || Array.isArray(cols) || typeof cols !== 'object' || !('n' in cols)) return message;
  const view = (k: string, T: typeof Int32Array | typeof Float64Array | typeof Uint8Array): ArrayLike<number> => {
    const b = cols[k] as Uint8Array;
    const copy = new Uint8Array(b);  // aligned
    return new T(copy.buffer, 0, copy.byteLength / T.BYTES_PER_ELEMENT);
  };
  const f = (k: string, i: number): number | null => { const v = view(k, Float64Array)[i]!; return Number.isNaN(v) ? null : v; };
  const symbols = cols['symbol_dict'] as string[];
  const reasons = cols['reason_dict'] as string[];
  const signals = [];
  for (let i = 0; i < (cols['n'] as number); i++) {
    const alert = view('alert', Int32Array)[i]!;
    const vf = view('valid_for', Int32Array)[i]!;
    const sym = view('symbol', Int32Array)[i]!;
    const rsn = view('reason', Int32Array)[i]!;
    signals.push({
      at: view('at', Int32Array)[i]!, alert: alert < 0 ? null : alert, type: ['entry', 'exit'][view('type', Uint8Array)[i]!],
      side: [null, 'long', 'short'][view('side', Uint8Array)[i]!], size: f('size', i), price: f('price', i), stop: f('stop', i),
      valid_for: vf === 0 ? null : vf, stop_loss: f('stop_loss', i), take_profit: f('take_profit', i),
      trail_pct: f('trail_pct', i), symbol: sym < 0 ? null : symbols[sym], reason: rsn < 0 ? null : reasons[rsn],
    });
  }
  return [message[0], message[1], message[2], { ...result, signals }];
}
