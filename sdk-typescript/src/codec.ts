/**
 * msgpack with the rules of PROTOCOL.md section 3.
 *
 * Decoding: a structural pre-scan (no allocation) refuses what msgpackr would accept or choke on, then
 * msgpackr decodes. The pre-scan exists because msgpackr on its own (a) returns a marker object for the
 * never-used byte 0xc1 instead of failing, (b) has no nesting limit (the host's Python msgpack refuses
 * more than 1024 levels), and (c) would interpret ext types, which protocol v1 does not use.
 *
 * Encoding: our own small encoder, not msgpackr's Packr, because Packr cannot produce the bytes the
 * protocol pins (verified against protocol/vectors/frames.json with msgpackr 2.1.4):
 *   - an integral JS number beyond 32 bits (every ms timestamp) is written as float 64 (0xcb), where the
 *     rule "smallest int format" requires uint 64 (0xcf) / int 64 (0xd3);
 *   - a positive BigInt is written as int 64 (0xd3) where Python writes uint 64 (0xcf);
 *   - without `variableMapSize`, small maps are written as map 16.
 * Plugin-to-host messages are small (signals, positions, error maps), so encoder speed matters little.
 */
import { Unpackr } from 'msgpackr';
import { ProtocolError } from './errors';

/** Deepest container nesting accepted, the same as the host's Python msgpack (its stack holds 1024). */
export const MAX_DEPTH = 1024;

const unpackr = new Unpackr({
  useRecords: false,
  mapsAsObjects: true,
  // int64/uint64 beyond 2^53 decode as BigInt, smaller ones as number. msgpackr implements 'auto'
  // (unpack.js, cases 0xcf/0xd3) but its index.d.ts does not list it, hence the cast.
  int64AsType: 'auto' as 'bigint',
});

/** Decode one msgpack body; anything malformed is a ProtocolError('invalid msgpack'). */
export function decode(body: Uint8Array): unknown {
  scan(body);
  try {
    return unpackr.unpack(body);
  } catch (err) {
    throw new ProtocolError('invalid msgpack', String((err as Error)?.message ?? err));
  }
}

function bad(detail: string): never {
  throw new ProtocolError('invalid msgpack', detail);
}

/**
 * Walks the value's structure without building it: every length within the body, no 0xc1, no ext,
 * nesting within MAX_DEPTH, and exactly one value with no trailing bytes. Iterative, so a hostile
 * nesting depth cannot overflow the JS stack.
 */
export function scan(b: Uint8Array): void {
  const end = b.length;
  const stack: number[] = [];
  let remaining = 1;
  let pos = 0;
  const need = (n: number): void => {
    if (pos + n > end) bad(`truncated at byte ${pos}`);
  };
  const u8 = (): number => {
    need(1);
    return b[pos++]!;
  };
  const u16 = (): number => {
    need(2);
    const v = (b[pos]! << 8) | b[pos + 1]!;
    pos += 2;
    return v;
  };
  const u32 = (): number => {
    need(4);
    const v = ((b[pos]! << 24) >>> 0) + (b[pos + 1]! << 16) + (b[pos + 2]! << 8) + b[pos + 3]!;
    pos += 4;
    return v;
  };
  for (;;) {
    if (remaining === 0) {
      if (stack.length === 0) break;
      remaining = stack.pop()!;
      continue;
    }
    remaining--;
    if (pos >= end) bad(`truncated at byte ${pos}`);
    const t = b[pos++]!;
    let items = -1;
    let skip = 0;
    if (t <= 0x7f || t >= 0xe0) {
      // positive / negative fixint
    } else if (t <= 0x8f) {
      items = (t & 0x0f) * 2;
    } else if (t <= 0x9f) {
      items = t & 0x0f;
    } else if (t <= 0xbf) {
      skip = t & 0x1f;
    } else {
      switch (t) {
        case 0xc0: case 0xc2: case 0xc3: break;
        case 0xc1: bad(`byte 0xc1 (never used) at ${pos - 1}`);
        case 0xc4: case 0xd9: skip = u8(); break;
        case 0xc5: case 0xda: skip = u16(); break;
        case 0xc6: case 0xdb: skip = u32(); break;
        case 0xcc: case 0xd0: skip = 1; break;
        case 0xcd: case 0xd1: skip = 2; break;
        case 0xca: case 0xce: case 0xd2: skip = 4; break;
        case 0xcb: case 0xcf: case 0xd3: skip = 8; break;
        case 0xdc: items = u16(); break;
        case 0xdd: items = u32(); break;
        case 0xde: items = u16() * 2; break;
        case 0xdf: items = u32() * 2; break;
        default: bad(`ext type 0x${t.toString(16)} at ${pos - 1} (protocol v1 uses no ext types)`);
      }
    }
    if (skip > 0) {
      need(skip);
      pos += skip;
    }
    if (items >= 0) {
      if (stack.length + 1 > MAX_DEPTH) bad(`nesting deeper than ${MAX_DEPTH}`);
      // Every item takes at least one byte: a count beyond the bytes left is a lie, refuse it now.
      if (items > end - pos) bad(`container claims ${items} items, only ${end - pos} bytes left`);
      stack.push(remaining);
      remaining = items;
    }
  }
  if (pos !== end) bad(`${end - pos} trailing bytes after the value`);
}

/** Encode a value per the protocol's rules. Throws TypeError for values msgpack cannot carry. */
export function encode(value: unknown): Buffer {
  const w = new Writer();
  w.value(value, 0);
  return w.finish();
}

const TWO_32 = 2 ** 32;

class Writer {
  private buf = Buffer.allocUnsafe(256);
  private pos = 0;

  finish(): Buffer {
    return this.buf.subarray(0, this.pos);
  }

