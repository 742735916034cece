/** One row of the layer table. Plain data: safe to send across the worker boundary. */
export interface LayerInfo {
  name: string;
  /** Keras class name, e.g. `Conv2D`. */
  type: string;
  /** Output shape with `null` for the batch dimension. Multi-output layers give the first output. */
  outputShape: (number | null)[];
  /** Every weight of the layer, trainable or not. */
  params: number;
  /** Multiply-accumulates ×2 per sample (one multiply + one add = 2 FLOPs). */
  flops: number;
  /** True when the layer holds at least one prunable kernel (unit). */
  prunable: boolean;
  /** Share of zeros over the layer's prunable kernels; 0 when not prunable. */
  sparsity: number;
}

/** A prunable kernel (DESIGN §6 "Units"). */
export interface UnitInfo {
  /** Keras layer name, or `<layer>/depthwise`, `<layer>/pointwise` for SeparableConv2D. */
  name: string;
  layer: string;
  /** Name of the tfjs weight variable that holds the kernel. */
  weight: string;
  shape: number[];
  size: number;
}

export interface WeightStats {
  count: number;
  min: number;
  max: number;
  mean: number;
  std: number;
  /** Share of exact zeros in [0, 1]. */
  zeros: number;
  nan: number;
  inf: number;
  /** Histogram over the finite values: `edges.length === counts.length + 1`. */
  histogram: { edges: number[]; counts: number[] };
}

/** A classifier's results per true class on labelled samples. */
export interface ClassCounts {
  /** Samples whose label is class c. */
  total: number[];
  /** Of those, the samples whose arg-max output is c. */
  correct: number[];
  /** `confusion[t][p]`: samples of true class t predicted as class p; left out above `MAX_CONFUSION_CLASSES` classes. */
  confusion?: number[][];
}

export interface Evaluation {
  accuracy?: number;
  loss?: number;
  perplexity?: number;
  /** Mean divergence from the dense model's outputs (data-free mode). */
  divergence?: number;
  samples: number;
  /** Milliseconds for one forward pass of one batch, measured. */
  latencyMs?: number;
  batchSize?: number;
  /** Perplexity on text: the length of the windows the text was cut into. */
  windowLength?: number;
  /** Set when the windows are shorter than the context length and the text because a longer one would not fit the memory budget. */
  windowCappedByMemory?: boolean;
  /** Per-class counts of a labelled classifier evaluation. */
  perClass?: ClassCounts;
}
