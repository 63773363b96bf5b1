/**
 * The position mirror (PROTOCOL.md section 8): the same long-only, one-position-per-symbol rules the host
 * applies, so that `ctx.position` is right inside a batch. The host stays the authority and compares its
 * position with the mirror's after each batch.
 */
import { SignalError } from './errors';
import type { Position, Signal } from './types';

export type Outcome = 'filled' | 'ignored' | 'rejected';

/**
 * Where a signal's fill price comes from. For a candle signal `bar` is that candle; for an alert signal
 * it is the next candle (candle `at` of the batch) and `hasBar` is false when there is none.
 */
export interface FillRef {
  fromAlert: boolean;
  alertPrice: number | null;
  hasBar: boolean;
  open: number;
  high: number;
  low: number;
  close: number;
  /** The candle's timestamp, or for an alert signal the alert's. */
  timestamp: number;
}

/** Refuses what section 8 calls the plugin's error: unknown type, size <= 0, a NaN price. */
export function checkSignal(s: Signal): void {
  if (s.type !== 'entry' && s.type !== 'exit' && s.type !== 'hold') {
    throw new SignalError(`unknown signal type ${JSON.stringify(s.type)} (expected entry, exit or hold)`);
  }
  if (s.size !== undefined && s.size !== null && !(typeof s.size === 'number' && s.size > 0)) {
    throw new SignalError(`signal size must be a number > 0, got ${String(s.size)}`);
  }
  if (s.price !== undefined && s.price !== null && !(typeof s.price === 'number' && !Number.isNaN(s.price))) {
    throw new SignalError(`signal price must be a number, got ${String(s.price)}`);
  }
  if (s.reason !== undefined && s.reason !== null && typeof s.reason !== 'string') {
    throw new SignalError(`signal reason must be a string, got ${typeof s.reason}`);
  }
}

export class PositionMirror {
  position: Position | null = null;
  ignored = 0;
  rejected = 0;
  /** Price and size of the last fill (valid when apply returned 'filled'). */
  fillPrice = NaN;
  fillSize = NaN;

  constructor(public runSize: number) {}

  reset(): void {
    this.position = null;
    this.ignored = 0;
    this.rejected = 0;
  }

  /** Applies one checked, non-hold signal. Order: state (ignored), then price (rejected), then fill. */
  apply(isEntry: boolean, price: number | null | undefined, size: number | null | undefined, ref: FillRef): Outcome {
    const pos = this.position;
    if (isEntry ? pos !== null : pos === null) {
      this.ignored++;
      return 'ignored';
    }
    let fill: number;
    if (price === null || price === undefined) {
      if (!ref.fromAlert) fill = ref.close;
      else if (ref.alertPrice !== null) fill = ref.alertPrice;
      else if (ref.hasBar) fill = ref.open;
      else return this.reject();
    } else {
      if (!ref.hasBar || !(ref.low <= price && price <= ref.high)) return this.reject();
      fill = price;
    }
    this.fillPrice = fill;
    if (isEntry) {
      const s = size ?? this.runSize;
      this.fillSize = s;
      this.position = { entryPrice: fill, size: s, entryTimestamp: ref.timestamp };
    } else {
      const held = pos!.size;
      const closed = size === null || size === undefined ? held : Math.min(size, held);
      this.fillSize = closed;
      const left = held - closed;
      this.position = left > 0 ? { entryPrice: pos!.entryPrice, size: left, entryTimestamp: pos!.entryTimestamp } : null;
    }
    return 'filled';
  }

  private reject(): Outcome {
    this.rejected++;
    return 'rejected';
  }
}
