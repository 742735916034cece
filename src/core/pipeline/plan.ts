import type * as tf from '@tensorflow/tfjs';
import { allocate } from '../allocate/registry';
import { parseNMPattern } from '../masks';
import { lockedSparsities, type PruningPlan } from '../plan';
import { allocationExtras, type AllocationOptions } from './allocation';
import type { PipelineData } from './data';
import type { Prunable } from './prunable';

/**
 * The per-unit sparsities a plan's target and allocation give, for every kind and host: N:M puts
 * N/M on every live unit; otherwise the allocation spreads the target over the units left after
 * `plan.removed`, locked units keeping their values.
 */
export async function allocatePlan(
  model: Prunable,
  plan: PruningPlan,
  data: PipelineData,
  batches: readonly tf.Tensor[],
  options: AllocationOptions & { lambda?: number } = {},
): Promise<{ sparsity: Record<string, number>; note?: string }> {
  const live = model.liveUnits(plan.removed);
  const pattern = parseNMPattern(plan.granularity);
  if (pattern) return { sparsity: Object.fromEntries(live.map((unit) => [unit.name, plan.target > 0 ? pattern.n / pattern.m : 0])) };
  const units = live.map((unit) => ({ name: unit.name, size: unit.size }));
  const extras = await allocationExtras(
    model,
    plan,
    data,
    batches,
    units.map((u) => u.name),
    options,
  );
  const locked = Object.fromEntries(Object.entries(lockedSparsities(plan)).filter(([unit]) => units.some((u) => u.name === unit)));
  const result = allocate(plan.allocation, { ...extras, units, target: plan.target, locked, ...(options.lambda !== undefined && { lambda: options.lambda }) });
  return { sparsity: result.sparsity, ...(result.note !== undefined && { note: result.note }) };
}
