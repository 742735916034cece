import type { KindCapabilities, ModelKindKey } from '../core/pipeline/prunable';
import type { OpenedModel } from '../io/types';
import { GRAPH_MODEL_KIND } from './graph-model/kind';
import { HF_TRANSFORMER_KIND } from './hf-transformer/kind';
import type { KindModel, KindOpenOptions, ModelKind } from './kind';
import { LAYERS_MODEL_KIND } from './layers-model/kind';

/** Every model kind, by its format name (DESIGN §2): the one place a kind is registered for the hosts. */
export const KINDS: Readonly<Record<ModelKindKey, ModelKind>> = {
  'layers-model': LAYERS_MODEL_KIND,
  'graph-model': GRAPH_MODEL_KIND,
  'hf-transformer': HF_TRANSFORMER_KIND,
};

/** What each model kind offers, by its format name. */
export const KIND_CAPABILITIES: Readonly<Record<ModelKindKey, KindCapabilities>> = {
  'layers-model': LAYERS_MODEL_KIND.capabilities,
  'graph-model': GRAPH_MODEL_KIND.capabilities,
  'hf-transformer': HF_TRANSFORMER_KIND.capabilities,
};

/** Builds an opened model as its kind. */
export function openKind(opened: OpenedModel, options?: KindOpenOptions): Promise<KindModel> {
  return KINDS[opened.format].open(opened, options);
}
