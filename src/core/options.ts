/**
 * The option lists the page offers, in a module without tfjs so that the main thread can import
 * them (DESIGN §2: tfjs lives in the worker). The modules that implement the options re-export them.
 */

/** What a sensitivity sweep measures at each sparsity (`sweep/metric.ts`). */
export const SWEEP_METRICS = ['accuracy', 'loss', 'kl', 'js'] as const;
export type SweepMetric = (typeof SWEEP_METRICS)[number];

/** How block removal scores a model's output change against the dense model (`transformer/output-change.ts`). */
export const OUTPUT_CHANGE_METRICS = ['js', 'kl', 'angular', 'logits'] as const;
export type OutputChangeMetric = (typeof OUTPUT_CHANGE_METRICS)[number];

/** Which removal candidates a LayersModel or GraphModel offers a search (`removal/candidate-set.ts`, DESIGN §6 `--candidates`). */
export const CANDIDATE_SETS = ['branches', 'layers', 'all'] as const;
export type CandidateSet = (typeof CANDIDATE_SETS)[number];
