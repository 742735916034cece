import { ManifestError } from './errors';
import { basename, hasExtension, readJson } from './input-file';
import { modelJsonKind, type ModelJsonKind } from './manifest';
import type { InputFile } from './types';

/**
 * The `.json` files in a set that are TF.js model.json files of `kind`, judged by their parsed
 * content (`jsonOf`). A file named `model.json` whose content is not recognised counts as a
 * LayersModel, so that its reader can say what is wrong with it.
 */
export function modelJsonFilesOfKind(files: readonly InputFile[], kind: ModelJsonKind, jsonOf: (file: InputFile) => unknown): InputFile[] {
  return files.filter((file) => {
    if (!hasExtension(file.path, '.json')) return false;
    const found = modelJsonKind(jsonOf(file));
    if (found !== undefined) return found === kind;
    return kind === 'layers-model' && basename(file.path).toLowerCase() === 'model.json';
  });
}

/** Like `modelJsonFilesOfKind`, reading (and caching) the JSON of every `.json` file. */
export async function readModelJsonFilesOfKind(files: readonly InputFile[], kind: ModelJsonKind): Promise<InputFile[]> {
  const jsonFiles = files.filter((file) => hasExtension(file.path, '.json'));
  const parsed = new Map<InputFile, unknown>();
  for (const file of jsonFiles) parsed.set(file, await readJson(file));
  return modelJsonFilesOfKind(jsonFiles, kind, (file) => parsed.get(file));
}

/** The one model.json among `candidates`; several is an error the user can fix by dropping one model. */
export function onlyModelJson(candidates: readonly InputFile[]): InputFile | undefined {
  const [first, second] = candidates;
  if (first !== undefined && second !== undefined) {
    throw new ManifestError({
      file: first.path,
      message: 'is one of several model files in the drop; drop one model at a time',
      expected: 'one model.json',
      actual: candidates.map((f) => f.path).join(', '),
    });
  }
  return first;
}
