/** The real runner process: env checks, loading ESM/CJS, stdout protection, stdin EOF. */
import { after, test } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { join } from 'node:path';
import { decode, encode } from '../src/codec';
import { FrameDecoder, encodeFrame } from '../src/framing';
import { FIXTURES, SDK_ROOT, candlesParams, rowsFromCloses } from './helpers';
import { withSignalMaps } from './harness';

const RUNNER = join(SDK_ROOT, 'dist', 'runner.js');
const INIT = { config: {}, run_id: 'r', run: { history: 10, size: 1, symbols: ['X'], rules: {} } };
/** A runner that misbehaves must fail its test, never hang the suite. */
const TIMEOUT = { timeout: 20_000 };

function env(entry: string, type = 'strategy'): NodeJS.ProcessEnv {
  return {
    PATH: process.env['PATH'], PLUGHOST_MAGIC_COOKIE: 'plughost-plugin-v1', PLUGHOST_PROTOCOL_VERSIONS: '2,3',
    PLUGHOST_PLUGIN_ENTRY: join(FIXTURES, entry), PLUGHOST_PLUGIN_NAME: 'x', PLUGHOST_PLUGIN_TYPE: type,
  };
}

/** Every runner started here is killed at the end, whatever happened to its test. */
const spawned: ChildProcessWithoutNullStreams[] = [];
after(() => spawned.forEach((p) => p.exitCode === null && p.kill('SIGKILL')));

class Child {
  readonly proc: ChildProcessWithoutNullStreams;
  readonly frames: unknown[] = [];
  stderr = '';
  private readonly dec = new FrameDecoder();
  private waiters: (() => void)[] = [];
  readonly exited: Promise<number | null>;

  /** viaPipe: give the runner real pipes as stdout and stderr (Node's spawn uses socketpairs) through cat. */
  constructor(entry: string, type = 'strategy', viaPipe = false) {
    this.proc = viaPipe
      ? spawn('/bin/bash', ['-c', `"${process.execPath}" "${RUNNER}" 2> >(cat >&2) | cat`], { env: { ...env(entry, type), NOISY_FD1: '1' } })
      : spawn(process.execPath, [RUNNER], { env: env(entry, type) });
    spawned.push(this.proc);
    this.proc.stdout.on('data', (b: Buffer) => {
      for (const f of this.dec.push(b)) this.frames.push(withSignalMaps(decode(f)));
      this.waiters.splice(0).forEach((w) => w());
    });
    this.proc.stderr.on('data', (b: Buffer) => { this.stderr += b.toString(); });
    this.exited = new Promise((res) => this.proc.on('exit', (code) => res(code)));
  }

  async next(): Promise<unknown> {
    while (this.frames.length === 0) {
      await new Promise<void>((res, rej) => {
        this.waiters.push(res);
        setTimeout(() => rej(new Error(`no frame; stderr: ${this.stderr}`)), 5000).unref();
      });
    }
    return this.frames.shift();
  }

  send(message: unknown): void {
    this.proc.stdin.write(encodeFrame(encode(message)));
  }
}

test('without the magic cookie the runner explains itself in one line and exits 1', TIMEOUT, () => {
  const r = spawnSync(process.execPath, [RUNNER], { env: { PATH: process.env['PATH'] }, encoding: 'utf8' });
  assert.equal(r.status, 1);
  assert.equal(r.stdout, '');
  assert.match(r.stderr, /^this is the plughost plugin runner; plugins are started by `plughost run`.*\n$/);
});

test('console.log and stdout writes in a plugin go to stderr, the stream stays clean; EOF exits 0', TIMEOUT, async () => {
  const c = new Child('noisy-class.cjs');
  const hello = (await c.next()) as unknown[];
  assert.equal(hello[1], 'hello');
  assert.deepEqual((hello[2] as Record<string, unknown>)['plugin'], { name: 'noisy', version: '1.0.0', type: 'strategy' });
  c.send([0, 1, 'initialize', INIT]);
  assert.deepEqual(await c.next(), [1, 1, null, null]);
  c.send([0, 2, 'candles', candlesParams('X', 0, rowsFromCloses([1, 2, 3, 4]), { last: true })]);
  const r = (await c.next()) as unknown[];
  assert.deepEqual((r[3] as Record<string, unknown[]>)['signals']!.length, 2);
  c.proc.stdin.end();
  assert.equal(await c.exited, 0);
  assert.match(c.stderr, /constructed/);
  assert.match(c.stderr, /raw stdout write/);
  assert.match(c.stderr, /log 4/);

});

