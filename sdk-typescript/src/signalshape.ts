/** The shape of a signal a plugin returned, checked once for both the walk and the look-ahead check. */
import { SignalError } from './errors';
import type { OrderSignal } from './orders';

const NUMBER_FIELDS = ['size', 'price', 'stop', 'validFor', 'stopLoss', 'takeProfit', 'trailPct'] as const;
const STRING_FIELDS = ['side', 'symbol', 'reason'] as const;

/**
 * A plugin's return value -> the signal's fields (null for a hold). Only the shape is checked here (an
 * object, a known type, numbers and strings where they belong): a value the protocol forbids (a negative
 * price, an unknown symbol) is sent as is, the host fails the run with PLUGIN_PROTOCOL_ERROR naming it,
 * and the book skips it meanwhile.
 */
export function toOrderSignal(r: unknown, hook: string): OrderSignal | null {
  if (typeof r !== 'object' || r === null || Array.isArray(r)) {
    throw new SignalError(`${hook} must return a Signal, a list of signals, null or undefined (got ${r === null ? 'null' : typeof r})`);
  }
  const s = r as Record<string, unknown>;
  const type = s['type'];
  if (type === 'hold') return null;
  if (type !== 'entry' && type !== 'exit') {
    throw new SignalError(`unknown signal type ${JSON.stringify(type)} (expected entry, exit or hold)`);
  }
  for (const k of NUMBER_FIELDS) {
    const v = s[k];
    if (v !== undefined && v !== null && typeof v !== 'number') throw new SignalError(`signal ${k} must be a number, got ${typeof v}`);
  }
  for (const k of STRING_FIELDS) {
    const v = s[k];
    if (v !== undefined && v !== null && typeof v !== 'string') throw new SignalError(`signal ${k} must be a string, got ${typeof v}`);
  }
  const num = (k: typeof NUMBER_FIELDS[number]): number | null => (s[k] ?? null) as number | null;
  const str = (k: typeof STRING_FIELDS[number]): string | null => (s[k] ?? null) as string | null;
  return {
    type, side: str('side'), size: num('size'), price: num('price'), stop: num('stop'), validFor: num('validFor'),
    stopLoss: num('stopLoss'), takeProfit: num('takeProfit'), trailPct: num('trailPct'), symbol: str('symbol'),
    reason: str('reason'),
  };
}
