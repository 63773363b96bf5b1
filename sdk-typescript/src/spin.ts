/**
 * Keeps the event loop from going to sleep for a short while after a request or reply, as the Python
 * runner and the host do (SPIN_SECONDS, 50 us): the host's next request usually arrives within tens of
 * microseconds, and a process asleep in epoll_wait pays a CPU wake-up for it.
 *
 * It spins the event loop itself, not a synchronous read: a pending setImmediate makes libuv poll with a
 * zero timeout, so every few microseconds a loop iteration runs timers, I/O callbacks (the protocol pipe
 * among them, through the usual stdin stream), the plugin's immediates, nextTicks and Promise jobs, exactly
 * as when the loop wakes from sleep. Nothing waits behind a request that would not wait without the spin.
 *
 * A spin only pays while this process has a CPU of its own. Otherwise it takes CPU time from the host that
 * is preparing the next request (measured on 2 cores: Node ping p50 ~65 -> ~130 us with an unconditional
 * spin at load 5-7; at load ~1, rounds of ~80-120 us instead of ~20 when host and runner shared a core).
 * So it does not spin
 * - while the run queue (/proc/loadavg, sampled at most every SAMPLE_MS, smoothed) holds more runnable
 *   tasks than CPUs + 0.5 (the host and the runner are two), and
 * - after being starved: a request caught in time while spinning earns a credit, a whole window without
 *   the CPU while spinning costs two, and with no credit it spins only on every PROBE_EVERY-th occasion,
 *   to notice when it has a CPU again.
 */
import { openSync, readSync } from 'node:fs';
import { availableParallelism } from 'node:os';

export const SPIN_MS = 0.05;
export const SAMPLE_MS = 20;
export const MAX_CREDIT = 8;
export const PROBE_EVERY = 16;

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
 * `auto` (default) as above, `always` spins whatever the load and however starved (as the Python runner
 * does), `never` sleeps at once (the runner before the spin).
 */
export function spinnerFromEnv(value = process.env['PLUGHOST_NODE_SPIN']): LoopSpinner {
  if (value === 'always') return new LoopSpinner(loopClock(() => false), SPIN_MS, false);
  if (value === 'never') return new LoopSpinner(loopClock(() => true));
  return new LoopSpinner();
}

export class LoopSpinner {
  private last = 0;
  private seen = 0;
  private running = false;
  private sampledAt = -Infinity;
  private busy = false;
  private credit = MAX_CREDIT;
  private passed = 0;
  private halt = false;
  private readonly tick = (): void => {
    const now = this.clock.now();
    if (this.halt || (this.learn && this.starved(now)) || this.crowded()) this.running = this.halt = false;
    else if (now - this.last < this.windowMs) this.clock.later(this.tick);
    else this.running = false;
  };

  /** learn = false: never give up after being starved (PLUGHOST_NODE_SPIN=always). */
  constructor(private readonly clock: SpinClock = loopClock(), private readonly windowMs: number = SPIN_MS,
    private readonly learn = true) {}

  /** Bytes from the host arrived: keep polling for `windowMs` from now. */
  arrived(): void {
    if (this.running && this.learn) {
      if (this.starved(this.clock.now())) this.halt = true; // the queued tick ends this spin
      else this.credit = Math.min(MAX_CREDIT, this.credit + 1);
    }
    this.activity();
  }

  /** A frame went to the host: keep polling for `windowMs` from now. */
  wrote(): void {
    this.activity();
  }

  get spinning(): boolean {
    return this.running;
  }

  private activity(): void {
    this.last = this.seen = this.clock.now();
    if (this.running || this.crowded()) return;
    if (this.learn && this.credit === 0 && ++this.passed < PROBE_EVERY) return;
    this.passed = 0;
    this.running = true;
    this.clock.later(this.tick);
  }

  /**
   * A whole window passed between two looks while spinning: this process did not have a CPU (it shares one
   * with the host, or others want it), so the spin only held up whoever had to run instead.
   */
  private starved(now: number): boolean {
    const gap = now - this.seen;
    this.seen = now;
    if (gap <= this.windowMs) return false;
    this.credit = Math.max(0, this.credit - 2);
    return true;
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
