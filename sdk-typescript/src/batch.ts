/** Validates the params of a `candles` message (PROTOCOL.md section 6) into a typed batch. */
import { ProtocolError } from './errors';
import { CANDLE_COLUMNS, i32View } from './columns';
import type { BinColumns } from './history';
import { field, isBool, isBytes, isInt, isList, isMap, isString, type Params } from './messages';
import type { Alert } from './types';

export interface BatchAlert extends Alert {
  readonly at: number;
}

export interface ParsedBatch {
  offset: number;
  n: number;
  columns: BinColumns;
  /** Per candle, its symbol's index into `run.symbols` (range checked by the driver, which knows them). */
  symbol: Int32Array;
  indicators: [string, Uint8Array][];
  /** Indexes of candles that are the last candle of their symbol. */
  ends: number[];
  /** The run's symbols when the batch names them (the host does; a feature may not have them from initialize). */
  symbols: string[] | null;
  alerts: BatchAlert[];
  last: boolean;
}

function invalid(detail: string): never {
  throw new ProtocolError('invalid message', detail);
}

/** An int64 that msgpack gave us as a number, or as a BigInt when beyond 2^53. */
function toNumber(v: unknown): number | undefined {
  if (typeof v === 'number') return v;
  if (typeof v === 'bigint') return Number(v);
  return undefined;
}

export function parseCandles(p: Params): ParsedBatch {
  const offset = field(p, 'offset', isInt, 'an int');
  const n = field(p, 'n', isInt, 'an int');
  if (n < 0) invalid('params.n must be >= 0');
  const cols = field(p, 'columns', isMap, 'a map');
  const columns = {} as BinColumns;
  for (const name of CANDLE_COLUMNS) {
    const bin = cols[name];
    if (!isBytes(bin)) invalid(`params.columns.${name} must be bin`);
    if (bin.byteLength !== n * 8) invalid(`column ${name} has ${bin.byteLength} bytes, expected ${n} x 8`);
    columns[name] = bin;
  }
  const symbolBin = cols['symbol'];
  if (!isBytes(symbolBin)) invalid('params.columns.symbol must be bin (int32 indexes into run.symbols)');
  const symbol = i32View(symbolBin, n, 'symbol');
  const rawEnds = p!['ends'] ?? [];
  if (!isList(rawEnds)) invalid('params.ends must be a list');
  const ends = rawEnds.map((e, k) => {
    if (!isInt(e) || e < 0 || e >= n) invalid(`ends[${k}] must be an int in 0..${n - 1}`);
    return e;
  });
  const indicators: [string, Uint8Array][] = [];
  const ind = p!['indicators'];
  if (ind !== null && ind !== undefined) {
    if (!isMap(ind)) invalid('params.indicators must be a map');
    for (const [name, bin] of Object.entries(ind)) {
      if (!isBytes(bin)) invalid(`params.indicators.${name} must be bin`);
      if (bin.byteLength !== n * 8) invalid(`indicator ${name} has ${bin.byteLength} bytes, expected ${n} x 8`);
      indicators.push([name, bin]);
    }
  }
  const rawSymbols = p!['symbols'];
  let symbols: string[] | null = null;
  if (rawSymbols !== undefined && rawSymbols !== null) {
    if (!isList(rawSymbols) || !rawSymbols.every(isString)) invalid('params.symbols must be a list of strings');
    symbols = rawSymbols;
  }
  const last = field(p, 'last', isBool, 'a bool');
  const rawAlerts = p!['alerts'] ?? [];
  if (!isList(rawAlerts)) invalid('params.alerts must be a list');
  const alerts = rawAlerts.map((a, k) => parseAlert(a, k, n));
  return { offset, n, columns, symbol, indicators, ends, symbols, alerts, last };
}

function parseAlert(a: unknown, k: number, n: number): BatchAlert {
  if (!isMap(a)) invalid(`alerts[${k}] must be a map`);
  const at = a['at'];
  if (!isInt(at) || at < 0 || at > n) invalid(`alerts[${k}].at must be an int in 0..${n}`);
  const id = a['id'];
  if (!isString(id)) invalid(`alerts[${k}].id must be a string`);
  const timestamp = toNumber(a['timestamp']);
  if (timestamp === undefined) invalid(`alerts[${k}].timestamp must be an int`);
  const symbol = a['symbol'];
  if (!isString(symbol)) invalid(`alerts[${k}].symbol must be a string`);
  const rawPrice = a['price'];
  const price = rawPrice === null || rawPrice === undefined ? null : toNumber(rawPrice);
  if (price === undefined) invalid(`alerts[${k}].price must be a number or nil`);
  const data = a['data'] ?? {};
  if (!isMap(data)) invalid(`alerts[${k}].data must be a map`);
  return { at, id, timestamp, symbol, price, data };
}
