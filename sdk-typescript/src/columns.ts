/**
 * Columnar candles (PROTOCOL.md section 6, `candles`): each column is a msgpack bin of n little-endian
 * int64 (timestamp) or float64 values. We read them with typed arrays; a bin sits at an arbitrary offset
 * inside the frame, so a Float64Array view is only possible when that offset is 8-aligned, else we copy.
 */
import { endianness } from 'node:os';
import { ProtocolError } from './errors';

const LITTLE_ENDIAN = endianness() === 'LE';

export const CANDLE_COLUMNS = ['timestamp', 'open', 'high', 'low', 'close', 'volume'] as const;

function checkSize(bin: Uint8Array, n: number, name: string): void {
  if (bin.byteLength !== n * 8) {
    throw new ProtocolError('invalid message', `column ${name} has ${bin.byteLength} bytes, expected ${n} x 8`);
  }
}

/** A Float64Array over a bin of n float64: a view when aligned, else a copy. */
export function f64View(bin: Uint8Array, n: number, name: string): Float64Array {
  checkSize(bin, n, name);
  if (LITTLE_ENDIAN && bin.byteOffset % 8 === 0) return new Float64Array(bin.buffer, bin.byteOffset, n);
  const out = new Float64Array(n);
  copyF64(out, 0, bin, n, name);
  return out;
}

/** Copies n float64 from a bin into dst[at..at+n), whatever the bin's alignment (a byte copy). */
export function copyF64(dst: Float64Array, at: number, bin: Uint8Array, n: number, name: string): void {
  checkSize(bin, n, name);
  if (LITTLE_ENDIAN) {
    new Uint8Array(dst.buffer, dst.byteOffset + at * 8, n * 8).set(bin);
    return;
  }
  const dv = new DataView(bin.buffer, bin.byteOffset, bin.byteLength);
  for (let i = 0; i < n; i++) dst[at + i] = dv.getFloat64(i * 8, true);
}

/**
 * Copies n int64 ms timestamps into dst as JS numbers (exact below 2^53, i.e. for any date before the
 * year 287396). Reads the two 32-bit halves rather than BigInt: no allocation per value.
 */
export function copyI64AsNumber(dst: Float64Array, at: number, bin: Uint8Array, n: number, name: string): void {
  checkSize(bin, n, name);
  const dv = new DataView(bin.buffer, bin.byteOffset, bin.byteLength);
  for (let i = 0; i < n; i++) {
    const lo = dv.getUint32(i * 8, true);
    const hi = dv.getInt32(i * 8 + 4, true);
    dst[at + i] = hi * 4294967296 + lo;
  }
}

/** An Int32Array over a bin of n int32 (the `symbol` column): a view when aligned, else a copy. */
export function i32View(bin: Uint8Array, n: number, name: string): Int32Array {
  if (bin.byteLength !== n * 4) {
    throw new ProtocolError('invalid message', `column ${name} has ${bin.byteLength} bytes, expected ${n} x 4`);
  }
  if (LITTLE_ENDIAN && bin.byteOffset % 4 === 0) return new Int32Array(bin.buffer, bin.byteOffset, n);
  const out = new Int32Array(n);
  const dv = new DataView(bin.buffer, bin.byteOffset, bin.byteLength);
  for (let i = 0; i < n; i++) out[i] = dv.getInt32(i * 4, true);
  return out;
}
