import { zipSync, type Zippable } from 'fflate';
import { recipeJson, type Recipe } from '../recipe';
import { ExportError, type ExportFile } from './tfjs-layers-writer';

/** Fixed entry times (local 2024-01-01 00:00) so that the same export gives the same zip bytes. */
const ENTRY_TIME = new Date(2024, 0, 1);
export const RECIPE_FILE = 'recipe.json';

/**
 * The downloadable `.zip` of an export (DESIGN §6): the model's files and, when given,
 * `recipe.json`, all at the zip root. Deflated, so runs of pruned zeros shrink.
 */
export function exportZip(files: readonly ExportFile[], recipe?: Recipe): Uint8Array {
  const entries: Zippable = {};
  const all = recipe === undefined ? files : [...files, { path: RECIPE_FILE, bytes: new TextEncoder().encode(recipeJson(recipe)) }];
  for (const file of all) {
    if (file.path === '' || file.path.includes('/') || file.path.includes('\\')) {
      throw new ExportError(`export file "${file.path}" must be a plain file name: everything sits at the zip root`);
    }
    if (file.path in entries) throw new ExportError(`the export holds "${file.path}" twice`);
    entries[file.path] = file.bytes;
  }
  return zipSync(entries, { level: 6, mtime: ENTRY_TIME });
}
