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
    PATH: process.env['PATH'], PLUGHOST_MAGIC_COOKIE: 'plughost-plugin-v1', PLUGHOST_PROTOCOL_VERSIONS: '2',
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

test('loading errors: message on stderr, exit 1, nothing on stdout', TIMEOUT, async () => {
  for (const [entry, pattern] of [['syntax-error.cjs', /SyntaxError/], ['missing.js', /loading failed/]] as const) {
    const r = spawnSync(process.execPath, [RUNNER], { env: env(entry), encoding: 'utf8' });
    assert.equal(r.status, 1, entry);
    assert.equal(r.stdout, '', entry);
    assert.match(r.stderr, pattern, entry);
  }
});

test('a bad frame from the host makes the runner exit 1 with the reason', TIMEOUT, async () => {
  const c = new Child('tsc-cjs.js');
  await c.next();
  c.proc.stdin.write(Buffer.from('hello\n'));
  assert.equal(await c.exited, 1);
  assert.match(c.stderr, /frame too large/);
});
