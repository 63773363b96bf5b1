/**
 * The stack of a plugin that does not answer: when the host gives up on a call it writes a byte to the
 * pipe named by PLUGHOST_STACK_FD, then kills the process a moment later. A signal handler cannot help
 * (Node runs them on the main thread, which is the one stuck), so a worker thread waits on the pipe and
 * pauses the main thread through the inspector (V8 services that between two loop iterations, even in
 * `while (true) {}`), evaluates `new Error().stack` in its top frame (source-mapped, so `src/*.ts` lines)
 * and writes it on stderr. The inspector session is opened only then.
 */
import { Worker } from 'node:worker_threads';

export const STACK_HEADER = "plughost: stack of the plugin's main thread when it was stopped (most recent call first):";

const WORKER = `
const { Session } = require('node:inspector');
const net = require('node:net');
const fs = require('node:fs');
const { workerData, parentPort } = require('node:worker_threads');
let busy = false;
async function dump() {
  if (busy) return;
  busy = true;
  const session = new Session();
  const post = (method, params) => new Promise((resolve, reject) =>
    session.post(method, params || {}, (e, r) => (e ? reject(e) : resolve(r))));
  try {
    session.connectToMainThread();
    const paused = new Promise((resolve) => session.once('Debugger.paused', (m) => resolve(m.params)));
    await post('Debugger.enable');
    await post('Debugger.pause');
    // The pause lands at the next JavaScript the main thread runs: none comes while it waits for I/O.
    const idle = new Promise((resolve) => setTimeout(resolve, 300, null));
    const params = await Promise.race([paused, idle]);
    if (params === null) {
      fs.writeSync(2, 'plughost: no stack: the main thread runs no JavaScript (it waits for I/O or a Promise)\\n');
      return;
    }
    const frames = params.callFrames;
    const r = await post('Debugger.evaluateOnCallFrame',
      { callFrameId: frames[0].callFrameId, expression: 'new Error().stack', silent: true });
    // Drop "Error" and the frame of the evaluated expression itself.
    const stack = String(r.result.value).split('\\n').slice(1).filter((l) => !/^\\s+at eval \\(eval at /.test(l));
    fs.writeSync(2, workerData.header + '\\n' + stack.join('\\n') + '\\n');
    await post('Debugger.resume');
  } catch (e) {
    fs.writeSync(2, 'plughost: could not take the plugin\\'s stack: ' + String(e) + '\\n');
  } finally {
    session.disconnect();
    busy = false;
  }
}
const pipe = new net.Socket({ fd: workerData.fd, readable: true, writable: false });
pipe.on('data', () => void dump());
pipe.on('error', () => pipe.destroy());
parentPort.postMessage('ready');
`;

/**
 * Starts the watchdog when the host gave a pipe; never keeps the process alive by itself. Resolves once
 * the thread is up (or could not start): the runner says hello only then, because the host may cap the
 * process's address space right after the handshake (memory_limit_mb), and a V8 isolate reserves its
 * address space when it starts.
 */
export function startStackWatchdog(): Promise<void> {
  const raw = process.env['PLUGHOST_STACK_FD'];
  const fd = Number(raw);
  if (!raw || !Number.isInteger(fd) || fd < 0) return Promise.resolve();
  return new Promise((resolve) => {
    let worker: Worker | undefined;
    let timer: NodeJS.Timeout | undefined;
    // Referenced until it is up (nothing else keeps the loop alive before hello), then never again.
    const done = (): void => {
      if (timer !== undefined) clearTimeout(timer);
      worker?.unref();
      resolve();
    };
    try {
      worker = new Worker(WORKER, {
        eval: true, workerData: { fd, header: STACK_HEADER }, stdout: false, stderr: false,
        // A small heap: it only holds one inspector session and a stack string.
        resourceLimits: { maxOldGenerationSizeMb: 8, maxYoungGenerationSizeMb: 2, codeRangeSizeMb: 2, stackSizeMb: 1 },
      });
      // A watchdog that cannot run costs the stack on a timeout, never the run.
      worker.on('error', (e) => {
        process.stderr.write(`plughost runner: the stack watchdog stopped: ${String(e)}\n`);
        done();
      });
      worker.on('exit', done);
      worker.once('message', done);
      timer = setTimeout(done, 2000); // never hold the handshake for it longer than that
    } catch {
      done();
    }
  });
}
