/** Growable (x, y) columns, and min/max downsampling so a chart of 10M candles stays a few hundred KB. */
export class Series {
  x = new Float64Array(1024);
  y = new Float64Array(1024);
  length = 0;

  push(x: number, y: number): void {
    if (this.length === this.x.length) {
      const nx = new Float64Array(this.x.length * 2);
      const ny = new Float64Array(this.y.length * 2);
      nx.set(this.x);
      ny.set(this.y);
      this.x = nx;
      this.y = ny;
    }
    this.x[this.length] = x;
    this.y[this.length] = y;
    this.length++;
  }
}

/** At most ~2 * buckets points: each bucket keeps its lowest and highest point, in time order. */
export function downsample(xs: ArrayLike<number>, ys: ArrayLike<number>, buckets = 1500): [number, number][] {
  const n = xs.length;
  if (n <= buckets * 2) return Array.from({ length: n }, (_, i) => [xs[i]!, ys[i]!]);
  const out: [number, number][] = [];
  for (let b = 0; b < buckets; b++) {
    const lo = Math.floor((b * n) / buckets);
    const hi = Math.floor(((b + 1) * n) / buckets);
    let min = lo;
    let max = lo;
    for (let i = lo; i < hi; i++) {
      if (ys[i]! < ys[min]!) min = i;
      if (ys[i]! > ys[max]!) max = i;
    }
    if (min <= max) out.push([xs[min]!, ys[min]!], [xs[max]!, ys[max]!]);
    else out.push([xs[max]!, ys[max]!], [xs[min]!, ys[min]!]);
  }
  return out;
}

/** Drawdown from the running peak, as a fraction (0 at a peak, -0.25 at 25 % below it). */
export function drawdown(equity: readonly number[]): number[] {
  let peak = -Infinity;
  return equity.map((e) => {
    peak = Math.max(peak, e);
    return peak > 0 ? e / peak - 1 : 0;
  });
}
