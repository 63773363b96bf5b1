/**
 * The look-ahead check of vectorized strategies (docs/orders.md section 9), the Python SDK's
 * `_lookahead.py` in TypeScript.
 *
 * A per-candle strategy cannot see the future: the SDK hands it one candle at a time. An `onBatch` strategy
 * gets the whole batch at once and can peek ahead by accident (`close[i + 1]`, a batch-wide mean, a centred
 * window). So, on a sample of batches, the SDK replays the strategy on the batch cut short just after one of
 * the candles it signalled on, from the state it had before the batch, and compares the signals of the
 * candles both saw. A strategy that only looks back decides the same; one that peeked at the candles after
 * the cut does not. The finding goes back to the host, which records a LOOKAHEAD_SUSPECTED warning; nothing
 * else changes. The replays cost at most `BUDGET` of the rows the strategy was given.
 *
 * The state before the batch is the plugin object's own data properties, copied with `structuredClone`
 * (Python deep-copies `vars(plugin)`). Functions among them are kept as they are (the methods of an
 * object-literal plugin; Python's deepcopy keeps functions too). State that structuredClone cannot copy
 * faithfully (a class instance, a function inside an object, a symbol, #private fields) skips the check of
 * that batch, as Python skips state deepcopy refuses: a copy that shared anything with the live state would
 * let the replay change the real run.
 */
import type { BatchAlert } from './batch';
import { SignalError } from './errors';
import { toOrderSignal } from './signalshape';
import type { BatchSignal, CandleBatch } from './types';

export const BUDGET = 0.25; // replayed rows / rows given, at most (on average)

/** One decided signal as the check compares it: its candle index and a key of everything else. */
export type Decided = readonly [at: number, key: string];

/** What the host is told (PROTOCOL.md section 6: the `lookahead` field of a candles result). */
export interface LookaheadFinding {
  /** The first candle (index in the batch) whose signals differed between the whole and the cut batch. */
  at: number;
  /** The cut batch's length. */
  cut: number;
  /** Signals before the cut, in the whole batch's answer and in the replay's. */
  given: number;
  replayed: number;
}

/** The plugin's own data properties, by key, as property descriptors. */
export type PluginState = ReadonlyMap<PropertyKey, PropertyDescriptor>;

export class LookaheadCheck {
  rows = 0;
  replayed = 0;
  checks = 0;
  found: LookaheadFinding | null = null;
  private reported = false;
  private readonly random: () => number;
  /** Whether the plugin's class keeps #private fields (invisible here, so never copied); looked up once. */
  private hidden: boolean | null = null;

  constructor(readonly enabled: boolean, seed = '') {
    this.random = seededRandom(seed);
  }

  /** The plugin's state before this batch, when the batch may be checked (else null). */
  before(plugin: object, n: number): PluginState | null {
    this.rows += n;
    if (!this.enabled || this.found !== null || n < 2) return null;
    if (this.replayed + Math.floor(n / 2) > BUDGET * this.rows && this.checks > 0) return null; // keep within the budget
    this.hidden ??= hasPrivateFields(plugin);
    return this.hidden ? null : snapshot(plugin);
  }

  /**
   * Replays the batch cut just after one of its signalled candles (`decide(cut)` calls onBatch on the first
   * `cut` candles) with the plugin's properties set to `state`, then puts the live ones back. A replay that
   * throws or answers an invalid signal is not a finding.
   */
  check(plugin: object, state: PluginState, n: number, given: readonly Decided[],
    decide: (cut: number) => readonly Decided[] | Promise<readonly Decided[]>): void | Promise<void> {
    const rows = [...new Set(given.filter(([at]) => at + 1 < n).map(([at]) => at))].sort((x, y) => x - y);
    if (rows.length === 0) return;
    const early = Math.min(rows.length, Math.floor(rows.length / 2) + 1); // early cuts cost less
    const cut = rows[Math.floor(this.random() * early)]! + 1;
    this.checks++;
    this.replayed += cut;
    const live = ownData(plugin);
    put(plugin, state);
    let seen: readonly Decided[] | Promise<readonly Decided[]>;
    try {
      seen = decide(cut);
    } catch {
      put(plugin, live);
      return;
    }
    if (Array.isArray(seen)) {
      put(plugin, live);
      this.compare(given, seen as readonly Decided[], cut);
      return;
    }
    return (seen as Promise<readonly Decided[]>).then((s) => {
      put(plugin, live);
      this.compare(given, s, cut);
    }, () => {
      put(plugin, live);
    });
  }

