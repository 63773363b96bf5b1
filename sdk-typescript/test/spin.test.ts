/** LoopSpinner on a fake clock: how long it keeps the loop polling, that it never stacks callbacks, that it
 * does not spin while the CPUs are crowded or after it was starved of one; the run-queue sampling. */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LoopSpinner, MAX_CREDIT, PROBE_EVERY, SAMPLE_MS, SPIN_MS, runQueueContention, runQueueReader, spinnerFromEnv,
  type SpinClock } from '../src/spin';

class FakeLoop implements SpinClock {
  t = 0;
  crowded = false;
  samples = 0;
  readonly queue: (() => void)[] = [];
  now = (): number => this.t;
  later = (fn: () => void): void => { this.queue.push(fn); };
  contended = (): boolean => { this.samples++; return this.crowded; };
  /** One loop iteration: runs what was queued before it started, and `step` ms pass. */
  iterate(step: number): void {
    this.t += step;
    for (const fn of this.queue.splice(0)) fn();
  }
}

test('the spin keeps one callback queued per loop iteration until the window after the last activity ends', () => {
  const loop = new FakeLoop();
  const s = new LoopSpinner(loop, 0.05);
  assert.equal(s.spinning, false);
  assert.equal(loop.queue.length, 0);
  s.arrived();
  assert.equal(s.spinning, true);
  s.wrote(); // its reply, already spinning: no second chain
  assert.equal(loop.queue.length, 1);
  loop.iterate(0.02);
  loop.iterate(0.02);
  assert.equal(loop.queue.length, 1); // 0.04 ms since the reply
  s.arrived(); // another request at 0.04 ms: the window starts again
  loop.iterate(0.04);
  assert.equal(loop.queue.length, 1); // 0.04 ms since the last activity
  loop.iterate(0.02);
  assert.equal(loop.queue.length, 0); // 0.06 ms: the loop may sleep again
  assert.equal(s.spinning, false);
  s.arrived(); // and the next request starts a new spin
  assert.equal(loop.queue.length, 1);
  assert.equal(SPIN_MS, 0.05); // the Python runner's window
});

test('no spin while the CPUs are crowded; a running spin stops when they become so; the run queue is sampled sparingly', () => {
  const loop = new FakeLoop();
  const s = new LoopSpinner(loop, 0.05);
  loop.crowded = true;
  s.arrived();
  assert.equal(s.spinning, false);
  assert.equal(loop.queue.length, 0);
  for (let k = 0; k < 100; k++) { loop.t += 0.1; s.arrived(); } // 10 ms of requests: one sample is enough
  assert.equal(loop.samples, 1);
  assert.equal(s.spinning, false);
  loop.t += SAMPLE_MS; // the machine has quietened; the next sample says so
  loop.crowded = false;
  s.arrived();
  assert.equal(s.spinning, true);
  assert.equal(loop.samples, 2);
  const reopened = loop.t;
  loop.crowded = true; // busy again while a spin goes on (back-to-back requests keep it going)
  for (let k = 0; k < 10_000 && s.spinning; k++) { loop.iterate(0.01); s.arrived(); s.wrote(); }
  assert.equal(s.spinning, false);
  assert.ok(Math.abs(loop.t - (reopened + SAMPLE_MS)) < 0.02, String(loop.t)); // at the next sample
  assert.equal(loop.queue.length, 0);
});

test('the run queue is the 4th field of /proc/loadavg; unreadable or garbled, it is unknown', () => {
  const dir = mkdtempSync(join(tmpdir(), 'spin-'));
  const file = join(dir, 'loadavg');
  writeFileSync(file, '6.60 6.22 5.37 11/220 10637\n');
  const read = runQueueReader(file)!;
  assert.equal(read(), 11);
  writeFileSync(file, '0.01 0.02 0.00 2/180 10700\n'); // read again from the start each time
  assert.equal(read(), 2);
  writeFileSync(file, 'garbage\n');
  assert.equal(read(), null);
  assert.equal(runQueueReader(join(dir, 'missing')), null);
  const real = runQueueReader();
  if (real !== null) assert.ok((real() ?? 1) >= 1); // this process itself is running
});

