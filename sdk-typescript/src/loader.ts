/**
 * Loads a plugin file: ESM or CommonJS; the default export (or `plugin`) is a class, instantiated with no
 * arguments, or an object. CommonJS compiled by tsc puts the default export at `module.exports.default`
 * (with `__esModule`), which `import()` wraps once more: both layers are unwrapped.
 */
import { existsSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import type { FeaturePlugin, StrategyPlugin } from './types';
import type { PluginKind } from './server';
import { LoadError } from './loaderror';

export { LoadError };

// tsc (module node16, CommonJS output) keeps `import()` as a real dynamic import, so ESM files load too.
export async function importEntry(entry: string): Promise<unknown> {
  return import(pathToFileURL(entry).href);
}

function unwrap(mod: unknown): unknown {
  let v = mod;
  for (let i = 0; i < 3 && v !== null && typeof v === 'object'; i++) {
    const o = v as Record<string, unknown>;
    if ('default' in o && o['default'] !== undefined) v = o['default'];
    else if ('plugin' in o && o['plugin'] !== undefined) v = o['plugin'];
    else break;
  }
  return v;
}

export function instantiate(mod: unknown, _entry?: string): Record<string, unknown> {
  const v = unwrap(mod);
  // A constructor that throws is not wrapped: its own stack points at the author's line.
  if (typeof v === 'function') return new (v as new () => Record<string, unknown>)();
  if (v !== null && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    // The module's exports rather than a plugin: `export class X` where `export default class X` was meant.
    const isNamespace = Object.prototype.toString.call(o) === '[object Module]' || o['__esModule'] === true;
    const pluginKeys = ['onCandle', 'onBatch', 'onAlert', 'onExit', 'initialize', 'hooks', 'name'];
    if (isNamespace && !pluginKeys.some((k) => k in o)) {
      const named = Object.keys(o).filter((k) => k !== '__esModule');
      throw new LoadError(`no plugin found: the module has no default export (named exports: ${named.join(', ') || 'none'}); ` +
        'write `export default class ...` or `export default { ... }`');
    }
    return o;
  }
  throw new LoadError(`no plugin found: default-export a class or an object (got ${v === null ? 'null' : typeof v})`);
}

/** Checks the shape for its type; throws LoadError with a message meant for the plugin author. */
export function checkShape(p: Record<string, unknown>, kind: PluginKind, _entry?: string): StrategyPlugin | FeaturePlugin {
  // A strategy without onCandle/onBatch still says hello: the host refuses it from `methods`, by name.
  if (kind === 'strategy') return p as StrategyPlugin;
  const hooks = p['hooks'];
  if (hooks === null || typeof hooks !== 'object') {
    throw new LoadError('a feature must have a `hooks` object ({ onPreRun?, onPostRun?, onTrade?, onCandle? })');
  }
  return p as unknown as FeaturePlugin;
}

/** Import errors propagate as they are (the runner finds the author's line in them). */
export async function loadPlugin(entry: string, kind: PluginKind): Promise<StrategyPlugin | FeaturePlugin> {
  if (!existsSync(entry)) throw new LoadError(`the entry file ${entry} does not exist (build the plugin?)`);
  return checkShape(instantiate(await importEntry(entry), entry), kind, entry);
}
