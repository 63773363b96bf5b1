/**
 * A `candles` answer's signals as columns (PROTOCOL.md section 6, protocol version 3): one typed array per
 * field instead of one msgpack map per signal (encoding 39k maps cost ~90 ms per 1M candles).
 * A signal the columns cannot carry exactly (a NaN size, an unknown side, a valid_for of 0, ...) makes
 * the batch fall back to version 2's list of maps: the SDK never refuses a signal, the host checks it.
 */
import type { CandlesResult, WireSignal } from './driver';

const FLOATS = ['size', 'price', 'stop', 'stop_loss', 'take_profit', 'trail_pct'] as const;
const I32 = 2 ** 31 - 1;

function bytes(a: Int32Array | Float64Array | Uint8Array): Uint8Array {
  return a instanceof Uint8Array ? a : new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

function absent(v: unknown): boolean {
  return v === null || v === undefined;
}

/** The columns of `signals`, or null when one of them does not fit (then the maps are sent). */
export function signalColumns(signals: readonly WireSignal[]): Record<string, unknown> | null {
  const n = signals.length;
  const at = new Int32Array(n);
  const alert = new Int32Array(n);
  const type = new Uint8Array(n);
  const side = new Uint8Array(n);
  const validFor = new Int32Array(n);
  const floats = FLOATS.map(() => new Float64Array(n).fill(NaN));
  const symbol = new Int32Array(n);
  const reason = new Int32Array(n);
  const symbols = new Map<string, number>();
  const reasons = new Map<string, number>();
  const code = (table: Map<string, number>, v: unknown): number => {
    if (absent(v)) return -1;
    if (typeof v !== 'string') return NaN;
    let c = table.get(v);
    if (c === undefined) {
      c = table.size;
      table.set(v, c);
    }
    return c;
  };
  for (let i = 0; i < n; i++) {
    const s = signals[i]!;
    if (!Number.isInteger(s.at) || s.at < 0 || s.at > I32) return null;
    at[i] = s.at;
    if (absent(s.alert)) alert[i] = -1;
    else if (Number.isInteger(s.alert) && s.alert! >= 0 && s.alert! <= I32) alert[i] = s.alert!;
    else return null;
    if (s.type === 'entry') type[i] = 0;
    else if (s.type === 'exit') type[i] = 1;
    else return null;
    if (absent(s.side)) side[i] = 0;
    else if (s.side === 'long') side[i] = 1;
    else if (s.side === 'short') side[i] = 2;
    else return null;
    for (let k = 0; k < FLOATS.length; k++) {
      const v = s[FLOATS[k]!];
      if (absent(v)) continue;
      if (typeof v !== 'number' || Number.isNaN(v)) return null; // NaN would read as nil
      floats[k]![i] = v;
    }
    const vf = s.valid_for;
    if (!absent(vf)) {
      if (typeof vf !== 'number' || !Number.isInteger(vf) || vf === 0 || vf > I32 || vf < -I32) return null;
      validFor[i] = vf;
    }
    const sc = code(symbols, s.symbol);
    const rc = code(reasons, s.reason);
    if (Number.isNaN(sc) || Number.isNaN(rc)) return null;
    symbol[i] = sc;
    reason[i] = rc;
  }
  const [size, price, stop, stopLoss, takeProfit, trailPct] = floats.map(bytes);
  return {
    n, at: bytes(at), alert: bytes(alert), type: bytes(type), side: bytes(side), size, price, stop,
    valid_for: bytes(validFor), stop_loss: stopLoss, take_profit: takeProfit, trail_pct: trailPct,
    symbol: bytes(symbol), symbol_dict: [...symbols.keys()], reason: bytes(reason), reason_dict: [...reasons.keys()],
  };
}

/** The `candles` result as it goes on the wire: signals as columns when they fit. */
export function candlesAnswer(result: CandlesResult): Record<string, unknown> {
  const columns = signalColumns(result.signals);
  return { ...result, signals: columns ?? result.signals };
}
