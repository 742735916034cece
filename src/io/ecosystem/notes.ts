import type { Granularity } from '../../core/criteria/types';
import type { ModelFormatName } from '../types';

/**
 * Whether a pruning choice makes the exported model run faster on the runtimes people deploy
 * with, as plain data the page and the CLI show next to the choice. Types only: the main thread
 * may import this module.
 */
export interface SpeedNote {
  /** True when the choice makes the exported model compute less on TF.js, ONNX Runtime and vLLM. */
  faster: boolean;
  text: string;
}

/** A granularity, or `removal` for removed layers / sublayers. */
export type SpeedChoice = Granularity | 'removal';

const TFJS_ORT_ZEROS = 'TF.js has no sparse kernels on any backend (WebGPU, WebGL, WASM, CPU) and ONNX Runtime multiplies zeros like any other weight';
const VLLM_ZEROS =
  'vLLM multiplies zeros like any other weight (its 2:4 sparse kernels for compressed-tensors checkpoints were removed in 2026, vllm-project/vllm#36799), and so do TF.js and ONNX Runtime';

const NOTES: Record<'tfjs' | 'transformer', Record<SpeedChoice, SpeedNote>> = {
  tfjs: {
    unstructured: {
      faster: false,
      text: `Unstructured zeros will not run faster: ${TFJS_ORT_ZEROS}. They only make the compressed download smaller. For speed, prune channels or remove layers: both shrink the exported model.`,
    },
    '2:4': {
      faster: false,
      text: `2:4 zeros will not run faster on TF.js or ONNX Runtime's CPU, WASM, WebGPU and CUDA providers: ${TFJS_ORT_ZEROS}; only TensorRT on NVIDIA Ampere or newer GPUs uses 2:4 sparsity. For speed, prune channels or remove layers.`,
    },
    '4:8': {
      faster: false,
      text: `4:8 zeros will not run faster anywhere today: ${TFJS_ORT_ZEROS}, and sparse tensor cores accelerate 2:4 only. For speed, prune channels or remove layers.`,
    },
    channels: {
      faster: true,
      text: 'Channel pruning shrinks the layers of the exported model (fewer parameters and FLOPs), so it runs faster on TF.js and ONNX Runtime alike.',
    },
    removal: {
      faster: true,
      text: 'Removed layers and branches are taken out of the exported topology, so the model computes less on every runtime.',
    },
  },
  transformer: {
    unstructured: {
      faster: false,
      text: `Unstructured zeros will not run faster: ${VLLM_ZEROS}. In a safetensors file they do not even save space. For speed, remove sublayers (whole blocks), or quantize.`,
    },
    '2:4': {
      faster: false,
      text: `2:4 zeros will not run faster today: ${VLLM_ZEROS}; only TensorRT on NVIDIA Ampere or newer GPUs uses 2:4 sparsity. For speed, remove sublayers (whole blocks), or quantize.`,
    },
    '4:8': {
      faster: false,
      text: `4:8 zeros will not run faster anywhere today: ${VLLM_ZEROS}, and sparse tensor cores accelerate 2:4 only. For speed, remove sublayers (whole blocks), or quantize.`,
    },
    channels: {
      faster: false,
      text: 'Channel pruning of transformer projections is not available yet; removing sublayers is the structural option that makes the model smaller and faster.',
    },
    removal: {
      faster: true,
      text: 'A block whose attention and MLP are both removed is dropped from the exported checkpoint and runs faster everywhere; a single removed sublayer is kept with a zeroed output projection, which stock model code (transformers, vLLM) still computes.',
    },
  },
};

/** What a choice does for inference speed on the runtimes this model kind is deployed with. */
export function speedNote(choice: SpeedChoice, format: ModelFormatName): SpeedNote {
  return NOTES[format === 'hf-transformer' ? 'transformer' : 'tfjs'][choice];
}
