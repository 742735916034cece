import { readKernel, type KernelHolder } from '../model/kernels';
import { mulberry32 } from '../data/synthetic';
import type { UnitInfo } from '../types';

/** A model's units, as the architecture check compares them. */
interface UnitSource {
  units(): readonly Pick<UnitInfo, 'name' | 'shape'>[];
}

/** DARE (DESIGN §3): drop each fine-tuning delta with probability `p`, rescale the kept ones. */
export interface DareOptions {
  /** Drop probability in [0, 1). */
  p: number;
  /** DAREx-q: rescale kept deltas by 1/q instead of 1/(1 − p); q in (0, 1]. */
  q?: number;
  seed: number;
}

/** The base and the fine-tuned model do not have the same prunable units with the same shapes. */
export class ArchitectureMismatchError extends Error {
  override name = 'ArchitectureMismatchError';
}

function checkOptions({ p, q }: DareOptions): number {
  if (!(p >= 0 && p < 1)) throw new RangeError(`DARE drop probability p must be in [0, 1), got ${p}`);
  if (q !== undefined && !(q > 0 && q <= 1)) throw new RangeError(`DAREx rescale q must be in (0, 1], got ${q}`);
  return 1 / (q ?? 1 - p);
}

/**
 * W_base + δ' where δ = W_fine − W_base, each δ dropped with probability p (one uniform draw
 * of `mulberry32(seed)` per element, in order; dropped when the draw is below p) and the
 * kept ones multiplied by 1/(1 − p), or by 1/q when q is given.
 */
export function dare(base: Float32Array, fine: Float32Array, options: DareOptions): Float32Array {
  if (base.length !== fine.length) throw new RangeError(`DARE needs weights of one size: base has ${base.length}, fine-tuned ${fine.length}`);
  const scale = checkOptions(options);
  const random = mulberry32(options.seed);
  const out = new Float32Array(base.length);
  for (let i = 0; i < base.length; i++) {
    const kept = random() >= options.p;
    out[i] = kept ? base[i] + (fine[i] - base[i]) * scale : base[i];
  }
  return out;
}

/** A per-unit seed: FNV-1a of the unit's name mixed with `seed`, so a unit's draws do not depend on which other units are pruned. */
export function unitSeed(seed: number, unit: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < unit.length; i++) hash = Math.imul(hash ^ unit.charCodeAt(i), 0x01000193);
  return (hash ^ Math.imul(seed >>> 0, 0x9e3779b1)) >>> 0;
}

const shapeText = (shape: readonly number[]): string => `[${shape.join(', ')}]`;

function listed(names: readonly string[], max = 8): string {
  return names.length <= max ? names.join(', ') : `${names.slice(0, max).join(', ')} and ${names.length - max} more`;
}

/** Throws unless both models have the same units (names and kernel shapes). */
export function checkSameArchitecture(fine: UnitSource, base: UnitSource): void {
  const baseUnits = new Map(base.units().map((unit) => [unit.name, unit.shape]));
  const fineUnits = fine.units();
  const fineNames = new Set(fineUnits.map((unit) => unit.name));
  const onlyFine = fineUnits.filter((unit) => !baseUnits.has(unit.name)).map((unit) => unit.name);
  const onlyBase = [...baseUnits.keys()].filter((name) => !fineNames.has(name));
  if (onlyFine.length > 0 || onlyBase.length > 0) {
    const parts = [
      ...(onlyFine.length > 0 ? [`only in the fine-tuned model: ${listed(onlyFine)}`] : []),
      ...(onlyBase.length > 0 ? [`only in the base: ${listed(onlyBase)}`] : []),
    ];
    throw new ArchitectureMismatchError(`the fine-tuned and the base model are not the same architecture (${parts.join('; ')})`);
  }
  for (const unit of fineUnits) {
    const shape = baseUnits.get(unit.name) as number[];
    if (shapeText(shape) !== shapeText(unit.shape)) {
      throw new ArchitectureMismatchError(
        `the fine-tuned and the base model are not the same architecture (unit ${unit.name} is ${shapeText(unit.shape)} in the fine-tuned model, ${shapeText(shape)} in the base)`,
      );
    }
  }
}

/**
 * DARE on the kernels of `units` of a fine-tuned model against its base (same architecture,
 * checked first). Returns the new kernels by unit; the models are not changed. Each unit draws
 * from its own stream (`unitSeed(seed, unit)`).
 */
export async function dareModel(
  fine: UnitSource & KernelHolder,
  base: UnitSource & KernelHolder,
  units: readonly string[],
  options: DareOptions,
): Promise<Map<string, Float32Array>> {
  checkSameArchitecture(fine, base);
  checkOptions(options);
  const kernels = new Map<string, Float32Array>();
  for (const unit of units) {
    const [baseValues, fineValues] = [await readKernel(base, unit), await readKernel(fine, unit)];
    kernels.set(unit, dare(baseValues, fineValues, { ...options, seed: unitSeed(options.seed, unit) }));
  }
  return kernels;
}
