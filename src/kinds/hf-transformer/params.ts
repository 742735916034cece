/**
 * Parameters a transformer keeps with `removed` sublayers bypassed: a removed sublayer computes none
 * of its own parameters (its projections and their biases) nor the norm in front of it. `sizes` are
 * the checkpoint's tensors by canonical name.
 */
export function transformerParamsLeft(removed: readonly string[], totalParams: number, sizes: Iterable<readonly [string, number]>): number {
  if (removed.length === 0) return totalParams;
  const prefixes = removed.map((sublayer) => {
    const block = sublayer.slice(0, sublayer.lastIndexOf('.'));
    const attention = /\.(self_attn|attn)$/.test(sublayer);
    const norms = attention ? [`${block}.input_layernorm.`, `${block}.ln_1.`] : [`${block}.post_attention_layernorm.`, `${block}.ln_2.`];
    return [`${sublayer}.`, ...norms];
  });
  let gone = 0;
  for (const [name, size] of sizes) {
    for (const names of prefixes) if (names.some((prefix) => name.startsWith(prefix))) gone += size;
  }
  return totalParams - gone;
}
