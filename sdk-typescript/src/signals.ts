/** Signal helpers: `return entry({ reason: 'golden-cross' })`. */
import type { Signal } from './types';

export type SignalOptions = Omit<Signal, 'type'>;

export function entry(opts: SignalOptions = {}): Signal {
  return { type: 'entry', ...opts };
}

export function exit(opts: SignalOptions = {}): Signal {
  return { type: 'exit', ...opts };
}

/** Same as returning null/undefined. */
export function hold(): Signal {
  return { type: 'hold' };
}
