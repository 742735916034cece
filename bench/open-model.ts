/**
 * Builds one model as `lopper eval` does before its first forward pass (open, digest, NaN check,
 * the session's kind on the wasm backend), prints its parameter count as JSON and exits: the child
 * process `bench/load-memory.ts` measures for the "open" row.
 *
 * Run: node --import tsx bench/open-model.ts <model> [--root DIR] (DIR: the Lopper checkout whose code runs; this one by default)
 */
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type * as Backend from '../src/cli/backend';
import type * as Load from '../src/cli/load';
import type * as Session from '../src/session/session';

async function moduleOf<T>(root: string, path: string): Promise<T> {
  return (await import(pathToFileURL(join(root, path)).href)) as T;
}

const args = process.argv.slice(2);
const rootAt = args.indexOf('--root');
const root = resolve(rootAt >= 0 ? (args[rootAt + 1] ?? '.') : join(import.meta.dirname, '..'));
const model = args.find((arg, i) => !arg.startsWith('--') && args[i - 1] !== '--root');
if (model === undefined) throw new Error('usage: open-model.ts <model> [--root DIR]');
const { startBackend } = await moduleOf<typeof Backend>(root, 'src/cli/backend.ts');
const { openPath } = await moduleOf<typeof Load>(root, 'src/cli/load.ts');
const { ModelSession } = await moduleOf<typeof Session>(root, 'src/session/session.ts');
await startBackend('wasm');
const session = await ModelSession.create(await openPath(model));
process.stdout.write(`${JSON.stringify({ totalParams: session.summary.totalParams })}\n`);
session.dispose();