test('contention: a moving average of the run queue above the CPUs plus the two processes of a call', () => {
  const feed = (values: (number | null)[], cpus: number): boolean[] => {
    let i = 0;
    const contended = runQueueContention(() => values[i++]!, cpus);
    return values.map(() => contended());
  };
  // 2 CPUs: the host and this runner alone make 2 runnable; a blip of 4 does not close the gate.
  assert.deepEqual(feed([2, 2, 4, 2, 2], 2), [false, false, false, false, false]);
  // A loaded machine closes it from the first sample, and it stays closed until the average comes down
  // (9 -> 7.25 -> ... -> 2.53 -> 2.39: ten samples, 200 ms).
  const quiet = Array<number>(11).fill(2);
  assert.deepEqual(feed([9, ...quiet], 2), [...Array<boolean>(10).fill(true), false, false]);
  assert.deepEqual(feed([null, null], 2), [false, false]);
  assert.equal(runQueueContention(null, 2)(), false); // no /proc: spin as the Python runner does
});

test('PLUGHOST_NODE_SPIN: always spins whatever the load, never sleeps at once, anything else is the gated spin', async () => {
  const always = spinnerFromEnv('always');
  always.wrote();
  assert.equal(always.spinning, true);
  const never = spinnerFromEnv('never');
  never.wrote();
  assert.equal(never.spinning, false);
  spinnerFromEnv(undefined).wrote(); // auto: spins or not depending on this machine's load right now
  const t = performance.now();
  while (always.spinning) await new Promise((r) => setImmediate(r)); // the loop turns meanwhile
  assert.ok(performance.now() - t >= SPIN_MS * 0.5);
});

/**
 * One request and its reply: the request comes `gap` ms after the previous reply. Spinning, the loop turns
 * every `step` ms, or not at all for the request's whole gap when `starved` (another process has the CPU).
 * Returns whether a spin was on when the request was read.
 */
function roundTrip(loop: FakeLoop, s: LoopSpinner, gap: number, starved = false): boolean {
  const step = 0.005;
  if (starved) loop.t += gap;
  else for (let waited = 0; waited < gap && loop.queue.length > 0; waited += step) loop.iterate(step);
  if (!starved && loop.queue.length === 0) loop.t += gap; // asleep until the request
  const on = s.spinning;
  s.arrived();
  s.wrote();
  return on;
}

test('an idle machine keeps spinning: every request is caught in time', () => {
  const loop = new FakeLoop();
  const s = new LoopSpinner(loop, 0.05);
  roundTrip(loop, s, 0.01);
  for (let k = 0; k < 100; k++) assert.equal(roundTrip(loop, s, 0.02), true);
});

test('a host that takes longer than the window costs nothing but the window: the spin goes on', () => {
  const loop = new FakeLoop();
  const s = new LoopSpinner(loop, 0.05);
  for (let k = 0; k < 50; k++) {
    roundTrip(loop, s, 0.2); // the window runs out, the loop sleeps, the request wakes it
    assert.equal(s.spinning, true); // and the reply starts a spin again
  }
});

test('starved while spinning (a CPU shared with the host): the spin stops, and probes notice when it has one again', () => {
  const loop = new FakeLoop();
  const s = new LoopSpinner(loop, 0.05);
  let spins = 0;
  for (let k = 0; k < 40; k++) {
    roundTrip(loop, s, 0.08, true); // the spinner gets the CPU only after the host gave it up
    loop.iterate(0.005);
    if (s.spinning) spins++;
  }
  assert.ok(spins <= MAX_CREDIT / 2 + 40 / (PROBE_EVERY / 2), `spun after ${spins} of 40 requests`);
  const caught: boolean[] = [];
  for (let k = 0; k < 2 * PROBE_EVERY; k++) caught.push(roundTrip(loop, s, 0.01));
  const first = caught.indexOf(true);
  assert.ok(first >= 0 && first <= PROBE_EVERY / 2, String(caught)); // two occasions per request
  assert.ok(caught.slice(first).every(Boolean), String(caught));
  const always = new LoopSpinner(new FakeLoop(), 0.05, false); // PLUGHOST_NODE_SPIN=always never learns
  for (let k = 0; k < 40; k++) roundTrip(loop, always, 0.08, true);
  always.wrote();
  assert.equal(always.spinning, true);
});
