/**
 * Keeps the event loop from going to sleep for a short while after the last request or reply, as the
 * Python runner and the host do (SPIN_SECONDS, 50 us): the host's next request usually arrives within
 * tens of microseconds, and a process asleep in epoll_wait pays a CPU wake-up for it.
 *
 * It spins the event loop itself, not a synchronous read: a pending setImmediate makes libuv poll with
 * a zero timeout, so every few microseconds a loop iteration runs timers, I/O callbacks (the protocol
 * pipe among them, through the usual stdin stream), the plugin's immediates, nextTicks and Promise
 * jobs, exactly as when the loop wakes from sleep. Nothing waits behind a request that would not wait
 * today; the loop just does not block in between.
 */
export const SPIN_MS = 0.05;

export interface SpinClock {
  now: () => number;
  /** Runs `fn` after the current loop iteration's I/O (setImmediate); must keep the loop alive. */
  later: (fn: () => void) => void;
}

const LOOP: SpinClock = { now: () => performance.now(), later: (fn) => { setImmediate(fn); } };

export class LoopSpinner {
  private last = 0;
  private running = false;
  private readonly tick = (): void => {
    if (this.clock.now() - this.last < this.windowMs) this.clock.later(this.tick);
    else this.running = false;
  };

  constructor(private readonly windowMs: number = SPIN_MS, private readonly clock: SpinClock = LOOP) {}

  /** Activity now (a chunk read, a frame written): keep polling for `windowMs` from here. */
  touch(): void {
    this.last = this.clock.now();
    if (this.running) return;
    this.running = true;
    this.clock.later(this.tick);
  }

  get spinning(): boolean {
    return this.running;
  }
}
