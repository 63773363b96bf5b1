/**
 * Range breakout with bracket orders, long or short. The rule is kept identical, operation for operation,
 * to the Python twin `plugins/strategies/bracket-breakout/strategy.py` (same trades to the last digit).
 * On every candle where the symbol is flat and `ctx.history` holds at least `lookback + 1` candles:
 *   - hi / lo = the highest high / lowest low of the `lookback` candles before the current one;
 *   - close > (hi + lo) / 2: a long STOP entry at hi, stopLoss = hi * (1 - stop_pct / 100),
 *     takeProfit = hi * (1 + target_pct / 100), reason 'breakout-long';
 *   - else: a short STOP entry at lo, stopLoss = lo * (1 + stop_pct / 100),
 *     takeProfit = lo * (1 - target_pct / 100), reason 'breakout-short';
 *   - validFor = valid_for. The order is re-placed on every flat candle: a new entry order replaces the
 *     symbol's pending one (docs/orders.md section 2).
 * Exits are the bracket's: the stop-loss, the take-profit, or the end of data.
 */
import type { Candle, Signal, StrategyContext, StrategyPlugin } from '@plughost/sdk';

export default class BracketBreakout implements StrategyPlugin {
  name = 'bracket-breakout-ts';
  version = '1.0.0';
  private lookback = 20;
  private stopPct = 2.0;
  private targetPct = 4.0;
  private validFor = 3;

  initialize(config: Record<string, unknown>): void {
    this.lookback = Number(config['lookback'] ?? 20);
    this.stopPct = Number(config['stop_pct'] ?? 2.0);
    this.targetPct = Number(config['target_pct'] ?? 4.0);
    this.validFor = Number(config['valid_for'] ?? 3);
    if (!(Number.isInteger(this.lookback) && this.lookback >= 2)) throw new RangeError(`lookback must be an integer >= 2, got ${this.lookback}`);
    if (!(Number.isInteger(this.validFor) && this.validFor >= 1)) throw new RangeError(`valid_for must be an integer >= 1, got ${this.validFor}`);
    if (!(this.stopPct > 0 && this.stopPct < 100)) throw new RangeError(`stop_pct must be in (0, 100), got ${this.stopPct}`);
    if (!(this.targetPct > 0 && this.targetPct < 100)) throw new RangeError(`target_pct must be in (0, 100), got ${this.targetPct}`);
  }

  onCandle(candle: Candle, ctx: StrategyContext): Signal | null {
    const h = ctx.history;
    if (ctx.position !== null || h.length < this.lookback + 1) return null;
    let hi = -Infinity;
    let lo = Infinity;
    for (let i = h.length - 1 - this.lookback; i < h.length - 1; i++) {
      if (h.high(i) > hi) hi = h.high(i);
      if (h.low(i) < lo) lo = h.low(i);
    }
    if (candle.close > (hi + lo) / 2) {
      return {
        type: 'entry', side: 'long', stop: hi, validFor: this.validFor,
        stopLoss: hi * (1 - this.stopPct / 100), takeProfit: hi * (1 + this.targetPct / 100), reason: 'breakout-long',
      };
    }
    return {
      type: 'entry', side: 'short', stop: lo, validFor: this.validFor,
      stopLoss: lo * (1 + this.stopPct / 100), takeProfit: lo * (1 - this.targetPct / 100), reason: 'breakout-short',
    };
  }
}
