/**
 * Typed errors of the SDK. A ProtocolError means the byte stream or a message is broken (the host, which
 * is the authority, stops the plugin); a SignalError means the plugin produced something the protocol
 * forbids (reported to the host as an ordinary plugin error).
 */

/** The four kinds of protocol failure, matching the `error` strings in protocol/vectors/bad_frames.json. */
export type ProtocolErrorKind = 'empty frame' | 'frame too large' | 'invalid msgpack' | 'invalid message';

export class ProtocolError extends Error {
  override name = 'ProtocolError';
  constructor(
    readonly kind: ProtocolErrorKind,
    detail: string,
  ) {
    super(`${kind}: ${detail}`);
  }
}

/** A signal the plugin returned is invalid (unknown type, size <= 0, NaN price). */
export class SignalError extends Error {
  override name = 'SignalError';
}