  private ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.pos + n) size *= 2;
    const next = Buffer.allocUnsafe(size);
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }

  private byte(v: number): void {
    this.ensure(1);
    this.buf[this.pos++] = v;
  }

  private head(t: number, n: number, bytes: 1 | 2 | 4 | 8): void {
    this.ensure(1 + bytes);
    const b = this.buf;
    b[this.pos++] = t;
    if (bytes === 1) b.writeUInt8(n, this.pos);
    else if (bytes === 2) b.writeUInt16BE(n, this.pos);
    else if (bytes === 4) b.writeUInt32BE(n, this.pos);
    this.pos += bytes;
  }

  value(v: unknown, depth: number): void {
    if (depth > MAX_DEPTH) throw new TypeError(`value nested deeper than ${MAX_DEPTH} (a cycle?)`);
    switch (typeof v) {
      case 'undefined': this.byte(0xc0); return;
      case 'boolean': this.byte(v ? 0xc3 : 0xc2); return;
      case 'number':
        // -0 is integral but not an integer: as float 64 its sign survives the round trip.
        if (Number.isSafeInteger(v) && !Object.is(v, -0)) this.int(v);
        else this.float(v);
        return;
      case 'bigint': this.bigint(v); return;
      case 'string': this.str(v); return;
      case 'object':
        if (v === null) this.byte(0xc0);
        else if (v instanceof Uint8Array) this.bin(v);
        else if (v instanceof ArrayBuffer) this.bin(new Uint8Array(v));
        else if (Array.isArray(v)) this.array(v, depth);
        else if (v instanceof Map) this.map([...v.entries()], depth);
        else if (isRecordLike(v)) this.map(Object.entries(v), depth);
        else throw new TypeError(`cannot encode ${Object.prototype.toString.call(v)} in msgpack`);
        return;
      default:
        throw new TypeError(`cannot encode a ${typeof v} in msgpack`);
    }
  }

  private float(v: number): void {
    this.ensure(9);
    this.buf[this.pos++] = 0xcb;
    this.buf.writeDoubleBE(v, this.pos);
    this.pos += 8;
  }

  /** Smallest format, as msgpack-python writes it: fixint, uint8..64 for >= 0, int8..64 for < 0. */
  private int(v: number): void {
    if (v >= 0) {
      if (v < 0x80) this.byte(v);
      else if (v < 0x100) this.head(0xcc, v, 1);
      else if (v < 0x10000) this.head(0xcd, v, 2);
      else if (v < TWO_32) this.head(0xce, v, 4);
      else this.u64(0xcf, BigInt(v));
    } else {
      if (v >= -32) this.byte(v & 0xff);
      else if (v >= -0x80) { this.ensure(2); this.buf[this.pos++] = 0xd0; this.buf.writeInt8(v, this.pos); this.pos += 1; }
      else if (v >= -0x8000) { this.ensure(3); this.buf[this.pos++] = 0xd1; this.buf.writeInt16BE(v, this.pos); this.pos += 2; }
      else if (v >= -0x80000000) { this.ensure(5); this.buf[this.pos++] = 0xd2; this.buf.writeInt32BE(v, this.pos); this.pos += 4; }
      else this.u64(0xd3, BigInt(v));
    }
  }

  private bigint(v: bigint): void {
    if (v >= -(2n ** 63n) && v < 2n ** 53n && v > -(2n ** 53n)) this.int(Number(v));
    else if (v >= 0n && v < 2n ** 64n) this.u64(0xcf, v);
    else if (v < 0n && v >= -(2n ** 63n)) this.u64(0xd3, v);
    else throw new TypeError(`integer ${v} does not fit in 64 bits`);
  }

  private u64(t: 0xcf | 0xd3, v: bigint): void {
    this.ensure(9);
    this.buf[this.pos++] = t;
    if (t === 0xcf) this.buf.writeBigUInt64BE(v, this.pos);
    else this.buf.writeBigInt64BE(v, this.pos);
    this.pos += 8;
  }

  private str(s: string): void {
    const n = Buffer.byteLength(s, 'utf8');
    if (n < 32) this.byte(0xa0 | n);
    else if (n < 0x100) this.head(0xd9, n, 1);
    else if (n < 0x10000) this.head(0xda, n, 2);
    else this.head(0xdb, n, 4);
    this.ensure(n);
    this.pos += this.buf.write(s, this.pos, n, 'utf8');
  }

  private bin(b: Uint8Array): void {
    const n = b.length;
    if (n < 0x100) this.head(0xc4, n, 1);
    else if (n < 0x10000) this.head(0xc5, n, 2);
    else this.head(0xc6, n, 4);
    this.ensure(n);
    this.buf.set(b, this.pos);
    this.pos += n;
  }

  private array(a: readonly unknown[], depth: number): void {
    const n = a.length;
    if (n < 16) this.byte(0x90 | n);
    else if (n < 0x10000) this.head(0xdc, n, 2);
    else this.head(0xdd, n, 4);
    for (let i = 0; i < n; i++) this.value(a[i], depth + 1);
  }

  private map(entries: [unknown, unknown][], depth: number): void {
    const n = entries.length;
    if (n < 16) this.byte(0x80 | n);
    else if (n < 0x10000) this.head(0xde, n, 2);
    else this.head(0xdf, n, 4);
    for (const [k, v] of entries) {
      this.str(String(k));
      this.value(v, depth + 1);
    }
  }
}

/** Plain objects and class instances become maps of their own enumerable keys; others are refused. */
function isRecordLike(v: object): boolean {
  return !(ArrayBuffer.isView(v) || v instanceof Date || v instanceof RegExp || v instanceof Set ||
    typeof (v as { then?: unknown }).then === 'function');
}
