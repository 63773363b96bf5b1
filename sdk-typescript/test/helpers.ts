/** Shared test helpers: vector JSON conventions (PROTOCOL.md section 11) and candle batch builders. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/** sdk-typescript/ whether running from build-test/test or test/. */
export const SDK_ROOT = join(__dirname, '..', '..');
export const REPO_ROOT = join(SDK_ROOT, '..');
export const FIXTURES = join(SDK_ROOT, 'test', 'fixtures');

export function vectors<T>(name: string): T {
  return JSON.parse(readFileSync(join(REPO_ROOT, 'protocol', 'vectors', name), 'utf8')) as T;
}

/** Vector JSON -> the value an SDK works with. */
export function fromJson(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(fromJson);
  if (v !== null && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    if (typeof o['$bin'] === 'string') return Buffer.from(o['$bin'], 'hex');
    if (typeof o['$int'] === 'string') return BigInt(o['$int']);
    if (typeof o['$float'] === 'string') return ({ nan: NaN, inf: Infinity, '-inf': -Infinity } as Record<string, number>)[o['$float']];
    return Object.fromEntries(Object.entries(o).map(([k, x]) => [k, fromJson(x)]));
  }
  return v;
}

/** A decoded value -> vector JSON, to compare with `message`. */
export function toJson(v: unknown): unknown {
  if (v instanceof Uint8Array) return { $bin: Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('hex') };
  if (typeof v === 'bigint') return { $int: v.toString() };
  if (typeof v === 'number' && !Number.isFinite(v)) return { $float: Number.isNaN(v) ? 'nan' : v > 0 ? 'inf' : '-inf' };
  if (Array.isArray(v)) return v.map(toJson);
  if (v !== null && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, toJson(x)]));
  return v;
}

export interface Row {
  timestamp: number;
  open: number;
  high: number;
  low: number;
  close: number;
  volume?: number;
  /** Index into the run's symbols (default 0). */
  symbol?: number;
}

function f64(values: number[]): Buffer {
  const b = Buffer.alloc(values.length * 8);
  values.forEach((x, i) => b.writeDoubleLE(x, i * 8));
  return b;
}

function i64(values: number[]): Buffer {
  const b = Buffer.alloc(values.length * 8);
  values.forEach((x, i) => b.writeBigInt64LE(BigInt(x), i * 8));
  return b;
}

function i32(values: number[]): Buffer {
  const b = Buffer.alloc(values.length * 4);
  values.forEach((x, i) => b.writeInt32LE(x, i * 4));
  return b;
}

export interface WireAlert {
  at: number;
  id?: string;
  timestamp: number;
  symbol?: string;
  price: number | null;
  data?: Record<string, unknown>;
}

/**
 * `candles` params (protocol 2) for rows of the merged stream. `symbols` names the run's symbols (a
 * string: a one-symbol run); alerts default to the first. `ends` defaults, when `last`, to each
 * symbol's last row in this batch.
 */
export function candlesParams(symbols: string | readonly string[], offset: number, rows: Row[], opts: {
  alerts?: WireAlert[];
  last?: boolean;
  indicators?: Record<string, number[]>;
  ends?: number[];
} = {}): Record<string, unknown> {
  const names = typeof symbols === 'string' ? [symbols] : symbols;
  let ends = opts.ends;
  if (ends === undefined) {
    const lastRow = new Map<number, number>();
    if (opts.last) rows.forEach((r, i) => lastRow.set(r.symbol ?? 0, i));
    ends = [...lastRow.values()].sort((a, b) => a - b);
  }
  return {
    offset,
    n: rows.length,
    columns: {
      timestamp: i64(rows.map((r) => r.timestamp)),
      open: f64(rows.map((r) => r.open)),
      high: f64(rows.map((r) => r.high)),
      low: f64(rows.map((r) => r.low)),
      close: f64(rows.map((r) => r.close)),
      volume: f64(rows.map((r) => r.volume ?? 0)),
      symbol: i32(rows.map((r) => r.symbol ?? 0)),
    },
    indicators: Object.fromEntries(Object.entries(opts.indicators ?? {}).map(([k, v]) => [k, f64(v)])),
    ends,
    alerts: (opts.alerts ?? []).map((a, k) => ({
      at: a.at, id: a.id ?? `a${k}`, timestamp: a.timestamp, symbol: a.symbol ?? names[0], price: a.price, data: a.data ?? {},
    })),
    last: opts.last ?? false,
  };
}

/** Rows with closes given, one minute apart, high/low around the close. */
export function rowsFromCloses(closes: number[], t0 = 1_700_000_000_000, symbol = 0): Row[] {
  return closes.map((c, i) => ({ timestamp: t0 + i * 60_000, open: c, high: c + 1, low: c - 1, close: c, volume: 1, symbol }));
}

/** Merges per-symbol rows by (timestamp, symbol index): the stream order. */
export function merge(...perSymbol: Row[][]): Row[] {
  return perSymbol.flat().sort((a, b) => a.timestamp - b.timestamp || (a.symbol ?? 0) - (b.symbol ?? 0));
}

/** A case of protocol/vectors/orders.json (PROTOCOL.md section 8). */
export interface OrdersCase {
  name: string;
  rules: {
    initial_capital: number; fee_bps: number; slippage_bps: number; size: number;
    size_mode: 'units' | 'notional' | 'fraction'; leverage: number; fill_at: 'next_open' | 'close';
  };
  symbols: string[];
  /** [timestamp, symbol index, open, high, low, close], merged order. */
  candles: [number, number, number, number, number, number][];
  ends: number[];
  alerts: { at: number; id: string; timestamp: number; symbol: string; price: number | null }[];
  signals: Record<string, unknown>[];
  expect: {
    trades: Record<string, unknown>[];
    ignored: number; rejected: number; expired: number; cash: number;
    equity: [number, number][];
    positions: Record<string, { side: string; size: number; entry_price: number; entry_timestamp: number }>;
    liquidated: boolean;
  };
}

/** Equal to 1e-9, relative to the magnitude (absolute below 1). */
export function close(a: unknown, b: unknown): boolean {
  if (typeof a !== 'number' || typeof b !== 'number') return a === b;
  if (Number.isNaN(a) || Number.isNaN(b)) return Number.isNaN(a) && Number.isNaN(b);
  return Math.abs(a - b) <= 1e-9 * Math.max(1, Math.abs(a), Math.abs(b));
}

/** Deep equality with numbers compared by `close`; throws an AssertionError-like message naming the path. */
export function assertClose(got: unknown, want: unknown, path = '$'): void {
  if (typeof want === 'number' || typeof got === 'number') {
    if (!close(got, want)) throw new Error(`${path}: got ${String(got)}, want ${String(want)}`);
    return;
  }
  if (Array.isArray(want)) {
    if (!Array.isArray(got) || got.length !== want.length) {
      throw new Error(`${path}: got ${JSON.stringify(got)}, want ${JSON.stringify(want)}`);
    }
    want.forEach((w, i) => assertClose(got[i], w, `${path}[${i}]`));
    return;
  }
  if (want !== null && typeof want === 'object') {
    if (got === null || typeof got !== 'object') throw new Error(`${path}: got ${JSON.stringify(got)}, want an object`);
    const g = got as Record<string, unknown>;
    const w = want as Record<string, unknown>;
    const keys = new Set([...Object.keys(g), ...Object.keys(w)]);
    for (const k of keys) assertClose(g[k], w[k], `${path}.${k}`);
    return;
  }
  if (got !== want) throw new Error(`${path}: got ${JSON.stringify(got)}, want ${JSON.stringify(want)}`);
}
