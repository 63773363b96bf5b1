/**
 * msgpack-RPC messages (PROTOCOL.md section 4): parsing what the host sends, building what the plugin
 * sends. The plugin only ever receives requests and notifications; anything else is a protocol error.
 */
import { ProtocolError } from './errors';

export const REQUEST = 0;
export const RESPONSE = 1;
export const NOTIFICATION = 2;

export type Params = Record<string, unknown> | null;

export interface Request {
  kind: typeof REQUEST;
  id: number;
  method: string;
  /** A map or nil for every method but `ping`, whose params may be any value (checked per method). */
  params: unknown;
}

export interface Notification {
  kind: typeof NOTIFICATION;
  method: string;
  params: Params;
}

export type Incoming = Request | Notification;

/** The error map of PROTOCOL.md section 4. Keys in the order the spec lists them. */
export interface ErrorMap {
  type: string;
  message: string;
  traceback: string;
  hook: string | null;
  at: number | null;
}

function invalid(detail: string): never {
  throw new ProtocolError('invalid message', detail);
}

function isUint32(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 0xffffffff;
}

export function params(v: unknown, method: string): Params {
  if (v === null || v === undefined) return null;
  if (typeof v !== 'object' || Array.isArray(v) || v instanceof Uint8Array) {
    invalid(`params of ${method} must be a map or nil`);
  }
  return v as Record<string, unknown>;
}

/**
 * Any well-formed message: [0,id,method,params] | [1,id,error,result] | [2,method,params].
 * Returns the kind so the caller can refuse a response (wrong direction for a plugin).
 */
export function parseMessage(v: unknown): Incoming | { kind: typeof RESPONSE; id: number } {
  if (!Array.isArray(v) || v.length === 0) invalid('a message must be a non-empty array');
  const kind = v[0];
  if (kind === REQUEST) {
    if (v.length !== 4) invalid(`a request has 4 elements, got ${v.length}`);
    if (!isUint32(v[1])) invalid('request id must be a uint32');
    if (typeof v[2] !== 'string') invalid('request method must be a string');
    return { kind: REQUEST, id: v[1], method: v[2], params: v[3] ?? null };
  }
  if (kind === RESPONSE) {
    if (v.length !== 4) invalid(`a response has 4 elements, got ${v.length}`);
    if (!isUint32(v[1])) invalid('response id must be a uint32');
    return { kind: RESPONSE, id: v[1] };
  }
  if (kind === NOTIFICATION) {
    if (v.length !== 3) invalid(`a notification has 3 elements, got ${v.length}`);
    if (typeof v[1] !== 'string') invalid('notification method must be a string');
    return { kind: NOTIFICATION, method: v[1], params: params(v[2], v[1]) };
  }
  invalid(`unknown message kind ${String(kind)}`);
}

/** What a plugin accepts: requests and notifications; a response coming to a plugin is refused. */
export function parseIncoming(v: unknown): Incoming {
  const m = parseMessage(v);
  if (m.kind === RESPONSE) invalid(`a plugin never receives responses (got one for id ${m.id})`);
  return m;
}

export function response(id: number, error: ErrorMap | null, result: unknown): unknown[] {
  return [RESPONSE, id, error, error === null ? (result ?? null) : null];
}

export function notification(method: string, p: Record<string, unknown> | null): unknown[] {
  return [NOTIFICATION, method, p];
}

/** An error map for anything thrown (or a Promise rejected) inside a plugin method. */
export function errorMap(err: unknown, hook: string | null, at: number | null): ErrorMap {
  if (err instanceof Error) {
    // A subclass's own name (class MyError extends Error {}) first, else `name` (which code may set).
    const ctor = err.constructor?.name;
    const type = ctor && ctor !== 'Error' && ctor !== 'Object' ? ctor : err.name;
    return { type: type || 'Error', message: err.message, traceback: err.stack ?? String(err), hook, at };
  }
  // `throw "text"` or a rejection with a non-Error value: keep what there is.
  const message = typeof err === 'string' ? err : safeString(err);
  return { type: 'NonErrorThrown', message, traceback: `thrown value (not an Error): ${message}`, hook, at };
}

function safeString(v: unknown): string {
  try {
    return typeof v === 'object' ? JSON.stringify(v) ?? String(v) : String(v);
  } catch {
    return Object.prototype.toString.call(v);
  }
}

/** Reads a required field of a params map, or throws ProtocolError('invalid message'). */
export function field<T>(p: Params, key: string, check: (v: unknown) => v is T, what: string): T {
  const v = p === null ? undefined : p[key];
  if (!check(v)) invalid(`params.${key} must be ${what}`);
  return v;
}

export const isString = (v: unknown): v is string => typeof v === 'string';
export const isInt = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v);
export const isNumber = (v: unknown): v is number => typeof v === 'number';
export const isBool = (v: unknown): v is boolean => typeof v === 'boolean';
export const isBytes = (v: unknown): v is Uint8Array => v instanceof Uint8Array;
export const isMap = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array);
export const isList = (v: unknown): v is unknown[] => Array.isArray(v);
