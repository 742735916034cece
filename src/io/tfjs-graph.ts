import { NoModelFoundError } from './errors';
import { graphModelNotSupported } from './manifest';
import { modelJsonFilesOfKind, onlyModelJson, readModelJsonFilesOfKind } from './model-json-files';
import type { InputFile, MatchContext, ModelFormat, OpenedModel } from './types';

/** TF.js GraphModels are recognised so that the user hears clearly that they are not supported yet. */
export const tfjsGraphFormat: ModelFormat = {
  name: 'graph-model',
  match(files: readonly InputFile[], context?: MatchContext): boolean {
    return context !== undefined && modelJsonFilesOfKind(files, 'graph-model', (file) => context.json(file.path)).length > 0;
  },
  async open(files: readonly InputFile[]): Promise<OpenedModel> {
    const modelFile = onlyModelJson(await readModelJsonFilesOfKind(files, 'graph-model'));
    if (modelFile === undefined) throw new NoModelFoundError(files.map((f) => f.path), 'a TF.js GraphModel model.json');
    throw graphModelNotSupported(modelFile.path);
  },
};
