/**
 * Per-symbol candle storage and the `ctx.history` view.
 *
 * Each batch is copied once into column buffers that also keep the previous batch's last `history`
 * candles in front of it; `ctx.history` is then a window [end - history, end) over those buffers that the
 * driver moves by one per candle. No per-candle copying, no per-candle allocation.
 */
import type { Candle, CandleColumn, CandleHistory } from './types';
import { copyF64, copyI64AsNumber } from './columns';

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

  /** Keeps the last `keep` candles, appends the batch. One copy per batch and column. */
  append(cols: BinColumns, n: number): void {
    const tail = Math.min(this.length, this.keep);
    const from = this.length - tail;
    const need = tail + n;
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
    copyI64AsNumber(this.timestamp, tail, cols.timestamp, n, 'timestamp');
    copyF64(this.open, tail, cols.open, n, 'open');
    copyF64(this.high, tail, cols.high, n, 'high');
    copyF64(this.low, tail, cols.low, n, 'low');
    copyF64(this.close, tail, cols.close, n, 'close');
    copyF64(this.volume, tail, cols.volume, n, 'volume');
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