test('with a real pipe as stdout, fd 1 writes and child processes go to stderr', TIMEOUT, async () => {
  const c = new Child('noisy-class.cjs', 'strategy', true);
  await c.next();
  c.send([0, 9, 'initialize', INIT]);
  assert.deepEqual(await c.next(), [1, 9, null, null]);
  c.send([0, 1, 'candles', candlesParams('X', 0, rowsFromCloses([1, 2, 3, 4]), { last: true })]);
  const r = (await c.next()) as unknown[];
  assert.equal(r[2], null, JSON.stringify(r[2]));
  assert.equal((r[3] as Record<string, unknown[]>)['signals']!.length, 2);
  c.proc.stdin.end();
  await c.exited;
  assert.match(c.stderr, /fd1 write/);
  assert.match(c.stderr, /child on stdout/);
  assert.doesNotMatch(c.stderr, /could not move fd 1/);
});

test('a console.log flood does not corrupt the stream', TIMEOUT, async () => {
  const c = new Child('noisy-class.cjs');
  await c.next();
  c.send([0, 9, 'initialize', INIT]);
  assert.deepEqual(await c.next(), [1, 9, null, null]);
  const closes = Array.from({ length: 20000 }, (_, i) => (i % 2 ? 1 : 3));
  c.send([0, 1, 'candles', candlesParams('X', 0, rowsFromCloses(closes), { last: true })]);
  const r = (await c.next()) as unknown[];
  assert.equal(r[2], null);
  assert.equal((r[3] as Record<string, unknown[]>)['signals']!.length, 10000);
  c.send([0, 2, 'shutdown', null]);
  assert.deepEqual(await c.next(), [1, 2, null, null]);
  assert.equal(await c.exited, 0);
});

test('ESM default object and tsc CommonJS default class both load', TIMEOUT, async () => {
  for (const entry of ['esm-object.mjs', 'tsc-cjs.js']) {
    const c = new Child(entry);
    const hello = (await c.next()) as unknown[];
    assert.deepEqual((hello[2] as Record<string, unknown>)['methods'], ['on_candle'], entry);
    assert.equal((hello[2] as Record<string, unknown>)['protocol'], 3);
    c.send([0, 9, 'initialize', INIT]);
    assert.deepEqual(await c.next(), [1, 9, null, null]);
    c.send([0, 1, 'candles', candlesParams('X', 0, rowsFromCloses([1]), { last: true })]);
    assert.deepEqual(await c.next(), [1, 1, null, { signals: [], book: { cash: 10000, positions: {} } }]);
    c.proc.stdin.end();
    assert.equal(await c.exited, 0);
  }
});

test('a strategy without onCandle/onBatch still says hello, with the methods it has (the host refuses it)',
  TIMEOUT, async () => {
    const c = new Child('no-methods.cjs');
    const hello = await c.next() as unknown[];
    assert.equal(hello[1], 'hello');
    assert.deepEqual((hello[2] as { methods: string[] }).methods, ['on_exit']);
    c.proc.stdin.end();
    assert.equal(await c.exited, 0);
  });

test('loading errors: a load_error frame at the author\'s line instead of hello, the same on stderr, exit 1',
  TIMEOUT, async () => {
    const cases: [string, string, string, number | null, RegExp][] = [
      ['syntax-error.cjs', 'syntax', 'syntax-error.cjs', 1, /SyntaxError/],
      ['syntax-error.mjs', 'syntax', 'syntax-error.mjs', 2, /SyntaxError/],
      ['missing-import.mjs', 'missing_module', 'missing-import.mjs', 2, /no-such-package-xyz/],
      ['missing-require.cjs', 'missing_module', 'missing-require.cjs', 2, /no-such-package-xyz/],
      ['raises.cjs', 'raised', 'raises.cjs', 2, /bad setup at import/],
      ['bad-json.cjs', 'raised', 'bad-json.cjs', 2, /SyntaxError: .*JSON/],
      ['no-export.cjs', 'no_plugin', 'no-export.cjs', null, /no plugin found/],
      ['missing.js', 'no_plugin', 'missing.js', null, /does not exist/],
    ];
    for (const [entry, kind, file, line, pattern] of cases) {
      const r = spawnSync(process.execPath, [RUNNER], { env: env(entry), encoding: 'buffer' });
      assert.equal(r.status, 1, entry);
      const frames = new FrameDecoder().push(r.stdout).map((f) => decode(f));
      assert.equal(frames.length, 1, entry);
      const [kindNo, method, params] = frames[0] as [number, string, Record<string, unknown>];
      assert.equal(kindNo, 2);
      assert.equal(method, 'load_error', entry);
      assert.equal(params['kind'], kind, entry);
      assert.ok(String(params['file']).endsWith(file), `${entry}: ${String(params['file'])}`);
      assert.equal(params['line'], line, entry);
      assert.match(`${String(params['type'])}: ${String(params['message'])}`, pattern, entry);
      if (line !== null) assert.ok(String(params['source']).length > 0, entry);
      assert.match(r.stderr.toString(), pattern, entry);
    }
  });

