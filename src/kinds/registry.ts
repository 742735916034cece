import { HF_TRANSFORMER_CAPABILITIES, LAYERS_MODEL_CAPABILITIES } from '../core/pipeline/capabilities';
import type { KindCapabilities, ModelKindKey } from '../core/pipeline/prunable';
import { GRAPH_MODEL_CAPABILITIES } from './graph-model';

/** What each model kind offers, by its format name (DESIGN §2): the one place a kind is registered for the hosts. */
export const KIND_CAPABILITIES: Readonly<Record<ModelKindKey, KindCapabilities>> = {
  'layers-model': LAYERS_MODEL_CAPABILITIES,
  'graph-model': GRAPH_MODEL_CAPABILITIES,
  'hf-transformer': HF_TRANSFORMER_CAPABILITIES,
};
