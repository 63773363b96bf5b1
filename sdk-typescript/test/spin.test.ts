/** LoopSpinner on a fake clock: how long it keeps the loop polling, that it never stacks callbacks, and
 * that it stops spinning where spinning does not catch the next request (and notices when it does again). */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { LoopSpinner, MAX_CREDIT, PROBE_EVERY, SPIN_MS, type SpinClock } from '../src/spin';

class FakeLoop implements SpinClock {
  t = 0;
  readonly queue: (() => void)[] = [];
  now = (): number => this.t;
  later = (fn: () => void): void => { this.queue.push(fn); };
  /** One loop iteration: runs what was queued before it started, and `step` ms pass. */
  iterate(step: number): void {
    this.t += step;
    for (const fn of this.queue.splice(0)) fn();
  }
  /** Iterations until nothing is queued (the loop would sleep). */
  drain(step: number): void {
    while (this.queue.length > 0) this.iterate(step);
  }
}

test('the spin keeps one callback queued per loop iteration until the window after the last activity ends', () => {
  const loop = new FakeLoop();
  const s = new LoopSpinner(0.05, loop);
  assert.equal(s.spinning, false);
  assert.equal(loop.queue.length, 0);
  s.arrived();
  assert.equal(s.spinning, true);
  s.wrote(); // already spinning: no second chain
  assert.equal(loop.queue.length, 1);
  loop.iterate(0.02);
  loop.iterate(0.02);
  assert.equal(loop.queue.length, 1); // 0.04 ms since the reply
  s.wrote(); // another reply at 0.04 ms: the window starts again
  loop.iterate(0.04);
  assert.equal(loop.queue.length, 1); // 0.04 ms since the last activity
  loop.iterate(0.02);
  assert.equal(loop.queue.length, 0); // 0.06 ms: the loop may sleep again
  assert.equal(s.spinning, false);
  s.arrived(); // and the next request starts a new spin
  assert.equal(loop.queue.length, 1);
  assert.equal(SPIN_MS, 0.05); // the Python runner's window
});

/** One request/reply: the request comes `gap` ms after the previous reply. Returns whether a spin was on. */
function roundTrip(loop: FakeLoop, s: LoopSpinner, gap: number): boolean {
  const step = 0.005;
  for (let waited = 0; waited < gap && loop.queue.length > 0; waited += step) loop.iterate(step);
  if (loop.queue.length === 0) loop.t += gap; // asleep until the request
  const caught = s.spinning;
  s.arrived();
  s.wrote();
  return caught;
}

test('requests that keep missing the window stop the spin, and a probe turns it back on when they come fast', () => {
  const loop = new FakeLoop();
  const s = new LoopSpinner(0.05, loop);
  // A loaded machine: the host takes 0.2 ms to send the next request, every spin runs out in vain.
  let spins = 0;
  for (let k = 0; k < 20; k++) {
    roundTrip(loop, s, 0.2);
    if (s.spinning) spins++;
    loop.drain(0.005);
  }
  assert.ok(spins <= Math.ceil(MAX_CREDIT / 2) + 2, `spun ${spins} of 20 times`);
  // Now every request comes 0.01 ms after the reply: within PROBE_EVERY occasions a probe catches one, and
  // from then on every request is caught.
  const caught: boolean[] = [];
  for (let k = 0; k < 2 * PROBE_EVERY; k++) caught.push(roundTrip(loop, s, 0.01));
  const first = caught.indexOf(true);
  assert.ok(first >= 0 && first <= PROBE_EVERY, String(caught));
  assert.ok(caught.slice(first).every(Boolean), String(caught));
});

test('an idle machine keeps spinning: every request is caught', () => {
  const loop = new FakeLoop();
  const s = new LoopSpinner(0.05, loop);
  roundTrip(loop, s, 0.01);
  for (let k = 0; k < 100; k++) assert.equal(roundTrip(loop, s, 0.02), true);
});
