/** A minimal line-chart renderer to inline SVG: no scripts, no external assets. */
export interface Marker {
  x: number;
  y: number;
  kind: 'entry' | 'exit';
  label: string;
}

export interface Chart {
  title: string;
  points: [number, number][];
  color: string;
  markers?: Marker[];
  /** Fill the area between the line and zero (drawdown). */
  area?: boolean;
  format?: (v: number) => string;
}

const W = 1000;
const H = 260;
const PAD = { l: 70, r: 16, t: 28, b: 28 };

export function escapeXml(s: string): string {
  return s.replace(/[<>&"']/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&#39;' })[c]!);
}

function extent(vals: number[]): [number, number] {
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of vals) if (Number.isFinite(v)) { lo = Math.min(lo, v); hi = Math.max(hi, v); }
  if (lo === Infinity) return [0, 1];
  if (lo === hi) return [lo - 1, hi + 1];
  return [lo, hi];
}

const iso = (ms: number): string => new Date(ms).toISOString().replace('T', ' ').slice(0, 16);

export function renderChart(c: Chart): string {
  const markers = c.markers ?? [];
  const [x0, x1] = extent([...c.points.map((p) => p[0]), ...markers.map((m) => m.x)]);
  const [y0, y1] = extent([...c.points.map((p) => p[1]), ...markers.map((m) => m.y), ...(c.area ? [0] : [])]);
  const sx = (x: number): number => PAD.l + ((x - x0) / (x1 - x0)) * (W - PAD.l - PAD.r);
  const sy = (y: number): number => H - PAD.b - ((y - y0) / (y1 - y0)) * (H - PAD.t - PAD.b);
  const fmt = c.format ?? ((v: number) => v.toPrecision(6));
  const path = c.points.map(([x, y], i) => `${i ? 'L' : 'M'}${sx(x).toFixed(1)},${sy(y).toFixed(1)}`).join('');
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${W} ${H}" role="img" aria-label="${escapeXml(c.title)}">`,
    `<text x="${PAD.l}" y="18" class="title">${escapeXml(c.title)}</text>`,
    `<line x1="${PAD.l}" y1="${H - PAD.b}" x2="${W - PAD.r}" y2="${H - PAD.b}" class="axis"/>`,
    `<line x1="${PAD.l}" y1="${PAD.t}" x2="${PAD.l}" y2="${H - PAD.b}" class="axis"/>`,
    `<text x="${PAD.l - 6}" y="${PAD.t + 4}" class="tick" text-anchor="end">${escapeXml(fmt(y1))}</text>`,
    `<text x="${PAD.l - 6}" y="${H - PAD.b}" class="tick" text-anchor="end">${escapeXml(fmt(y0))}</text>`,
    `<text x="${PAD.l}" y="${H - 8}" class="tick">${escapeXml(iso(x0))}</text>`,
    `<text x="${W - PAD.r}" y="${H - 8}" class="tick" text-anchor="end">${escapeXml(iso(x1))}</text>`,
  ];
  if (c.points.length > 0) {
    if (c.area) {
      const first = sx(c.points[0]![0]).toFixed(1);
      const last = sx(c.points[c.points.length - 1]![0]).toFixed(1);
      const zero = sy(0).toFixed(1);
      parts.push(`<path d="${path}L${last},${zero}L${first},${zero}Z" fill="${c.color}" fill-opacity="0.25" stroke="none"/>`);
    }
    parts.push(`<path d="${path}" fill="none" stroke="${c.color}" stroke-width="1.2"/>`);
  }
  for (const m of markers) {
    const x = sx(m.x).toFixed(1);
    const y = sy(m.y);
    // Entry: green triangle pointing up, below the price; exit: red triangle pointing down, above it.
    const tri = m.kind === 'entry'
      ? `${x},${(y + 2).toFixed(1)} ${(sx(m.x) - 5).toFixed(1)},${(y + 11).toFixed(1)} ${(sx(m.x) + 5).toFixed(1)},${(y + 11).toFixed(1)}`
      : `${x},${(y - 2).toFixed(1)} ${(sx(m.x) - 5).toFixed(1)},${(y - 11).toFixed(1)} ${(sx(m.x) + 5).toFixed(1)},${(y - 11).toFixed(1)}`;
    parts.push(`<polygon points="${tri}" class="${m.kind}"><title>${escapeXml(m.label)}</title></polygon>`);
  }
  parts.push('</svg>');
  return parts.join('\n');
}
