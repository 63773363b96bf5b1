'use strict';
// The same rule as bench/plugins/sma-ind/strategy.py, on the host's `fast`/`slow` SMA indicators.
const ENTRY = { type: 'entry', reason: 'golden-cross' };
const EXIT = { type: 'exit', reason: 'death-cross' };

module.exports = {
  name: 'bench-sma-ind-js',
  version: '1.0.0',
  initialize() {
    this.prev = new Map();
  },
  onCandle(candle, ctx) {
    const diff = ctx.indicators.get('fast') - ctx.indicators.get('slow');
    const prev = this.prev.get(candle.symbol);
    this.prev.set(candle.symbol, diff);
    if (prev === undefined) return null;
    if (prev <= 0 && diff > 0) return ENTRY;
    if (prev >= 0 && diff < 0) return EXIT;
    return null;
  },
};
