/**
 * A warm spare (host-internal, PROTOCOL.md section 11): Node cannot fork, so for a warm start the host
 * starts this runner ahead of time with PLUGHOST_SPARE_FD set and no plugin named. The runner gets past
 * Node's start-up and its own imports, then blocks here, before any plugin code runs, until the host
 * writes the plugin's whole environment and folder as JSON on that descriptor and closes it. From then on
 * it is the runner of a cold start: it loads the plugin and speaks the protocol on its own stdio, serving
 * one plugin for one run. End of file with nothing written means "not needed": it exits.
 */
import { closeSync, readSync } from 'node:fs';
import { join } from 'node:path';
import { importEntry } from './loader';

export const SPARE_FD_VAR = 'PLUGHOST_SPARE_FD';

export interface Assignment {
  env: Record<string, string>;
  cwd: string;
}

/** The descriptor to wait on, or null when this runner was started cold. */
export function spareFdFromEnv(): number | null {
  const raw = process.env[SPARE_FD_VAR];
  if (raw === undefined || raw === '') return null;
  const fd = Number(raw);
  return Number.isInteger(fd) && fd >= 0 ? fd : null;
}

/**
 * Node sets up its ES module loader at the first `import()`: ~10 ms of a warm start's ~15 when the
 * plugin's own import paid it. The SDK's index (pure re-exports of modules the runner has loaded, what
 * plugins import as `@plughost/sdk`) pays it instead, before the spare waits. A failure only costs time.
 */
export async function warmModuleLoader(): Promise<void> {
  try {
    await importEntry(join(__dirname, 'index.js'));
  } catch {
    // the plugin's import sets the loader up, as in a cold start
  }
}

const pause = new Int32Array(new SharedArrayBuffer(4));

/** Blocks the main thread (nothing else is due before the plugin loads) until the host closes `fd`. */
export function readAssignment(fd: number): Assignment | null {
  const chunks: Buffer[] = [];
  const buf = Buffer.alloc(1 << 16);
  for (;;) {
    let n: number;
    try {
      n = readSync(fd, buf, 0, buf.length, null);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'EAGAIN' || code === 'EINTR') {
        Atomics.wait(pause, 0, 0, 1);
        continue;
      }
      throw e;
    }
    if (n === 0) break;
    chunks.push(Buffer.from(buf.subarray(0, n)));
  }
  closeSync(fd);
  if (chunks.length === 0) return null;
  const parsed: unknown = JSON.parse(Buffer.concat(chunks).toString('utf8'));
  const o = parsed as Partial<Assignment> | null;
  if (o === null || typeof o !== 'object' || typeof o.cwd !== 'string' || o.env === null || typeof o.env !== 'object') {
    throw new Error('the assignment must be {"env": {...}, "cwd": "..."}');
  }
  return { env: o.env, cwd: o.cwd };
}

/** Makes this process's environment and folder exactly those of a cold start of the plugin. */
export function applyAssignment(a: Assignment): void {
  for (const key of Object.keys(process.env)) {
    if (!Object.prototype.hasOwnProperty.call(a.env, key)) delete process.env[key];
  }
  for (const [key, value] of Object.entries(a.env)) process.env[key] = String(value);
  process.chdir(a.cwd);
}
