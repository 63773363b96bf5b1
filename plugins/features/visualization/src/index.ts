/**
 * visualization: collects closes (onCandle, the run's merged stream: each candle names its symbol) and
 * trades (onTrade, long or short) during the run; at the end (onPostRun) returns chart.html, one self-contained offline page: per symbol, price with entry/exit markers; then
 * the equity curve and its drawdown from the run's results.
 */
import type { BacktestResults, Candle, FeaturePlugin, PluginHooks, PostRunOutput, Trade } from '@plughost/sdk';
import { Series, downsample, drawdown } from './series';
import { escapeXml, renderChart, type Marker } from './svg';

const STYLE = `body{font:14px system-ui,sans-serif;margin:24px;color:#222;max-width:1040px}
svg{width:100%;height:auto;border:1px solid #ddd;margin:8px 0 20px;background:#fff}
.title{font-weight:600;font-size:14px}.tick{font-size:11px;fill:#666}.axis{stroke:#999}
.entry{fill:#1a9850}.exit{fill:#d73027}table{border-collapse:collapse}td,th{padding:2px 10px;text-align:right}`;

export class Visualization implements FeaturePlugin {
  name = 'visualization';
  version = '1.0.0';
  private readonly prices = new Map<string, Series>();
  private readonly trades: Trade[] = [];

  readonly hooks: PluginHooks = {
    onCandle: (c: Candle): void => {
      let s = this.prices.get(c.symbol);
      if (s === undefined) {
        s = new Series();
        this.prices.set(c.symbol, s);
      }
      s.push(c.timestamp, c.close);
    },
    onTrade: (t: Trade): void => {
      this.trades.push(t);
    },
    onPostRun: (r: BacktestResults): PostRunOutput => ({
      artifacts: { 'chart.html': this.render(r) },
      metrics: { chart_trades: this.trades.length },
    }),
  };

  render(r: BacktestResults): string {
    const charts: string[] = [];
    for (const [symbol, s] of this.prices) {
      const markers: Marker[] = [];
      for (const t of this.trades) {
        if (t.symbol !== symbol) continue;
        // Hosts before trades had a side sent none: such trades were longs.
        const side = t.side ?? 'long';
        const fees = t.fees ?? 0;
        markers.push({ x: t.entryTime, y: t.entryPrice, kind: 'entry', label: `${side} entry ${t.entryPrice} (${t.entryReason ?? ''})` });
        markers.push({ x: t.exitTime, y: t.exitPrice, kind: 'exit',
          label: `${side} exit ${t.exitPrice} (${t.exitReason ?? ''}) pnl ${t.pnl.toFixed(4)} fees ${fees.toFixed(4)}` });
      }
      const points = downsample(s.x.subarray(0, s.length), s.y.subarray(0, s.length));
      charts.push(renderChart({ title: `${symbol}: close, entries and exits`, points, color: '#2b6cb0', markers }));
    }
    const ts = r.equity.timestamp;
    const eq = r.equity.equity;
    charts.push(renderChart({ title: 'Equity', points: downsample(ts, eq), color: '#2f855a' }));
    charts.push(renderChart({
      title: 'Drawdown', points: downsample(ts, drawdown(eq)), color: '#c53030', area: true,
      format: (v) => `${(v * 100).toFixed(1)} %`,
    }));
    const rows = Object.entries(r.metrics)
      .filter(([, v]) => typeof v === 'number' || typeof v === 'string')
      .map(([k, v]) => `<tr><th>${escapeXml(k)}</th><td>${escapeXml(typeof v === 'number' ? fmt(v) : String(v))}</td></tr>`)
      .join('');
    return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>plughost run ${escapeXml(r.runId)}</title>
<style>${STYLE}</style></head><body>
<h1>Run ${escapeXml(r.runId)} <small>(${escapeXml(r.status)})</small></h1>
<p>${this.trades.length} trades. Markers: <span style="color:#1a9850">&#9650; entry</span>,
<span style="color:#d73027">&#9660; exit</span> (hover for details).</p>
${charts.join('\n')}
<table>${rows}</table>
</body></html>
`;
  }
}

function fmt(v: number): string {
  return Number.isInteger(v) ? String(v) : v.toFixed(4);
}

export default Visualization;
