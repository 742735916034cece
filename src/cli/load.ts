import { syntheticInputs } from '../core/data/synthetic';
import { PrunableModel } from '../core/model/runtime';
import { checkDatasetFitsModel, parseDataset } from '../io/dataset';
import { filesFromPath } from '../io/node-files';
import { openModel, splitDrop } from '../io/open';
import type { Dataset, OpenedModel } from '../io/types';
import { numberOption, stringOption, UsageError, type ParsedArgs } from './args';

/** Where a command's result goes: one JSON line on stdout with `--json`, readable lines otherwise. */
export interface Output {
  json: boolean;
  print(value: Record<string, unknown>): void;
}

/** The model at a path (model.json, folder, zip, HF folder), checked and decoded but not built. */
export async function openPath(path: string): Promise<OpenedModel> {
  const files = await filesFromPath(path);
  return openModel((await splitDrop(files.filter((f) => !f.path.toLowerCase().endsWith('.txt')))).modelFiles);
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
  const classes = model.outputShape[model.outputShape.length - 1];
  checkDatasetFitsModel(dataset, model.inputShape, typeof classes === 'number' ? classes : undefined);
  return dataset;
}

export function modelPath(args: ParsedArgs): string {
  const path = args.positionals[0];
  if (!path) throw new UsageError(`lopper ${args.command}: missing <model> (a model.json, a folder or a .zip)`);
  return path;
}
