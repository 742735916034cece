import { checkSparsity, maskFor, parseNMPattern, type Scores, type UnstructuredScope } from '../masks';
import { UnsupportedPruningError, type Criterion, type CriterionKey, type PruneRequest } from './types';

/** Throws when the request is malformed or the criterion cannot prune such a layer at this granularity. */
export function checkRequest(criterion: Criterion, request: PruneRequest): void {
  const { rows, cols, values } = request.matrix;
  if (values.length !== rows * cols) {
    throw new RangeError(`${criterion.key}: the matrix has ${values.length} values, expected ${rows}×${cols} = ${rows * cols}`);
  }
  const supported = criterion.supports(request.kind, request.granularity);
  if (supported !== true) throw new UnsupportedPruningError(supported);
  if (!parseNMPattern(request.granularity)) checkSparsity(request.sparsity);
}

/** The weights with the pruned ones set to +0 (the kept ones bit for bit; no branch on the mask). */
export function applyMask(values: Float32Array, mask: Uint8Array): Float32Array {
  const out = new Float32Array(values.length);
  const from = new Uint32Array(values.buffer, values.byteOffset, values.length);
  const to = new Uint32Array(out.buffer);
  for (let i = 0; i < from.length; i++) to[i] = from[i] & -mask[i];
  return out;
}

/** A criterion that only scores weights; the mask of the granularity does the rest. */
export interface ScoringCriterion {
  key: CriterionKey;
  needs: Criterion['needs'];
  /** Where weights compete in unstructured pruning. */
  scope: UnstructuredScope;
  /** Row-major rows × cols, higher = more important. */
  scores(request: PruneRequest): Scores;
}

/** A Criterion from a scoring function: prunes the lowest scores at any kind and granularity. */
export function scoringCriterion(spec: ScoringCriterion): Criterion {
  const criterion: Criterion = {
    key: spec.key,
    needs: spec.needs,
    supports: () => true,
    prune(request) {
      checkRequest(criterion, request);
      const { matrix } = request;
      const mask = maskFor(request.granularity, spec.scores(request), matrix.rows, matrix.cols, request.sparsity, spec.scope);
      return { values: applyMask(matrix.values, mask), mask };
    },
  };
  return criterion;
}
