export { encodeFloat16, float32ToFloat16Bits } from './float16';
export {
  encodeSafetensorsFile,
  hfConfigBytes,
  hfExportLayout,
  hfTokenizerFile,
  safetensorsLayout,
  storedBytes,
  writeHfTransformer,
  type HfExportLayout,
  type HfLopperMetadata,
  type HfWrittenTensor,
  type SafetensorsLayout,
  type WriteHfOptions,
} from './hf-writer';
export {
  DEFAULT_SHARD_BYTES,
  ExportError,
  writeLayersModel,
  type ExportFile,
  type WeightValues,
  type WeightValuesMap,
  type WriteLayersOptions,
  type WrittenWeightSpec,
} from './tfjs-layers-writer';
export { GENERATED_BY, LOPPER_VERSION } from './version';
export { weightsOf } from './weights-of';
export { exportZip, RECIPE_FILE } from './zip-export';
