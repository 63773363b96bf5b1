/** LoopSpinner on a fake clock: how long it keeps the loop polling, and that it never stacks callbacks. */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { LoopSpinner, SPIN_MS, type SpinClock } from '../src/spin';

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
}

test('the spin keeps one callback queued per loop iteration until the window after the last touch ends', () => {
  const loop = new FakeLoop();
  const s = new LoopSpinner(0.05, loop);
  assert.equal(s.spinning, false);
  assert.equal(loop.queue.length, 0);
  s.touch();
  assert.equal(s.spinning, true);
  s.touch(); // already spinning: no second chain
  assert.equal(loop.queue.length, 1);
  loop.iterate(0.02);
  loop.iterate(0.02);
  assert.equal(loop.queue.length, 1); // 0.04 ms since the touch
  s.touch(); // a reply at 0.04 ms: the window starts again
  loop.iterate(0.04);
  assert.equal(loop.queue.length, 1); // 0.04 ms since the last touch
  loop.iterate(0.02);
  assert.equal(loop.queue.length, 0); // 0.06 ms: the loop may sleep again
  assert.equal(s.spinning, false);
  s.touch(); // and the next request starts a new spin
  assert.equal(loop.queue.length, 1);
});

test('a zero window never keeps the loop awake past one iteration; the default is the Python runner\'s 50 us', () => {
  const loop = new FakeLoop();
  const s = new LoopSpinner(0, loop);
  s.touch();
  loop.iterate(0);
  assert.equal(loop.queue.length, 0);
  assert.equal(SPIN_MS, 0.05);
});
