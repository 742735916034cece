import { probabilityRow, rowCount } from './rows';

export interface DivergenceOptions {
  /** Both batches are logits: softmax is applied to each row first. */
  fromLogits?: boolean;
}

/** Probabilities of q are clamped from below here so that KL stays finite. */
const EPSILON = 1e-7;

function pairRows(p: Float32Array, q: Float32Array, classes: number): number {
  const rows = rowCount(p, classes, 'p');
  if (q.length !== p.length) throw new Error(`divergence: p has ${p.length} values, q has ${q.length}`);
  return rows;
}

/** Σ_j p_j ln(p_j / q_j) of one row; terms with p_j = 0 are 0. */
function klRow(p: Float64Array, q: Float64Array, floor: number): number {
  let sum = 0;
  for (let j = 0; j < p.length; j++) {
    if (p[j] > 0) sum += p[j] * (Math.log(p[j]) - Math.log(Math.max(q[j], floor)));
  }
  return sum;
}

/** `start` plus the per-row values, row after row: the sum every mean over rows is taken from. */
function sumOverRows(p: Float32Array, q: Float32Array, classes: number, options: DivergenceOptions, perRow: (pRow: Float64Array, qRow: Float64Array) => number, start = 0): number {
  const rows = pairRows(p, q, classes);
  const pRow = new Float64Array(classes);
  const qRow = new Float64Array(classes);
  let total = start;
  for (let i = 0; i < rows; i++) {
    probabilityRow(p, i * classes, classes, options.fromLogits ?? false, pRow);
    probabilityRow(q, i * classes, classes, options.fromLogits ?? false, qRow);
    total += perRow(pRow, qRow);
  }
  return total;
}

function meanOverRows(p: Float32Array, q: Float32Array, classes: number, options: DivergenceOptions, perRow: (pRow: Float64Array, qRow: Float64Array) => number): number {
  const rows = pairRows(p, q, classes);
  return rows === 0 ? NaN : sumOverRows(p, q, classes, options, perRow) / rows;
}

/** KL(p ‖ q), natural log, averaged over rows; q clamped at 1e-7. */
export function klDivergence(p: Float32Array, q: Float32Array, classes: number, options: DivergenceOptions = {}): number {
  return meanOverRows(p, q, classes, options, (pRow, qRow) => klRow(pRow, qRow, EPSILON));
}

/** Jensen–Shannon divergence ½KL(p‖m) + ½KL(q‖m), m = (p+q)/2, natural log (≤ ln 2), averaged over rows. */
export function jsDivergence(p: Float32Array, q: Float32Array, classes: number, options: DivergenceOptions = {}): number {
  return meanOverRows(p, q, classes, options, jsRow(classes));
}

function jsRow(classes: number): (pRow: Float64Array, qRow: Float64Array) => number {
  const m = new Float64Array(classes);
  return (pRow, qRow) => {
    for (let j = 0; j < classes; j++) m[j] = (pRow[j] + qRow[j]) / 2;
    return 0.5 * klRow(pRow, m, 0) + 0.5 * klRow(qRow, m, 0);
  };
}

/**
 * `jsDivergence` over rows that arrive in parts: `add` each part's p and q in order, then `mean()`
 * equals `jsDivergence` of the parts joined, bit for bit.
 */
export class JsDivergenceMean {
  private total = 0;
  rows = 0;
  private readonly row: (pRow: Float64Array, qRow: Float64Array) => number;

  constructor(
    readonly classes: number,
    private readonly options: DivergenceOptions = {},
  ) {
    this.row = jsRow(classes);
  }

  add(p: Float32Array, q: Float32Array): void {
    this.total = sumOverRows(p, q, this.classes, this.options, this.row, this.total);
    this.rows += pairRows(p, q, this.classes);
  }

  mean(): number {
    return this.rows === 0 ? NaN : this.total / this.rows;
  }
}
