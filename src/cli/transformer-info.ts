import { readFile } from 'node:fs/promises';
import * as tf from '@tensorflow/tfjs';
import { TransformerModel } from '../core/transformer/model';
import { perplexity } from '../core/transformer/perplexity';
import { sha256Hex } from '../io/hash';
import { tokenizeText } from '../io/text';
import type { OpenedModel, TransformerPayload } from '../io/types';
import { numberOption, stringOption, UsageError, type ParsedArgs } from './args';
import type { Output } from './load';

/** `lopper inspect` for a Hugging Face transformer: its projections are the layers (and units). */
export function inspectTransformer(opened: OpenedModel, payload: TransformerPayload, out: Output): void {
  const model = new TransformerModel(payload.config, payload.tensors);
  try {
    const units = model.units();
    out.print({
      format: opened.format,
      name: opened.name,
      totalParams: model.parameterCount(),
      totalFlops: units.reduce((n, u) => n + 2 * u.size, 0),
      layers: units.map((u) => ({ name: u.name, type: 'Linear', outputShape: [null, null, u.shape[1]], params: u.size, flops: 2 * u.size, prunable: true })),
      units: units.map((u) => u.name),
      removalCandidates: model.removalCandidates(),
      contextLength: model.contextLength,
    });
  } finally {
    model.dispose();
  }
}

/** `lopper eval` for a language model: perplexity on `--data` text, or the divergence (0) on seeded random ids. */
export async function evalTransformer(args: ParsedArgs, payload: TransformerPayload, backend: string, out: Output): Promise<void> {
  const model = new TransformerModel(payload.config, payload.tensors);
  try {
    const dataPath = stringOption(args, 'data');
    if (dataPath === undefined) {
      const samples = numberOption(args, 'samples', 32);
      const seed = numberOption(args, 'seed', 0);
      const length = Math.min(64, model.contextLength);
      const ids = tf.tidy(() => tf.randomUniform([samples, length], 0, payload.config.vocabSize, 'int32', seed) as tf.Tensor2D);
      const logits = model.forward(ids);
      ids.dispose();
      logits.dispose();
      out.print({ divergence: 0, samples: samples * length, backend, dataHash: `synthetic:${seed}:${samples}` });
      return;
    }
    if (!dataPath.toLowerCase().endsWith('.txt')) throw new UsageError(`--data for a language model is a .txt file, got ${dataPath}`);
    if (payload.tokenizer === undefined) throw new Error(`${dataPath}: the model has no tokenizer.json or char-tokenizer.json beside config.json to read text with`);
    const bytes = await readFile(dataPath);
    const ids = tokenizeText(dataPath, bytes, payload.tokenizer);
    const result = await perplexity(model, ids);
    out.print({ perplexity: result.perplexity, loss: result.nll, samples: result.tokens, backend, dataHash: await sha256Hex(bytes) });
  } finally {
    model.dispose();
  }
}
