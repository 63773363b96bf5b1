/**
 * Stdout protection (PROTOCOL.md section 1): before plugin code runs, keep the real stdout writer for the
 * protocol and send everything else written to "stdout" to stderr. (Node cannot dup2, so a plugin that
 * writes to fd 1 with fs.writeSync(1, ...) still bypasses this; nothing short of a dup2 can stop that.)
 */
export type FrameWriter = (frame: Uint8Array) => void;

export function protectStdout(): FrameWriter {
  const stdout = process.stdout;
  const realWrite = stdout.write.bind(stdout) as (chunk: Uint8Array) => boolean;
  const toStderr = process.stderr.write.bind(process.stderr);
  stdout.write = ((chunk: unknown, encoding?: unknown, cb?: unknown) =>
    (toStderr as (c: unknown, e?: unknown, cb?: unknown) => boolean)(chunk, encoding, cb)) as typeof stdout.write;
  console.log = console.error;
  console.info = console.error;
  console.debug = console.error;
  // Pipes are written synchronously by Node on Linux, so a frame is out before a later process.exit().
  return (frame) => {
    realWrite(frame);
  };
}
