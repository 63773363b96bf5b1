/**
 * Stdout protection (PROTOCOL.md section 1): before plugin code runs, keep the real stdout for the
 * protocol and send everything else written to "stdout" to stderr.
 *
 * On Linux we do what the Python runner does with dup/dup2, without a native addon: open the stdout pipe
 * again through /proc/self/fd/1 (a new descriptor for the protocol), close fd 1, and open
 * /proc/self/fd/2 so that it lands on the lowest free descriptor, 1. After that, fd 1 *is* stderr: a
 * child process inheriting stdout, fs.writeSync(1, ...) or a native addon printing cannot reach the
 * protocol pipe. The protocol descriptor is blocking, so a frame is fully written before the next line of
 * code runs (a result written just before process.exit() is never lost).
 *
 * Elsewhere (no /proc) we fall back to replacing process.stdout.write. console.log/info/debug are
 * pointed at stderr in both cases.
 */
import { closeSync, openSync, writeSync } from 'node:fs';

export type FrameWriter = (frame: Uint8Array) => void;

function writeAll(fd: number, frame: Uint8Array): void {
  let off = 0;
  while (off < frame.length) off += writeSync(fd, frame, off, frame.length - off);
}

/** Moves fd 1 to stderr; returns the new protocol descriptor, or null when that is not possible here. */
function swapFd1(): number | null {
  let proto: number;
  let probe: number;
  try {
    // Both must be reopenable (pipes, ttys, files; not sockets) before anything is closed.
    proto = openSync('/proc/self/fd/1', 'a');
  } catch {
    return null;
  }
  try {
    probe = openSync('/proc/self/fd/2', 'a');
  } catch {
    closeSync(proto);
    return null;
  }
  closeSync(probe);
  closeSync(1);
  // Nothing else runs between close and open (startup, one thread opening files), so 1 is the lowest free.
  const fd = openSync('/proc/self/fd/2', 'a');
  if (fd !== 1) {
    // Cannot happen single-threaded; if it does, fd 1 stays closed: writes to it fail rather than corrupt.
    closeSync(fd);
    process.stderr.write('plughost runner: could not put stderr on fd 1; fd 1 is closed\n');
  }
  return proto;
}

/** A synchronous process.stderr.write over a blocking descriptor of the stderr pipe. */
function stderrWriter(): typeof process.stderr.write | null {
  let fd: number;
  try {
    fd = openSync('/proc/self/fd/2', 'a');
  } catch {
    return null;
  }
  return ((chunk: string | Uint8Array, encoding?: unknown, cb?: unknown): boolean => {
    const callback = typeof encoding === 'function' ? encoding : cb;
    const buf = typeof chunk === 'string' ? Buffer.from(chunk, typeof encoding === 'string' ? encoding as BufferEncoding : 'utf8') : chunk;
    try {
      writeAll(fd, buf);
    } catch {
      // stderr gone (host died): nothing useful to do with a log line.
    }
    if (typeof callback === 'function') (callback as () => void)();
    return true;
  }) as typeof process.stderr.write;
}

export function protectStdout(): FrameWriter {
  const proto = swapFd1();
  let write: FrameWriter;
  if (proto !== null) {
    write = (frame) => writeAll(proto, frame);
    // process.stdout must never be created now: Node would wrap fd 1 and make it non-blocking, and a
    // plugin's fs.writeSync(1, ...) would then fail with EAGAIN whenever the stderr pipe is full.
    Object.defineProperty(process, 'stdout', { configurable: true, enumerable: true, get: () => process.stderr });
    // Node writes stderr pipes asynchronously: lines written just before process.exit() or a crash could
    // be lost, and fd 1 writes could overtake them. Write them synchronously, like Python does.
    const err = stderrWriter();
    if (err !== null) process.stderr.write = err;
  } else {
    const stdout = process.stdout;
    const realWrite = stdout.write.bind(stdout) as (chunk: Uint8Array) => boolean;
    const toStderr = process.stderr.write.bind(process.stderr);
    // Pipes are written synchronously by Node on Linux, so a frame is out before a later process.exit().
    write = (frame) => { realWrite(frame); };
    stdout.write = ((chunk: unknown, encoding?: unknown, cb?: unknown) =>
      (toStderr as (c: unknown, e?: unknown, cb?: unknown) => boolean)(chunk, encoding, cb)) as typeof stdout.write;
  }
  console.log = console.error;
  console.info = console.error;
  console.debug = console.error;
  return write;
}
