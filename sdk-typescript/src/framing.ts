/**
 * Framing (PROTOCOL.md section 2): a 4-byte big-endian body length, then the msgpack body.
 * The decoder is incremental (feed it chunks as they arrive) and checks the length against the maximum
 * before allocating anything for the body, so a garbage header can never make it allocate 4 GiB.
 */
import { ProtocolError } from './errors';

export const DEFAULT_MAX_FRAME = 64 * 1024 * 1024;
const HEADER = 4;

/** Header + body as one buffer, ready to write. */
export function encodeFrame(body: Uint8Array): Buffer {
  if (body.length === 0) throw new ProtocolError('empty frame', 'refusing to write a frame with an empty body');
  const out = Buffer.allocUnsafe(HEADER + body.length);
  out.writeUInt32BE(body.length, 0);
  out.set(body, HEADER);
  return out;
}

export function checkLength(length: number, maxFrame: number, firstBytes: Uint8Array): void {
  if (length === 0) throw new ProtocolError('empty frame', 'frame length is 0');
  if (length > maxFrame) {
    const seen = Buffer.from(firstBytes).toString('hex');
    throw new ProtocolError('frame too large', `frame length ${length} exceeds the maximum ${maxFrame} (first bytes: ${seen})`);
  }
}

/**
 * Incremental frame decoder. `push` returns the complete bodies found so far, in order. Once it has
 * thrown a ProtocolError the stream is broken and the decoder must not be used again.
 */
export class FrameDecoder {
  private header = Buffer.alloc(HEADER);
  private headerFill = 0;
  private body: Buffer | null = null;
  private bodyFill = 0;

  constructor(readonly maxFrame: number = DEFAULT_MAX_FRAME) {}

  /** True while a frame has been started but not finished (for end-of-stream diagnostics). */
  get midFrame(): boolean {
    return this.headerFill > 0 || this.body !== null;
  }

  push(chunk: Uint8Array): Uint8Array[] {
    const out: Uint8Array[] = [];
    let pos = 0;
    while (pos < chunk.length) {
      if (this.body === null) {
        // Fast path: a whole frame inside this chunk is returned as a view, without copying.
        if (this.headerFill === 0 && chunk.length - pos >= HEADER) {
          const length = readU32(chunk, pos);
          checkLength(length, this.maxFrame, chunk.subarray(pos, pos + 16));
          if (chunk.length - pos - HEADER >= length) {
            out.push(chunk.subarray(pos + HEADER, pos + HEADER + length));
            pos += HEADER + length;
            continue;
          }
          this.startBody(length);
          pos += HEADER;
          continue;
        }
        const take = Math.min(HEADER - this.headerFill, chunk.length - pos);
        this.header.set(chunk.subarray(pos, pos + take), this.headerFill);
        this.headerFill += take;
        pos += take;
        if (this.headerFill === HEADER) {
          const length = readU32(this.header, 0);
          checkLength(length, this.maxFrame, this.header);
          this.startBody(length);
        }
        continue;
      }
      const body = this.body;
      const take = Math.min(body.length - this.bodyFill, chunk.length - pos);
      body.set(chunk.subarray(pos, pos + take), this.bodyFill);
      this.bodyFill += take;
      pos += take;
      if (this.bodyFill === body.length) {
        out.push(body);
        this.body = null;
        this.bodyFill = 0;
      }
    }
    return out;
  }

  private startBody(length: number): void {
    // Not from Buffer's shared pool: a large body gets its own 8-aligned ArrayBuffer.
    this.body = Buffer.allocUnsafeSlow(length);
    this.bodyFill = 0;
    this.headerFill = 0;
  }
}

function readU32(b: Uint8Array, at: number): number {
  return ((b[at]! << 24) >>> 0) + (b[at + 1]! << 16) + (b[at + 2]! << 8) + b[at + 3]!;
}
