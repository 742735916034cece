/** mulberry32: a 32-bit seeded generator of floats in [0, 1); the same sequence in every JS runtime. */
export function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Standard normal draws by Box–Muller from a uniform generator (both values of each pair are used). */
export function normalGenerator(uniform: () => number): () => number {
  let spare: number | null = null;
  return () => {
    if (spare !== null) {
      const value = spare;
      spare = null;
      return value;
    }
    const radius = Math.sqrt(-2 * Math.log(1 - uniform()));
    const angle = 2 * Math.PI * uniform();
    spare = radius * Math.sin(angle);
    return radius * Math.cos(angle);
  };
}

export interface SyntheticInputs {
  source: 'synthetic';
  inputs: Float32Array;
  /** [samples, ...input shape without the batch] */
  shape: number[];
  /** `synthetic:<seed>:<samples>` */
  hash: string;
}

/**
 * Data-free inputs for a model input shape (batch first, `null` allowed there only):
 * uniform in [0, 1) for image-like inputs (rank ≥ 3 with the batch), standard normal otherwise.
 */
export function syntheticInputs(inputShape: readonly (number | null)[], samples: number, seed: number): SyntheticInputs {
  if (!Number.isInteger(samples) || samples < 1) throw new Error(`samples must be a positive integer, received ${samples}`);
  if (!Number.isInteger(seed)) throw new Error(`seed must be an integer, received ${seed}`);
  const sampleShape = inputShape.slice(1);
  if (inputShape.length < 2 || sampleShape.some((d) => d === null || d < 1)) {
    throw new Error(`synthetic inputs need a fixed input shape besides the batch, received [${inputShape.join(', ')}]`);
  }
  const shape = [samples, ...(sampleShape as number[])];
  const inputs = new Float32Array(shape.reduce((a, b) => a * b, 1));
  const uniform = mulberry32(seed);
  const draw = inputShape.length >= 3 ? uniform : normalGenerator(uniform);
  for (let i = 0; i < inputs.length; i++) inputs[i] = draw();
  return { source: 'synthetic', inputs, shape, hash: `synthetic:${seed}:${samples}` };
}
