import * as tf from '@tensorflow/tfjs';
import type { TransformerModel } from '../transformer/model';
import { yieldToEventLoop } from '../yield';
import { windowBatches } from './windows';

export interface BlockInfluence {
  /** Module path of the block: `model.layers.3`, `transformer.h.0`. */
  block: string;
  /** 1 − mean over tokens of cos(hidden entering the block, hidden leaving it). */
  influence: number;
}

/** `model.layers.3.self_attn` → `model.layers.3`. */
function blockOf(candidate: string): string {
  return candidate.slice(0, candidate.lastIndexOf('.'));
}

/**
 * ShortGPT's Block Influence (Men et al. 2024): BI_i = 1 − E_t[cos(x_i,t, x_i+1,t)], x_i the
 * residual stream entering block i, over every token of the calibration windows. A low influence
 * means the block changes its input little: ShortGPT removes the lowest first, in one shot.
 */
export async function blockInfluence(model: TransformerModel, windows: readonly (readonly number[])[], options: { batchSize?: number } = {}): Promise<BlockInfluence[]> {
  const layers = model.config.layers;
  const sums = new Float64Array(layers);
  let tokens = 0;
  for (const batch of windowBatches(windows, model.config.vocabSize, options.batchSize)) {
    const kept: tf.Scalar[] = [];
    const ids = tf.tensor2d(batch.ids, batch.shape, 'int32');
    let previous: tf.Tensor3D | undefined;
    const logits = model.forward(ids, {
      onHidden: (index, hidden) => {
        if (previous !== undefined) {
          const before = previous;
          kept.push(
            tf.keep(
              tf.tidy(() => {
                const dot = before.mul(hidden).sum(-1);
                const norms = before.norm('euclidean', -1).mul(hidden.norm('euclidean', -1)).maximum(1e-30);
                return dot.div(norms).sum() as tf.Scalar;
              }),
            ),
          );
          before.dispose();
        }
        previous = index < layers ? hidden.clone() : undefined;
      },
    });
    const values = await Promise.all(kept.map((s) => s.data()));
    tf.dispose([ids, logits, ...kept]);
    values.forEach((v, i) => (sums[i] += v[0]));
    tokens += batch.shape[0] * batch.shape[1];
    await yieldToEventLoop();
  }
  const candidates = model.removalCandidates();
  return Array.from(sums, (sum, i) => ({ block: blockOf(candidates[2 * i]), influence: 1 - sum / tokens }));
}

/** ShortGPT's one-shot order: blocks by increasing influence (ties: the earlier block). */
export function blockInfluenceOrder(influence: readonly BlockInfluence[]): string[] {
  return influence
    .map((entry, index) => ({ ...entry, index }))
    .sort((a, b) => a.influence - b.influence || a.index - b.index)
    .map((entry) => entry.block);
}
