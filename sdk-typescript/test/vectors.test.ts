/** protocol/vectors: golden frames both ways, bad frames refused (the order book's vectors: orders.test.ts). */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { decode, encode } from '../src/codec';
import { FrameDecoder, encodeFrame } from '../src/framing';
import { parseMessage } from '../src/messages';
import { ProtocolError } from '../src/errors';
import { candlesAnswer, signalColumns } from '../src/answers';
import type { CandlesResult, WireSignal } from '../src/driver';
import { loadErrorMap } from '../src/loaderror';
import { fromJson, toJson, vectors } from './helpers';

interface FrameVector { name: string; direction: string; hex: string; message: unknown }
interface BadVector { name: string; hex: string; max_frame: number; error: string }

for (const v of vectors<FrameVector[]>('frames.json')) {
  test(`frame ${v.name}: decodes to message`, () => {
    const frames = new FrameDecoder(64 * 1024 * 1024).push(Buffer.from(v.hex, 'hex'));
    assert.equal(frames.length, 1);
    const decoded = decode(frames[0]!);
    parseMessage(decoded);
    assert.deepEqual(toJson(decoded), v.message);
  });
  test(`frame ${v.name}: encodes back byte for byte`, () => {
    assert.equal(encodeFrame(encode(fromJson(v.message))).toString('hex'), v.hex);
  });
}

test('frames split at every byte boundary decode the same', () => {
  const all = vectors<FrameVector[]>('frames.json');
  const stream = Buffer.concat(all.map((v) => Buffer.from(v.hex, 'hex')));
  for (const step of [1, 3, 7, 64]) {
    const dec = new FrameDecoder();
    const got: unknown[] = [];
    for (let i = 0; i < stream.length; i += step) for (const f of dec.push(stream.subarray(i, i + step))) got.push(toJson(decode(f)));
    assert.deepEqual(got, all.map((v) => v.message), `chunk size ${step}`);
    assert.equal(dec.midFrame, false);
  }
});

for (const v of vectors<BadVector[]>('bad_frames.json')) {
  test(`bad frame ${v.name}: refused with ProtocolError(${v.error})`, () => {
    const dec = new FrameDecoder(v.max_frame);
    assert.throws(() => {
      for (const body of dec.push(Buffer.from(v.hex, 'hex'))) parseMessage(decode(body));
    }, (e: unknown) => e instanceof ProtocolError && e.kind === v.error);
  });
}

test('nesting: 1024 levels accepted, 1025 refused (same limit as the host)', () => {
  assert.deepEqual(decode(Buffer.concat([Buffer.alloc(1023, 0x91), Buffer.from([0x90])])) !== undefined, true);
  assert.throws(() => decode(Buffer.concat([Buffer.alloc(1025, 0x91), Buffer.from([0xc0])])), ProtocolError);
});

test('ext types and truncated values are invalid msgpack', () => {
  for (const hex of ['d4010a', 'c70100', 'cb0000', 'a3616263ff', 'dc0002c0']) {
    assert.throws(() => decode(Buffer.from(hex, 'hex')), (e: unknown) => e instanceof ProtocolError && e.kind === 'invalid msgpack', hex);
  }
});

test('integers: smallest format, BigInt beyond 2^53, integral numbers stay ints', () => {
  const cases: [unknown, string][] = [
    [0, '00'], [127, '7f'], [128, 'cc80'], [65536, 'ce00010000'], [2 ** 32, 'cf0000000100000000'],
    [-1, 'ff'], [-33, 'd0df'], [-129, 'd1ff7f'], [-(2 ** 31) - 1, 'd3ffffffff7fffffff'],
    [2n ** 64n - 1n, 'cfffffffffffffffff'], [5n, '05'], [1.5, 'cb3ff8000000000000'],
  ];
  for (const [v, hex] of cases) assert.equal(encode(v).toString('hex'), hex, String(v));
  assert.equal(decode(Buffer.from('cf0020000000000001', 'hex')), 2n ** 53n + 1n);
  assert.equal(decode(Buffer.from('cf0020000000000000', 'hex')), 2 ** 53);
  assert.throws(() => encode(2n ** 64n), TypeError);
});

test('the candles answer: signals encode as the columns vector (protocol 3), byte for byte', () => {
  const all = vectors<FrameVector[]>('frames.json');
  const maps = fromJson(all.find((v) => v.name === 'candles_response')!.message) as [number, number, null, CandlesResult];
  const want = all.find((v) => v.name === 'candles_response_columns')!;
  const answer = candlesAnswer(maps[3]);
  assert.equal(encodeFrame(encode([1, 2, null, answer])).toString('hex'), want.hex);
});

test('a signal the columns cannot carry sends the whole batch as maps (the host refuses it, not the SDK)', () => {
  const ok = { at: 0, alert: null, type: 'entry', side: null, size: null, price: null, stop: null, valid_for: null,
    stop_loss: null, take_profit: null, trail_pct: null, symbol: null, reason: null } as WireSignal;
  assert.notEqual(signalColumns([ok]), null);
  for (const bad of [{ size: NaN }, { side: 'sideways' }, { valid_for: 0 }, { valid_for: 1.5 }, { reason: 7 },
    { symbol: 3 }, { price: '1' }, { size: true }]) {
    const sig = { ...ok, ...bad } as WireSignal;
    assert.equal(signalColumns([ok, sig]), null, JSON.stringify(bad));
    assert.deepEqual(candlesAnswer({ signals: [ok, sig], book: { cash: 1, positions: {} } }).signals, [ok, sig]);
  }
});

test('load_error: the runner sends the vector\'s keys, in its order', () => {
  const frames = vectors<{ name: string; message: unknown[] }[]>('frames.json');
  const vector = frames.find((f) => f.name === 'load_error_notification')!;
  const sent = loadErrorMap(new Error('boom'), __filename);
  assert.deepEqual(Object.keys(sent), Object.keys(vector.message[2] as object));
  assert.equal(sent.kind, 'raised');
});
