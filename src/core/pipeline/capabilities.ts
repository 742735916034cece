import type { KindCapabilities } from './prunable';

/**
 * What each model kind offers, as plain data (no tfjs): the page shows only these choices and
 * gives the reason for the others; the CLI refuses the same with the same words.
 */
export const LAYERS_MODEL_CAPABILITIES: KindCapabilities = {
  criteria: ['magnitude', 'wanda', 'sparsegpt', 'random'],
  granularities: ['unstructured', '2:4', '4:8', 'channels'],
  allocations: ['uniform', 'global', 'sensitivity', 'owl', 'ecoflap'],
  removal: true,
  delta: true,
  unavailable: {},
};

export const HF_TRANSFORMER_CAPABILITIES: KindCapabilities = {
  criteria: ['magnitude', 'wanda', 'sparsegpt', 'random'],
  granularities: ['unstructured', '2:4', '4:8'],
  allocations: ['uniform', 'global', 'sensitivity', 'owl', 'ecoflap'],
  removal: true,
  delta: true,
  unavailable: {
    channels: 'transformer projections have no channel groups yet: use unstructured or N:M',
  },
};

/** Criteria that can score channel groups (core/structure/keep.ts). */
const CHANNEL_CRITERIA: readonly string[] = ['magnitude', 'wanda', 'random'];

/**
 * Why a choice is not available for the open model with the rest of the plan as it is, or
 * undefined when it is. `what` is the select the option belongs to.
 */
export function unavailableChoice(
  capabilities: KindCapabilities,
  what: 'criterion' | 'granularity' | 'allocation',
  option: string,
  plan: { criterion: string; granularity: string },
): string | undefined {
  const offered: readonly string[] = what === 'criterion' ? capabilities.criteria : what === 'granularity' ? capabilities.granularities : capabilities.allocations;
  if (!offered.includes(option)) return capabilities.unavailable[option] ?? `${option} is not available for this model`;
  if (what === 'granularity' && option === 'channels' && !CHANNEL_CRITERIA.includes(plan.criterion))
    return `channel groups are scored by ${CHANNEL_CRITERIA.join(', ')}, not ${plan.criterion}`;
  if (what === 'criterion' && plan.granularity === 'channels' && !CHANNEL_CRITERIA.includes(option))
    return `${option} cannot score channel groups: pick unstructured or N:M for it`;
  return undefined;
}