  private compare(given: readonly Decided[], seen: readonly Decided[], cut: number): void {
    const full = given.filter(([at]) => at < cut);
    for (let k = 0; k < Math.max(full.length, seen.length); k++) {
      const a = full[k];
      const b = seen[k];
      if (a === undefined || b === undefined || a[0] !== b[0] || a[1] !== b[1]) {
        this.found = { at: (a ?? b)![0], cut, given: full.length, replayed: seen.length };
        return;
      }
    }
  }

  /** The finding, once (the host keeps the first). */
  take(): LookaheadFinding | null {
    if (this.found === null || this.reported) return null;
    this.reported = true;
    return this.found;
  }
}

/** The first `cut` candles of a batch as a batch of their own (views, no copy), and the whole batch's
 * indexes of the alerts it keeps: what the batch looked like to a strategy that had seen up to `cut - 1`. */
export function headOf(view: CandleBatch, alerts: readonly BatchAlert[], cut: number): { head: CandleBatch; kept: number[] } {
  const kept = alerts.flatMap((a, k) => (a.at < cut ? [k] : []));
  const head: CandleBatch = {
    ...view,
    symbolIndex: view.symbolIndex.subarray(0, cut),
    n: cut,
    timestamp: view.timestamp.subarray(0, cut),
    open: view.open.subarray(0, cut),
    high: view.high.subarray(0, cut),
    low: view.low.subarray(0, cut),
    close: view.close.subarray(0, cut),
    volume: view.volume.subarray(0, cut),
    indicators: new Map([...view.indicators].map(([name, col]) => [name, col.subarray(0, cut)])),
    ends: view.ends.filter((e) => e < cut),
    alerts: kept.map((k) => alerts[k]!),
    last: false,
  };
  return { head, kept };
}

/**
 * onBatch's answer as the look-ahead check compares it: per signal (holds left out), its candle (an alert's
 * signal: the alert's candle) and its fields, ordered by candle, an alert's before the candle's (as the
 * Python SDK orders them; array order kept otherwise). `alertIds`
 * maps the answer's alert indexes to the whole batch's. Throws on an answer the walk would refuse.
 */
export function decided(v: unknown, n: number, alerts: readonly BatchAlert[], alertIds: readonly number[] | null): Decided[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) throw new SignalError('onBatch must return an array of signals (or nothing)');
  const out: (readonly [at: number, key: string, candle: number])[] = [];
  for (const s of v as BatchSignal[]) {
    if (s === null || typeof s !== 'object') throw new SignalError('onBatch signals must be objects');
    const alert = s.alert ?? null;
    if (alert !== null && !(Number.isInteger(alert) && alert >= 0 && alert < alerts.length)) throw new SignalError('alert index out of range');
    if (alert === null && !(Number.isInteger(s.at) && s.at >= 0 && s.at < n)) throw new SignalError('at out of range');
    const sig = toOrderSignal(s, 'on_batch');
    if (sig === null) continue;
    const at = alert === null ? s.at : alerts[alert]!.at;
    const id = alert === null ? null : alertIds === null ? alert : alertIds[alert]!;
    out.push([at, JSON.stringify([id, sig.type, sig.side, sig.size, sig.price, sig.stop, sig.validFor, sig.stopLoss,
      sig.takeProfit, sig.trailPct, sig.symbol, sig.reason]), alert === null ? 1 : 0]);
  }
  return out.sort((x, y) => x[0] - y[0] || x[2] - y[2]).map(([at, key]) => [at, key]);
}

export function decidedOrNull(v: unknown, n: number, alerts: readonly BatchAlert[]): Decided[] | null {
  try {
    return decided(v, n, alerts, null);
  } catch {
    return null;
  }
}

