/**
 * What the runner tells the host when a plugin cannot be loaded (PROTOCOL.md section 5, `load_error`):
 * the user's file and line, not the loader's. With source maps enabled the frames of a built plugin
 * point at its `src/*.ts`, so the line shown is the one the author wrote.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

export type LoadErrorKind = 'syntax' | 'missing_module' | 'raised' | 'no_plugin';

export interface LoadErrorMap {
  type: string;
  message: string;
  kind: LoadErrorKind;
  file: string | null;
  line: number | null;
  column: number | null;
  source: string | null;
  traceback: string;
}

/** A load failure the loader itself detected (no default export, a feature without hooks, ...). */
export class LoadError extends Error {
  override name = 'LoadError';
}

interface Location { file: string; line: number | null; column: number | null }

function toPath(file: string): string {
  return file.startsWith('file://') ? fileURLToPath(file) : file;
}

function isUsers(file: string, roots: string[]): boolean {
  if (file.startsWith('node:') || file.includes(`${sep}node_modules${sep}`)) return false;
  const abs = resolve(file);
  return roots.some((root) => abs === root || abs.startsWith(root + sep));
}

/** `    at fn (/path/file.js:3:11)` or `    at /path/file.js:3:11` or `    at file:///path/file.mjs:3:11`. */
const FRAME = /^\s+at (?:.*? \()?((?:file:\/\/)?\/[^():]+?):(\d+):(\d+)\)?$/;

function firstUserFrame(stack: string, roots: string[]): Location | null {
  for (const text of stack.split('\n')) {
    const m = FRAME.exec(text);
    if (m && isUsers(toPath(m[1]!), roots)) return { file: toPath(m[1]!), line: Number(m[2]), column: Number(m[3]) };
  }
  return null;
}

/** Node puts a syntax error's place before the message: `/path/file.js:2\n<source>\n   ^\n\nSyntaxError: ...`. */
function syntaxHeader(stack: string): Location | null {
  const m = /^((?:file:\/\/)?\/[^\n]+?):(\d+)\n/.exec(stack);
  return m ? { file: toPath(m[1]!), line: Number(m[2]), column: null } : null;
}

/** An ES module's syntax error carries no place at all: `node --check` finds it (only on this failure path). */
function checkSyntax(entry: string): Location | null {
  const r = spawnSync(process.execPath, ['--check', entry], { encoding: 'utf8', timeout: 10_000 });
  return r.status === 0 ? null : syntaxHeader(r.stderr ?? '');
}

/** `import x from 'pkg'` in an ES module fails before any line runs: point at the line that names it. */
function importLine(file: string, specifier: string): number | null {
  try {
    const lines = readFileSync(file, 'utf8').split('\n');
    const i = lines.findIndex((l) => l.includes(`'${specifier}'`) || l.includes(`"${specifier}"`));
    return i >= 0 ? i + 1 : null;
  } catch {
    return null;
  }
}

function sourceLine(file: string | null, line: number | null): string | null {
  if (!file || !line) return null;
  try {
    const text = readFileSync(file, 'utf8').split('\n')[line - 1];
    return text === undefined ? null : text.replace(/\r$/, '') || null;
  } catch {
    return null;
  }
}

export function loadErrorMap(err: unknown, entry: string, cwd: string = process.cwd()): LoadErrorMap {
  const roots = [...new Set([resolve(cwd), dirname(resolve(entry))])];
  const e = err instanceof Error ? err : new Error(String(err));
  const stack = e.stack ?? String(e);
  const code = (e as { code?: unknown }).code;
  let kind: LoadErrorKind;
  let where: Location | null;
  let message = e.message;
  if (e instanceof LoadError) {
    kind = 'no_plugin';
    where = { file: entry, line: null, column: null };
  } else if (e.name === 'SyntaxError' && (syntaxHeader(stack) !== null || firstUserFrame(stack, roots) === null)) {
    // A file that does not parse (JSON.parse and friends throw SyntaxError too, from a line that ran)
    kind = 'syntax';
    where = syntaxHeader(stack) ?? checkSyntax(entry) ?? firstUserFrame(stack, roots);
  } else if (code === 'MODULE_NOT_FOUND' || code === 'ERR_MODULE_NOT_FOUND') {
    kind = 'missing_module';
    message = message.split('\n')[0]!;
    where = firstUserFrame(stack, roots);
    const m = /^Cannot find (?:package|module) '([^']+)' imported from (.+)$/.exec(message);
    if (!where && m) {
      const file = toPath(m[2]!);
      where = { file, line: importLine(file, m[1]!), column: null };
    }
  } else {
    kind = 'raised';
    where = firstUserFrame(stack, roots);
  }
  const file = where?.file ?? entry;
  const line = where?.line ?? null;
  return {
    type: e.name || 'Error',
    message,
    kind,
    file: resolve(file),
    line,
    column: where?.column ?? null,
    source: sourceLine(file, line),
    traceback: kind === 'no_plugin' ? '' : stack,
  };
}

/** The same facts on stderr, for a host that does not know `load_error` and for humans. */
export function describeLoadError(name: string, m: LoadErrorMap): string {
  const where = m.file + (m.line ? `:${m.line}` : '');
  let text = `plughost: cannot load plugin '${name}': ${where}: ${m.type}: ${m.message}\n`;
  if (m.source) text += `    ${m.source.trim()}\n`;
  if (m.traceback) text += m.traceback + '\n';
  return text;
}
