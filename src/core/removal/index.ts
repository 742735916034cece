export { blockInfluence, blockInfluenceOrder, type BlockInfluence } from './block-influence';
export { calibrationWindows, randomTokenWindows, FINERCUT_SAMPLES, FINERCUT_SAMPLE_LENGTH, type CalibrationOptions } from './calibration';
export { evaluationCount, greedyRemoval, singleRemovalRanking, type GreedyRemovalOptions } from './greedy';
export { forwardWithRemovals, layerRemovalCandidates, type LayerCandidate } from './layer-removal';
export { layersModelTarget, type LayersTargetOptions } from './layers-target';
export { transformerTarget, type TransformerTargetOptions } from './transformer-target';
export type { RemovalResult, RemovalScore, RemovalStep, RemovalTarget } from './types';
