import { CRITERIA, GRANULARITIES } from '../core/criteria/types';
import { SWEEP_METRICS } from '../core/options';
import type { SweepReport } from '../worker/protocol';

/** A sweep file that cannot be shown for the open model: what was expected and what the file holds. */
export class SweepFileError extends Error {
  constructor(
    readonly file: string,
    detail: string,
  ) {
    super(`${file} is not a sweep of this model: ${detail}`);
    this.name = 'SweepFileError';
  }
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function oneOf<T extends string>(value: unknown, options: readonly T[], field: string, file: string): T {
  const found = options.find((o) => o === value);
  if (found === undefined) throw new SweepFileError(file, `"${field}" must be one of ${options.join(', ')}; got ${JSON.stringify(value)}`);
  return found;
}

/**
 * Reads a saved sweep (`lopper sweep --out`, `lopper merge`, or the page's JSON export) for the open
 * model: every row must name one of its units; cells are numbers or null (not computed).
 */
export function parseSweepFile(text: string, file: string, units: readonly string[]): SweepReport {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new SweepFileError(file, `not JSON (${error instanceof Error ? error.message : String(error)})`);
  }
  if (!isRecord(json)) throw new SweepFileError(file, 'expected a JSON object');
  const { layers, sparsities, values, dense } = json;
  if (!Array.isArray(layers) || !layers.every((l): l is string => typeof l === 'string')) throw new SweepFileError(file, '"layers" must be a list of unit names');
  if (!Array.isArray(sparsities) || !sparsities.every((s): s is number => typeof s === 'number' && s >= 0 && s <= 1))
    throw new SweepFileError(file, '"sparsities" must be a list of numbers in [0, 1]');
  if (!Array.isArray(values) || values.length !== layers.length)
    throw new SweepFileError(file, `"values" must hold ${layers.length} rows, one per layer; got ${Array.isArray(values) ? values.length : typeof values}`);
  const rows = values.map((row: unknown, i): (number | null)[] => {
    if (!Array.isArray(row) || row.length !== sparsities.length) throw new SweepFileError(file, `row ${i} (${layers[i]}) must hold ${sparsities.length} values, one per sparsity`);
    return row.map((v: unknown) => {
      if (v === null) return null;
      if (typeof v !== 'number') throw new SweepFileError(file, `row ${i} (${layers[i]}) holds ${JSON.stringify(v)}, expected a number or null`);
      return v;
    });
  });
  const known = new Set(units);
  const unknown = layers.filter((l) => !known.has(l));
  if (unknown.length > 0) throw new SweepFileError(file, `${unknown.length} of its ${layers.length} layers are not units of the open model, e.g. ${unknown[0]}`);
  const skipped = Array.isArray(json.skipped)
    ? json.skipped.flatMap((s: unknown) => (isRecord(s) && typeof s.unit === 'string' && typeof s.reason === 'string' ? [{ unit: s.unit, reason: s.reason }] : []))
    : [];
  return {
    criterion: oneOf(json.criterion, CRITERIA, 'criterion', file),
    granularity: oneOf(json.granularity, GRANULARITIES, 'granularity', file),
    metric: oneOf(json.metric, SWEEP_METRICS, 'metric', file),
    sparsities,
    layers,
    values: rows,
    dense: typeof dense === 'number' ? dense : NaN,
    dataHash: typeof json.dataHash === 'string' ? json.dataHash : '',
    backend: typeof json.backend === 'string' ? json.backend : '',
    seconds: typeof json.seconds === 'number' ? json.seconds : 0,
    cancelled: false,
    skipped,
    ...(json.delta === true ? { delta: true } : {}),
  };
}
