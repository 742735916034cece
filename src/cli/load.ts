import { filesFromPath } from '../io/node-files';
import { openModel, splitDrop } from '../io/open';
import type { OpenedModel } from '../io/types';
import { nonFiniteWeightWarnings } from '../io/warnings';
import { UsageError, type ParsedArgs } from './args';

/** Where a command's result goes: one JSON line on stdout with `--json`, readable lines otherwise. */
export interface Output {
  json: boolean;
  print(value: Record<string, unknown>): void;
}

const warnings: string[] = [];

/** A problem that does not stop the command (NaN weights, infinite inputs): said on stderr at once, and carried in the JSON's `warnings`. */
export function warn(message: string): void {
  if (warnings.includes(message)) return;
  warnings.push(message);
  process.stderr.write(`lopper: warning: ${message}\n`);
}

/** The warnings of this run so far, clearing them. */
export function takeWarnings(): string[] {
  return warnings.splice(0, warnings.length);
}

/** The model at a path (model.json, folder, zip, HF folder), checked and decoded but not built; its NaN/Inf weights are warned about. */
export async function openPath(path: string): Promise<OpenedModel> {
  const files = await filesFromPath(path);
  const opened = await openModel((await splitDrop(files.filter((f) => !f.path.toLowerCase().endsWith('.txt')))).modelFiles);
  for (const message of nonFiniteWeightWarnings(opened)) warn(message);
  return opened;
}

export function modelPath(args: ParsedArgs): string {
  const path = args.positionals[0];
  if (!path) throw new UsageError(`lopper ${args.command}: missing <model> (a model.json, a folder or a .zip)`);
  return path;
}
