import { syntheticInputs } from '../core/data/synthetic';
import { PrunableModel } from '../core/model/runtime';
import { checkDatasetFitsModel, parseDataset } from '../io/dataset';
import { filesFromPath } from '../io/node-files';
import { openModel, splitDrop } from '../io/open';
import type { Dataset, OpenedModel } from '../io/types';
import { nonFiniteInputWarnings, nonFiniteWeightWarnings } from '../io/warnings';
import { numberOption, stringOption, UsageError, type ParsedArgs } from './args';

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

export async function loadModel(path: string): Promise<{ opened: OpenedModel; model: PrunableModel }> {
  const opened = await openPath(path);
  const model = await PrunableModel.fromArtifacts(opened.artifacts);
  return { opened, model };
}

/** The `--data` dataset checked against the model, or `--samples` seeded synthetic inputs without it. */
export async function loadData(args: ParsedArgs, model: PrunableModel): Promise<Dataset> {
  const dataPath = stringOption(args, 'data');
  if (dataPath === undefined) {
    const samples = numberOption(args, 'samples', 32);
    const seed = numberOption(args, 'seed', 0);
    const { inputs, shape, hash } = syntheticInputs(model.inputShape, samples, seed);
    return { source: 'synthetic', inputs, shape, hash };
  }
  const [file] = await filesFromPath(dataPath);
  const dataset = await parseDataset(file);
  for (const message of nonFiniteInputWarnings(file.path, dataset.inputs)) warn(message);
  const classes = model.outputShape[model.outputShape.length - 1];
  checkDatasetFitsModel(dataset, model.inputShape, typeof classes === 'number' ? classes : undefined);
  return dataset;
}

export function modelPath(args: ParsedArgs): string {
  const path = args.positionals[0];
  if (!path) throw new UsageError(`lopper ${args.command}: missing <model> (a model.json, a folder or a .zip)`);
  return path;
}
