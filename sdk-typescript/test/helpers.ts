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

export interface WireAlert {
  at: number;
  id?: string;
  timestamp: number;
  symbol?: string;
  price: number | null;
  data?: Record<string, unknown>;
}

/** `candles` params for rows of one symbol. */
export function candlesParams(symbol: string, offset: number, rows: Row[], opts: {
  alerts?: WireAlert[];
  last?: boolean;
  indicators?: Record<string, number[]>;
} = {}): Record<string, unknown> {
  return {
    symbol,
    offset,
    n: rows.length,
    columns: {
      timestamp: i64(rows.map((r) => r.timestamp)),
      open: f64(rows.map((r) => r.open)),
      high: f64(rows.map((r) => r.high)),
      low: f64(rows.map((r) => r.low)),
      close: f64(rows.map((r) => r.close)),
      volume: f64(rows.map((r) => r.volume ?? 0)),
    },
    indicators: Object.fromEntries(Object.entries(opts.indicators ?? {}).map(([k, v]) => [k, f64(v)])),
    alerts: (opts.alerts ?? []).map((a, k) => ({
      at: a.at, id: a.id ?? `a${k}`, timestamp: a.timestamp, symbol: a.symbol ?? symbol, price: a.price, data: a.data ?? {},
    })),
    last: opts.last ?? false,
  };
}

/** Rows with closes given, one minute apart, high/low around the close. */
export function rowsFromCloses(closes: number[], t0 = 1_700_000_000_000): Row[] {
  return closes.map((c, i) => ({ timestamp: t0 + i * 60_000, open: c, high: c + 1, low: c - 1, close: c, volume: 1 }));
}

/** A case of protocol/vectors/position_mirror.json. */
export interface MirrorCase {
  name: string;
  run_size: number;
  candles: { timestamp: number; open: number; high: number; low: number; close: number }[];
  alerts: { at: number; timestamp: number; price: number | null }[];
  signals: { at: number; alert: number | null; type: 'entry' | 'exit'; price: number | null; size: number | null }[];
  expect: {
    outcomes: string[]; fill_prices: (number | null)[]; fill_sizes: (number | null)[];
    ignored: number; rejected: number; position: { entry_price: number; size: number; entry_timestamp: number } | null;
  };
}

