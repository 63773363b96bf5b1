/**
 * Keeps the event loop from going to sleep for a short while after a request or reply, as the Python
 * runner and the host do (SPIN_SECONDS, 50 us): the host's next request usually arrives within tens of
 * microseconds, and a process asleep in epoll_wait pays a CPU wake-up for it (on the idle 2-core machine
 * ~100 us, the exit from a deep idle state).
 *
 * It spins the event loop itself, not a synchronous read: a pending setImmediate makes libuv poll with a
 * zero timeout, so every few microseconds a loop iteration runs timers, I/O callbacks (the protocol pipe
 * among them, through the usual stdin stream), the plugin's immediates, nextTicks and Promise jobs, exactly
 * as when the loop wakes from sleep. Nothing waits behind a request that would not wait without the spin.
 *
 * A spin only pays while a CPU would otherwise idle. When more tasks are runnable than there are CPUs, the
 * spin takes CPU time from the host that is preparing the next request, and the scheduler stops favouring a
 * process that keeps running (measured at load 5-7 on 2 cores: Node ping p50 ~65 -> ~130 us with an
 * unconditional spin). So it spins only while the run queue, sampled from /proc/loadavg at most every
 * SAMPLE_MS and smoothed, holds no more runnable tasks than there are CPUs.
 */
import { openSync, readSync } from 'node:fs';
import { availableParallelism } from 'node:os';

export const SPIN_MS = 0.05;
export const SAMPLE_MS = 20;

export interface SpinClock {
  now: () => number;
  /** Runs `fn` after the current loop iteration's I/O (setImmediate); must keep the loop alive. */
  later: (fn: () => void) => void;
  /** True while other work wants the CPUs (called at most once per SAMPLE_MS). */
  contended: () => boolean;
}

/** Runnable tasks right now, this process included: the 4th field of /proc/loadavg ("2/180"); null if unknown. */
export function runQueueReader(path = '/proc/loadavg'): (() => number | null) | null {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch {
    return null;
  }
  const buf = Buffer.alloc(256);
  return () => {
    try {
      const text = buf.toString('latin1', 0, readSync(fd, buf, 0, buf.length, 0));
      const runnable = Number.parseInt(text.split(' ')[3] ?? '', 10);
      return Number.isNaN(runnable) ? null : runnable;
    } catch {
      return null;
    }
  };
}

/** More runnable tasks than CPUs, on a moving average of samples; never where the run queue cannot be read. */
export function runQueueContention(read = runQueueReader(), cpus = availableParallelism()): () => boolean {
  if (read === null) return () => false;
  let avg: number | null = null;
  return () => {
    const now = read();
    if (now !== null) avg = avg === null ? now : 0.75 * avg + 0.25 * now;
    // The host waiting for an answer and this process are two of them; half a task more tolerates a blip.
    return avg !== null && avg > cpus + 0.5;
  };
}

export function loopClock(contended = runQueueContention()): SpinClock {
  return { now: () => performance.now(), later: (fn) => { setImmediate(fn); }, contended };
}

/**
 * The spinner the runner uses. PLUGHOST_NODE_SPIN (not set by the host; for tests and measurements):
 * `auto` (default) as above, `always` spins whatever the load (as the Python runner does), `never` sleeps
 * at once (the runner before the spin).
 */
export function spinnerFromEnv(value = process.env['PLUGHOST_NODE_SPIN']): LoopSpinner {
  if (value === 'always') return new LoopSpinner(loopClock(() => false));
  if (value === 'never') return new LoopSpinner(loopClock(() => true));
  return new LoopSpinner();
}

export class LoopSpinner {
  private last = 0;
  private running = false;
  private sampledAt = -Infinity;
  private busy = false;
  private readonly tick = (): void => {
    if (this.clock.now() - this.last < this.windowMs && !this.crowded()) this.clock.later(this.tick);
    else this.running = false;
  };

  constructor(private readonly clock: SpinClock = loopClock(), private readonly windowMs: number = SPIN_MS) {}

  /** Bytes from the host arrived, or a frame went to it: keep polling for `windowMs` from now. */
  touch(): void {
    this.last = this.clock.now();
    if (this.running || this.crowded()) return;
    this.running = true;
    this.clock.later(this.tick);
  }

  get spinning(): boolean {
    return this.running;
  }

  private crowded(): boolean {
    const now = this.clock.now();
    if (now - this.sampledAt >= SAMPLE_MS) {
      this.sampledAt = now;
      this.busy = this.clock.contended();
    }
    return this.busy;
  }
}
