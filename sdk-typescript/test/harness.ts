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
      write: (f) => { for (const b of this.frames.push(f)) this.out.push(decode(b)); },
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
