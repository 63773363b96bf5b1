/**
 * SMA crossover, computed incrementally from closes. The rule is kept identical, operation for operation,
 * to the Python twin `plugins/strategies/sma-cross/strategy.py`, so both give bit-identical sums and the
 * same trades (tests/node compares them):
 *   - running sums over the last `fast` / `slow` closes: add the new close first, then subtract the one
 *     that left the window;
 *   - once `slow` closes are in, diff = fastSma - slowSma;
 *   - previous diff <= 0 and now > 0: entry ("golden-cross") of size fraction * ctx.equity / close units
 *     (a market order: it fills at the next open); previous >= 0 and now < 0: exit ("death-cross").
 * State is per symbol.
 */
import type { Candle, Signal, StrategyContext, StrategyPlugin } from '@plughost/sdk';

class Averages {
  /** The last slow + 1 closes, a ring: enough to drop the close leaving either window. */
  private readonly ring: Float64Array;
  private head = 0;
  private count = 0;
  private fastSum = 0;
  private slowSum = 0;
  private prevDiff: number | null = null;

  constructor(private readonly fast: number, private readonly slow: number) {
    this.ring = new Float64Array(slow + 1);
  }

  /** The close `k` candles before the newest (0 = newest). */
  private back(k: number): number {
    const cap = this.ring.length;
    return this.ring[(this.head - 1 - k + 2 * cap) % cap]!;
  }

  /**
   * Adds a close; returns 1 for a golden cross, -1 for a death cross, else 0 (also while the slow window
   * is not full, and on the first full candle, which has no previous diff). No allocation per candle.
   */
  push(close: number): number {
    const cap = this.ring.length;
    this.ring[this.head] = close;
    this.head = (this.head + 1) % cap;
    this.count++;
    let n = Math.min(this.count, cap);
    this.fastSum += close;
    this.slowSum += close;
    if (n > this.fast) this.fastSum -= this.back(this.fast);
    if (n > this.slow) {
      this.slowSum -= this.back(this.slow);
      n -= 1;
    }
    if (n < this.slow) return 0;
    const diff = this.fastSum / this.fast - this.slowSum / this.slow;
    const prev = this.prevDiff;
    this.prevDiff = diff;
    if (prev === null) return 0;
    if (prev <= 0 && diff > 0) return 1;
    if (prev >= 0 && diff < 0) return -1;
    return 0;
  }
}

export default class SimpleMa implements StrategyPlugin {
  name = 'simple-ma';
  version = '1.0.0';
  private fast = 10;
  private slow = 30;
  private fraction = 0.95;
  private readonly state = new Map<string, Averages>();

  initialize(config: Record<string, unknown>): void {
    this.fast = Math.trunc(Number(config['fast'] ?? 10));
    this.slow = Math.trunc(Number(config['slow'] ?? 30));
    this.fraction = Number(config['fraction'] ?? 0.95);
    if (!(this.fraction > 0 && this.fraction <= 1)) throw new RangeError(`fraction must be in (0, 1], got ${this.fraction}`);
    if (!(this.fast >= 1 && this.slow >= 2)) throw new RangeError(`bad periods fast=${this.fast} slow=${this.slow}`);
    if (this.fast >= this.slow) throw new RangeError(`fast (${this.fast}) must be smaller than slow (${this.slow})`);
    this.state.clear();
  }

  onCandle(candle: Candle, ctx: StrategyContext): Signal | null {
    let st = this.state.get(candle.symbol);
    if (st === undefined) {
      st = new Averages(this.fast, this.slow);
      this.state.set(candle.symbol, st);
    }
    const cross = st.push(candle.close);
    // Sized from the equity: units at this close (the same arithmetic as sma-cross); fills at the next open.
    if (cross > 0) return { type: 'entry', size: this.fraction * ctx.equity / candle.close, reason: 'golden-cross' };
    if (cross < 0) return { type: 'exit', reason: 'death-cross' };
    return null;
  }
}
