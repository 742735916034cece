import { hfTransformerFormat } from './hf-transformer';
import { tfjsGraphFormat } from './tfjs-graph';
import { tfjsLayersFormat } from './tfjs-layers';
import type { ModelFormat } from './types';

/** Model formats, tried in order; the first whose `match` accepts the files opens them. */
export const modelFormats: readonly ModelFormat[] = [tfjsGraphFormat, tfjsLayersFormat, hfTransformerFormat];