/** A small seeded generator (mulberry32 over an FNV-1a hash of the seed): the run id picks the same cuts. */
function seededRandom(seed: string): () => number {
  let h = 0x811c9dc5;
  for (let i = 0; i < seed.length; i++) h = Math.imul(h ^ seed.charCodeAt(i), 0x01000193);
  let a = h >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function ownData(plugin: object): Map<PropertyKey, PropertyDescriptor> {
  const out = new Map<PropertyKey, PropertyDescriptor>();
  for (const key of Reflect.ownKeys(plugin)) {
    const d = Object.getOwnPropertyDescriptor(plugin, key)!;
    if ('value' in d) out.set(key, d); // accessors are behaviour, not state (Python keeps properties on the class)
  }
  return out;
}

/** Sets the plugin's own data properties to exactly `state` (those added meanwhile are removed). */
function put(plugin: object, state: PluginState): void {
  for (const key of Reflect.ownKeys(plugin)) {
    if (!state.has(key) && 'value' in Object.getOwnPropertyDescriptor(plugin, key)!) Reflect.deleteProperty(plugin, key);
  }
  for (const [key, d] of state) Object.defineProperty(plugin, key, d);
}

function snapshot(plugin: object): PluginState | null {
  if (!Object.isExtensible(plugin)) return null; // a frozen or sealed plugin: its properties cannot be swapped
  const live = ownData(plugin);
  const keys: PropertyKey[] = [];
  const values: unknown[] = [];
  const seen = new Set<object>();
  for (const [key, d] of live) {
    if (!d.configurable) return null;
    if (typeof d.value === 'function') continue;
    if (!plainData(d.value, seen)) return null;
    keys.push(key);
    values.push(d.value);
  }
  let copies: unknown[];
  try {
    copies = structuredClone(values); // one call: values shared between properties stay shared in the copy
  } catch {
    return null;
  }
  const out = new Map(live);
  keys.forEach((key, k) => out.set(key, { ...live.get(key)!, value: copies[k] }));
  return out;
}

const VIEWS: ReadonlySet<object> = new Set([Int8Array, Uint8Array, Uint8ClampedArray, Int16Array, Uint16Array, Int32Array,
  Uint32Array, Float32Array, Float64Array, BigInt64Array, BigUint64Array, DataView].map((c) => c.prototype));
const ATOMS: ReadonlySet<object> = new Set([Date, RegExp, ArrayBuffer, Number, String, Boolean].map((c) => c.prototype));

/**
 * Whether structuredClone copies `root` faithfully: primitives (not symbols), arrays, plain objects, Map,
 * Set, typed arrays over an ArrayBuffer, Date, RegExp. Anything else (a class instance, which would come
 * back a plain object without its methods; a function; a SharedArrayBuffer, which would be shared) is not.
 */
function plainData(root: unknown, seen: Set<object>): boolean {
  const todo: unknown[] = [root];
  while (todo.length > 0) {
    const v = todo.pop();
    if (typeof v === 'symbol' || typeof v === 'function') return false;
    if (typeof v !== 'object' || v === null || seen.has(v)) continue;
    seen.add(v);
    const proto = Object.getPrototypeOf(v) as object | null;
    if (Array.isArray(v)) {
      if (proto !== Array.prototype) return false;
      for (const x of v) if (typeof x !== 'number' && typeof x !== 'string') todo.push(x);
    } else if (proto === Object.prototype || proto === null) {
      for (const key of Reflect.ownKeys(v)) {
        const d = Object.getOwnPropertyDescriptor(v, key)!;
        if (typeof key === 'symbol' || !('value' in d)) return false; // dropped / turned into data by the copy
        todo.push(d.value);
      }
    } else if (proto === Map.prototype) {
      for (const [k, x] of v as Map<unknown, unknown>) todo.push(k, x);
    } else if (proto === Set.prototype) {
      for (const x of v as Set<unknown>) todo.push(x);
    } else if (VIEWS.has(proto!)) {
      if (Object.getPrototypeOf((v as ArrayBufferView).buffer) !== ArrayBuffer.prototype) return false;
    } else if (!ATOMS.has(proto!)) {
      return false;
    }
  }
  return true;
}

/**
 * Whether the plugin's class (or a base class) declares #private fields, native or compiled down to
 * helpers: they cannot be read, copied nor restored, so a replay would change the live values.
 */
function hasPrivateFields(plugin: object): boolean {
  for (let p = Object.getPrototypeOf(plugin) as object | null; p !== null && p !== Object.prototype; p = Object.getPrototypeOf(p) as object | null) {
    const ctor = Object.getOwnPropertyDescriptor(p, 'constructor')?.value as unknown;
    if (typeof ctor === 'function' && PRIVATE.test(Function.prototype.toString.call(ctor))) return true;
  }
  return false;
}

const PRIVATE = /#[\p{ID_Start}$_]|_classPrivateField|__classPrivateField/u;
