/**
 * A warm spare (PLUGHOST_SPARE_FD): the runner waits for the host's assignment before loading anything,
 * then runs with exactly the assigned environment and folder; told nothing (end of file), it exits quietly.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, realpathSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decode } from '../src/codec';
import { FrameDecoder } from '../src/framing';
import { FIXTURES, SDK_ROOT } from './helpers';

const RUNNER = join(SDK_ROOT, 'dist', 'runner.js');
const TIMEOUT = { timeout: 20_000 };
const BASE = { PATH: process.env['PATH'] ?? '', PLUGHOST_MAGIC_COOKIE: 'plughost-plugin-v1', PLUGHOST_PROTOCOL_VERSIONS: '2,3' };

/** Runs a spare whose assignment descriptor (fd 3) reads `assignment`; stdin is closed at once. */
function spare(assignment: string): ReturnType<typeof spawnSync> {
  const dir = mkdtempSync(join(tmpdir(), 'plughost-spare-'));
  const file = join(dir, 'assignment.json');
  writeFileSync(file, assignment);
  const fd = openSync(file, 'r');
  try {
    return spawnSync(process.execPath, [RUNNER], {
      env: { ...BASE, PLUGHOST_SPARE_FD: '3', PROBE: 'the spare' }, stdio: ['pipe', 'pipe', 'pipe', fd],
      input: '', encoding: 'buffer', timeout: 15_000,
    });
  } finally {
    closeSync(fd);
  }
}

test('a spare becomes the runner of the plugin it is assigned, with its environment and folder', TIMEOUT, () => {
  const folder = realpathSync(mkdtempSync(join(tmpdir(), 'plughost-plugin-')));
  const env = { ...BASE, PLUGHOST_PLUGIN_ENTRY: join(FIXTURES, 'env-probe.cjs'), PLUGHOST_PLUGIN_NAME: 'probe',
    PLUGHOST_PLUGIN_TYPE: 'strategy', PROBE: 'assigned' };
  const r = spare(JSON.stringify({ env, cwd: folder }));
  assert.equal(r.status, 0, String(r.stderr));
  const frames = new FrameDecoder().push(r.stdout as Buffer).map((f) => decode(f));
  const [kind, method, params] = frames[0] as [number, string, Record<string, Record<string, unknown>>];
  assert.deepEqual([kind, method], [2, 'hello']);
  assert.equal(params['plugin']!['name'], `assigned|${folder}|false`);
});

test('a spare told nothing exits without a word; a bad assignment is a fatal error', TIMEOUT, () => {
  const idle = spare('');
  assert.equal(idle.status, 0);
  assert.equal((idle.stdout as Buffer).length, 0);
  const bad = spare('{"env": 1}');
  assert.equal(bad.status, 1);
  assert.equal((bad.stdout as Buffer).length, 0);
  assert.match(String(bad.stderr), /bad assignment from the host/);
});
