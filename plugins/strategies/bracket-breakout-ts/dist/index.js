"use strict";
Object.defineProperty(exports, "__esModule", { value: true });
class BracketBreakout {
    name = 'bracket-breakout-ts';
    version = '1.0.0';
    lookback = 20;
    stopPct = 2.0;
    targetPct = 4.0;
    validFor = 3;
    initialize(config) {
        this.lookback = Number(config['lookback'] ?? 20);
        this.stopPct = Number(config['stop_pct'] ?? 2.0);
        this.targetPct = Number(config['target_pct'] ?? 4.0);
        this.validFor = Number(config['valid_for'] ?? 3);
        if (!(Number.isInteger(this.lookback) && this.lookback >= 2))
            throw new RangeError(`lookback must be an integer >= 2, got ${this.lookback}`);
        if (!(Number.isInteger(this.validFor) && this.validFor >= 1))
            throw new RangeError(`valid_for must be an integer >= 1, got ${this.validFor}`);
        if (!(this.stopPct > 0 && this.stopPct < 100))
            throw new RangeError(`stop_pct must be in (0, 100), got ${this.stopPct}`);
        if (!(this.targetPct > 0 && this.targetPct < 100))
            throw new RangeError(`target_pct must be in (0, 100), got ${this.targetPct}`);
    }
    onCandle(candle, ctx) {
        const h = ctx.history;
        if (ctx.position !== null || h.length < this.lookback + 1)
            return null;
        let hi = -Infinity;
        let lo = Infinity;
        for (let i = h.length - 1 - this.lookback; i < h.length - 1; i++) {
            if (h.high(i) > hi)
                hi = h.high(i);
            if (h.low(i) < lo)
                lo = h.low(i);
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
exports.default = BracketBreakout;
