/**
 * Per-symbol candle storage and the `ctx.history` view.
 *
 * Each batch's candles are copied once, per symbol, into that symbol's column buffers, which also keep
 * the symbol's last `history` candles of earlier batches in front of them; `ctx.history` is then a window [end - history, end) over those buffers that the
 * driver moves by one per candle. No per-candle copying, no per-candle allocation.
 */
import type { Candle, CandleColumn, CandleHistory } from './types';
import { copyI64AsNumber, f64View } from './columns';

export class CandleRecord implements Candle {
  constructor(
    readonly timestamp: number,
    readonly open: number,
    readonly high: number,
    readonly low: number,
    readonly close: number,
    readonly volume: number,
    readonly symbol: string,
  ) {}
}

export type BinColumns = Record<CandleColumn, Uint8Array>;

/** A batch's candle columns as numbers (timestamps as exact JS numbers below 2^53). */
export type DecodedColumns = Record<CandleColumn, Float64Array>;

/** Decodes the bin columns of a batch: float64 columns are views when aligned, timestamps are copied. */
export function decodeColumns(cols: BinColumns, n: number): DecodedColumns {
  const timestamp = new Float64Array(n);
  copyI64AsNumber(timestamp, 0, cols.timestamp, n, 'timestamp');
  return {
    timestamp,
    open: f64View(cols.open, n, 'open'),
    high: f64View(cols.high, n, 'high'),
    low: f64View(cols.low, n, 'low'),
    close: f64View(cols.close, n, 'close'),
    volume: f64View(cols.volume, n, 'volume'),
  };
}

export class Series {
  timestamp: Float64Array;
  open: Float64Array;
  high: Float64Array;
  low: Float64Array;
  close: Float64Array;
  volume: Float64Array;
  /** Candles held: the kept tail plus the current batch. */
  length = 0;
  /** Store index of the current batch's first candle. */
  base = 0;

  constructor(readonly symbol: string, readonly keep: number, capacity = 1024) {
    this.timestamp = new Float64Array(capacity);
    this.open = new Float64Array(capacity);
    this.high = new Float64Array(capacity);
    this.low = new Float64Array(capacity);
    this.close = new Float64Array(capacity);
    this.volume = new Float64Array(capacity);
  }

  /**
   * Keeps the last `keep` candles, then appends rows `rows[0..count)` of a batch's decoded columns (the
   * batch holds every symbol; this series takes its own rows). One copy per candle and column.
   */
  appendRows(cols: DecodedColumns, rows: Int32Array, count: number): void {
    const tail = Math.min(this.length, this.keep);
    const from = this.length - tail;
    const need = tail + count;
    if (need > this.timestamp.length) {
      const cap = Math.max(need, this.timestamp.length * 2);
      const grow = (a: Float64Array): Float64Array => {
        const b = new Float64Array(cap);
        b.set(a.subarray(from, this.length));
        return b;
      };
      this.timestamp = grow(this.timestamp);
      this.open = grow(this.open);
      this.high = grow(this.high);
      this.low = grow(this.low);
      this.close = grow(this.close);
      this.volume = grow(this.volume);
    } else if (from > 0) {
      for (const a of [this.timestamp, this.open, this.high, this.low, this.close, this.volume]) {
        a.copyWithin(0, from, this.length);
      }
    }
    const r0 = rows[0]!;
    if (count > 0 && rows[count - 1]! - r0 === count - 1) {
      // Contiguous rows (a one-symbol batch, or a symbol's run): one block copy per column.
      this.timestamp.set(cols.timestamp.subarray(r0, r0 + count), tail);
      this.open.set(cols.open.subarray(r0, r0 + count), tail);
      this.high.set(cols.high.subarray(r0, r0 + count), tail);
      this.low.set(cols.low.subarray(r0, r0 + count), tail);
      this.close.set(cols.close.subarray(r0, r0 + count), tail);
      this.volume.set(cols.volume.subarray(r0, r0 + count), tail);
      this.base = tail;
      this.length = need;
      return;
    }
    for (let k = 0; k < count; k++) {
      const r = rows[k]!;
      const d = tail + k;
      this.timestamp[d] = cols.timestamp[r]!;
      this.open[d] = cols.open[r]!;
      this.high[d] = cols.high[r]!;
      this.low[d] = cols.low[r]!;
      this.close[d] = cols.close[r]!;
      this.volume[d] = cols.volume[r]!;
    }
    this.base = tail;
    this.length = need;
  }

  candle(k: number): Candle {
    return new CandleRecord(this.timestamp[k]!, this.open[k]!, this.high[k]!, this.low[k]!, this.close[k]!,
      this.volume[k]!, this.symbol);
  }
}

/** The window [start, end) of a Series, moved by the driver; see CandleHistory for the contract. */
export class HistoryView implements CandleHistory {
  private s: Series | null = null;
  private start = 0;
  private end = 0;

  constructor(readonly size: number) {}

  /** Points the view at a series, ending just before store index `end`. */
  moveTo(series: Series | null, end: number): void {
    this.s = series;
    this.end = end;
    this.start = end - this.size > 0 ? end - this.size : 0;
  }

  get length(): number {
    return this.end - this.start;
  }

  get(i: number): Candle | undefined {
    const n = this.end - this.start;
    const k = i < 0 ? n + i : i;
    if (this.s === null || !(k >= 0 && k < n)) return undefined;
    return this.s.candle(this.start + k);
  }

  close(i: number): number { return this.s!.close[this.start + i]!; }
  open(i: number): number { return this.s!.open[this.start + i]!; }
  high(i: number): number { return this.s!.high[this.start + i]!; }
  low(i: number): number { return this.s!.low[this.start + i]!; }
  volume(i: number): number { return this.s!.volume[this.start + i]!; }
  timestamp(i: number): number { return this.s!.timestamp[this.start + i]!; }

  column(name: CandleColumn): Float64Array {
    if (this.s === null) return new Float64Array(0);
    return this.s[name].subarray(this.start, this.end);
  }

  slice(start = 0, end = this.length): Candle[] {
    const n = this.length;
    const a = clamp(start < 0 ? n + start : start, n);
    const b = clamp(end < 0 ? n + end : end, n);
    const out: Candle[] = [];
    for (let i = a; i < b; i++) out.push(this.s!.candle(this.start + i));
    return out;
  }

  *[Symbol.iterator](): Iterator<Candle> {
    for (let i = 0; i < this.length; i++) yield this.s!.candle(this.start + i);
  }
}

function clamp(v: number, n: number): number {
  return v < 0 ? 0 : v > n ? n : v;
}
