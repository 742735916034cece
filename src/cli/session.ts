import { filesFromPath } from '../io/node-files';
import type { OpenedModel } from '../io/types';
import type { KindOpenOptions } from '../kinds/kind';
import { ModelSession } from '../session/session';
import { numberOption, stringOption, UsageError, type ParsedArgs } from './args';
import { openPath, warn } from './load';

/**
 * `--input-shape NAME=D×D×…[,NAME=…]` (`x` or `×` between dimensions): per-sample shapes for a
 * GraphModel's dynamic input dimensions, by input name.
 */
export function openOptions(args: ParsedArgs): KindOpenOptions {
  const value = stringOption(args, 'input-shape');
  if (value === undefined) return {};
  const inputShapes: Record<string, number[]> = {};
  for (const part of value.split(',')) {
    const match = /^\s*([^=]+?)\s*=\s*(\d+(?:\s*[x×]\s*\d+)*)\s*$/.exec(part);
    if (match === null) throw new UsageError(`--input-shape expects NAME=D1xD2x… (e.g. image=224x224x3), got "${part}"`);
    inputShapes[match[1]] = match[2].split(/[x×]/).map((d) => Number(d.trim()));
  }
  return { inputShapes };
}

/**
 * The model at `path` opened as the page's worker opens it (src/session), with `--data` (a dataset
 * .json, or text for a language model) or `--samples` (the kind's default) windows or samples of
 * seeded synthetic data (`--seed`); the data's NaN/±Infinity inputs are warned about.
 */
export async function openSession(args: ParsedArgs, path: string, opened?: OpenedModel): Promise<ModelSession> {
  const session = await ModelSession.create(opened ?? (await openPath(path)), undefined, openOptions(args));
  try {
    const dataPath = stringOption(args, 'data');
    if (dataPath === undefined) {
      const samples = numberOption(args, 'samples', session.kind.syntheticDefault);
      if (!Number.isInteger(samples) || samples < 1) throw new UsageError(`--samples expects an integer ≥ 1, got ${samples}`);
      const seed = numberOption(args, 'seed', 0);
      if (!Number.isInteger(seed)) throw new UsageError(`--seed expects an integer, got ${seed}`);
      session.useSynthetic(samples, seed);
    } else {
      const text = dataPath.toLowerCase().endsWith('.txt');
      if (session.kind.tokens !== undefined && !text) throw new UsageError(`--data for a language model is a .txt file, got ${dataPath}`);
      if (session.kind.tokens === undefined && !dataPath.toLowerCase().endsWith('.json')) {
        throw new UsageError(`--data for a ${session.opened.format === 'graph-model' ? 'GraphModel' : 'LayersModel'} is a dataset .json file, got ${dataPath}`);
      }
      const [file] = await filesFromPath(dataPath);
      await session.loadData(file);
      for (const message of session.dataSummary().warnings ?? []) warn(message);
    }
    return session;
  } catch (error) {
    session.dispose();
    throw error;
  }
}
