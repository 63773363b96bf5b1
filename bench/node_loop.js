'use strict';
// The Node SDK's own loop, in process: the bench strategy driven by the SDK's StrategyDriver over the same
// columns the host would send (8,192-candle batches), no host, no pipe. Prints seconds and signal count.
//   node bench/node_loop.js COLUMNS_FILE N   (file: int64 timestamp, then f64 open high low close volume fast slow)
const fs = require('node:fs');
const path = require('node:path');
const dist = path.join(__dirname, '..', 'sdk-typescript', 'dist');
const { StrategyDriver } = require(path.join(dist, 'driver.js'));
const { parseCandles } = require(path.join(dist, 'batch.js'));
const { DEFAULT_RULES } = require(path.join(dist, 'orders.js'));
const plugin = require(path.join(__dirname, 'plugins', 'sma-ind-js', 'index.js'));

const [file, nText] = process.argv.slice(2);
const n = Number(nText);
const raw = fs.readFileSync(file);
const col = (k) => raw.subarray(k * n * 8, (k + 1) * n * 8);
const names = ['timestamp', 'open', 'high', 'low', 'close', 'volume'];
const started = process.hrtime.bigint();
plugin.initialize({});
const driver = new StrategyDriver(plugin, { runId: 'bench', history: 200, symbols: ['X'], rules: DEFAULT_RULES });
let signals = 0;
const B = 8192;
for (let off = 0; off < n; off += B) {
  const m = Math.min(B, n - off);
  const columns = {};
  names.forEach((name, k) => { columns[name] = col(k).subarray(off * 8, (off + m) * 8); });
  columns.symbol = new Uint8Array(m * 4);
  const params = {
    symbols: ['X'], offset: off, n: m, columns,
    indicators: { fast: col(6).subarray(off * 8, (off + m) * 8), slow: col(7).subarray(off * 8, (off + m) * 8) },
    ends: off + m === n ? [m - 1] : [], alerts: [], last: off + m === n,
  };
  const r = driver.handle(parseCandles(params));
  signals += r.signals.length;
}
const seconds = Number(process.hrtime.bigint() - started) / 1e9;
process.stdout.write(JSON.stringify({ seconds, signals }) + '\n');
