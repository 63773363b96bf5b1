/**
 * The program the host starts: `node <sdk-typescript>/dist/runner.js` with the env of PROTOCOL.md
 * section 1. Protects stdout, loads the plugin, says hello, serves stdin until it ends.
 */
import { protectStdout } from './stdio';
import { loadPlugin } from './loader';
import { describeLoadError, loadErrorMap } from './loaderror';
import { encodeFrame } from './framing';
import { encode } from './codec';
import { notification } from './messages';
import { Server, type PluginKind } from './server';
import { DEFAULT_MAX_FRAME } from './framing';
import { MAGIC_COOKIE } from './version';
import { startStackWatchdog } from './watchdog';
import { spinnerFromEnv } from './spin';
import { applyAssignment, readAssignment, spareFdFromEnv, warmModuleLoader } from './spare';

const log = (line: string): void => {
  process.stderr.write(line.endsWith('\n') ? line : line + '\n');
};

function fatal(message: string): never {
  log(message);
  process.exit(1);
}

function maxFrameFromEnv(): number {
  const raw = process.env['PLUGHOST_MAX_FRAME'];
  if (raw === undefined || raw === '') return DEFAULT_MAX_FRAME;
  const v = Number(raw);
  if (!Number.isInteger(v) || v <= 0) fatal(`plughost runner: PLUGHOST_MAX_FRAME must be a positive integer, got ${raw}`);
  return v;
}

/** Exits when the parent is gone even if stdin stays open (e.g. inherited by a grandchild). */
function watchParent(): void {
  const parent = process.ppid;
  setInterval(() => {
    if (process.ppid !== parent) process.exit(1);
  }, 1000).unref();
}

async function main(): Promise<void> {
  if (process.env['PLUGHOST_MAGIC_COOKIE'] !== MAGIC_COOKIE) {
    process.stderr.write('this is the plughost plugin runner; plugins are started by `plughost run`, not by hand\n');
    process.exit(1);
  }
  // Stack traces of a built plugin point at its src/*.ts lines (its tsconfig emits source maps).
  process.setSourceMapsEnabled(true);
  const writeFrame = protectStdout();
  let watchdog: Promise<void> | null = null;
  const spareFd = spareFdFromEnv();
  if (spareFd !== null) {
    // A warm spare (spare.ts): everything that needs no plugin is done before it waits, the stack
    // watchdog's thread and the module loader included.
    watchdog = startStackWatchdog();
    await Promise.all([watchdog, warmModuleLoader()]);
    let assignment;
    try {
      assignment = readAssignment(spareFd);
    } catch (e) {
      fatal(`plughost runner: bad assignment from the host: ${(e as Error)?.message ?? String(e)}`);
    }
    if (assignment === null) process.exit(0); // not needed after all
    try {
      applyAssignment(assignment);
    } catch (e) {
      fatal(`plughost runner: could not become the plugin's process: ${(e as Error)?.message ?? String(e)}`);
    }
  }
  const spinner = spinnerFromEnv(); // after the fd 1 swap, which wants no file opened in between
  const write = (frame: Uint8Array): void => {
    writeFrame(frame);
    spinner.wrote();
  };
  const entry = process.env['PLUGHOST_PLUGIN_ENTRY'];
  if (!entry) fatal('plughost runner: PLUGHOST_PLUGIN_ENTRY is not set');
  const kindRaw = process.env['PLUGHOST_PLUGIN_TYPE'] ?? 'strategy';
  if (kindRaw !== 'strategy' && kindRaw !== 'feature') fatal(`plughost runner: PLUGHOST_PLUGIN_TYPE must be strategy or feature, got ${kindRaw}`);
  const kind: PluginKind = kindRaw;
  const maxFrame = maxFrameFromEnv();
  watchParent();

  watchdog ??= startStackWatchdog(); // its thread starts while the plugin loads
  let plugin;
  try {
    plugin = await loadPlugin(entry, kind);
  } catch (e) {
    // Instead of hello: the host reports PLUGIN_LOAD_FAILED at the author's line.
    const error = loadErrorMap(e, entry);
    log(describeLoadError(process.env['PLUGHOST_PLUGIN_NAME'] ?? entry, error));
    write(encodeFrame(encode(notification('load_error', { ...error }))));
    process.exit(1);
  }

  const server = new Server({ plugin, kind, write, log, maxFrame, onShutdown: () => process.exit(0) });
  process.stdin.on('data', (chunk: Buffer) => {
    spinner.arrived();
    try {
      server.feed(chunk);
    } catch (e) {
      fatal(`plughost runner: protocol error from the host: ${(e as Error)?.message ?? String(e)}`);
    }
  });
  process.stdin.on('end', () => process.exit(0));
  process.stdin.on('error', () => process.exit(0));
  await watchdog;
  server.hello();
}

process.on('unhandledRejection', (e) => {
  // A plugin's stray Promise rejected and nothing handled it: the plugin's state is unknown, so the run
  // fails (PLUGIN_CRASHED, with this report in its stderr tail), as docs/typescript-sdk.md says, rather
  // than go on with results that may be wrong.
  fatal(`plughost runner: unhandled promise rejection in the plugin: ${(e as Error)?.stack ?? String(e)}`);
});

void main();