test('a bad frame from the host makes the runner exit 1 with the reason', TIMEOUT, async () => {
  const c = new Child('tsc-cjs.js');
  await c.next();
  c.proc.stdin.write(Buffer.from('hello\n'));
  assert.equal(await c.exited, 1);
  assert.match(c.stderr, /frame too large/);
});

test('a busy main thread: a byte on PLUGHOST_STACK_FD makes the watchdog write its stack (the spinning line) on stderr',
  TIMEOUT, async () => {
    const proc = spawn(process.execPath, [RUNNER], {
      env: { ...env('spin-init.cjs'), PLUGHOST_STACK_FD: '3' }, stdio: ['pipe', 'pipe', 'pipe', 'pipe'],
    });
    spawned.push(proc as unknown as ChildProcessWithoutNullStreams);
    let stderr = '';
    proc.stderr!.on('data', (b: Buffer) => { stderr += b.toString(); });
    const dec = new FrameDecoder();
    const frames: unknown[] = [];
    proc.stdout!.on('data', (b: Buffer) => { for (const f of dec.push(b)) frames.push(decode(f)); });
    while (frames.length === 0) await new Promise((r) => setTimeout(r, 20));
    assert.equal((frames[0] as unknown[])[1], 'hello');
    proc.stdin!.write(encodeFrame(encode([0, 1, 'initialize', { config: {}, run_id: 'r', run: { history: 10, size: 1, symbols: ['X'] } }])));
    await new Promise((r) => setTimeout(r, 300)); // now spinning in initialize
    (proc.stdio[3] as NodeJS.WritableStream).write('s');
    const deadline = Date.now() + 5000;
    while (!/spin-init\.cjs:\d+/.test(stderr) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    proc.kill('SIGKILL');
    assert.match(stderr, /plughost: stack of the plugin's main thread when it was stopped \(most recent call first\):\n/);
    const line = /at Object\.initialize \((.*spin-init\.cjs):(\d+):\d+\)/.exec(stderr);
    assert.ok(line, stderr);
    assert.ok([5, 6].includes(Number(line[2])), stderr); // the `for (;;)` loop
  });

test('an idle main thread: the watchdog says it has no stack instead of leaving the host waiting', TIMEOUT, async () => {
  const proc = spawn(process.execPath, [RUNNER], {
    env: { ...env('tsc-cjs.js'), PLUGHOST_STACK_FD: '3' }, stdio: ['pipe', 'pipe', 'pipe', 'pipe'],
  });
  spawned.push(proc as unknown as ChildProcessWithoutNullStreams);
  let stderr = '';
  proc.stderr!.on('data', (b: Buffer) => { stderr += b.toString(); });
  let out = 0;
  proc.stdout!.on('data', (b: Buffer) => { out += b.length; });
  while (out === 0) await new Promise((r) => setTimeout(r, 20));
  await new Promise((r) => setTimeout(r, 100)); // past the runner's own short spin after writing hello
  const asked = Date.now();
  (proc.stdio[3] as NodeJS.WritableStream).write('s');
  const answered = (): boolean => /plughost: (no stack|stack of)/.test(stderr);
  while (!answered() && Date.now() < asked + 5000) await new Promise((r) => setTimeout(r, 20));
  proc.kill('SIGKILL');
  // "no stack"; or, on a loaded machine, the runner's own idle work caught in the act: its 1 s timer, or
  // the event-loop spin after a write (spin.js), which a busy CPU can stretch past the wait above
  assert.match(stderr, /plughost: no stack: the main thread runs no JavaScript|processTimers|spin\.js/);
  assert.ok(Date.now() - asked < 1500, `answered after ${Date.now() - asked} ms`);
  assert.doesNotMatch(stderr, /watchdog stopped/);
});
