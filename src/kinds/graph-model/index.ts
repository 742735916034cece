export { GRAPH_MODEL_CAPABILITIES, GraphModelPrunable, type GraphModelOptions } from './prunable';
export { graphInputSpecs, syntheticInput, type GraphInputOptions, type GraphInputSpec, type InputShapeSource } from './inputs';
export { graphKernelToMatrix, graphMatrixToKernel, graphUnitLayout, type GraphUnitLayout } from './layout';
export type { GraphUnit } from './graph';
export type { ResidualCandidate } from './residual';
export type { GraphTotals } from './inspect';
export { writeGraphModel, type WriteGraphOptions } from './writer';
