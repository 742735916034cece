import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { normalizeTransformerConfig, type TransformerConfig } from '../../core/transformer/config';
import { projectionSpecs } from '../../core/transformer/parameters';
import type { EcosystemUnit } from './types';

/** The transformer checkpoints in the repository whose module names the tests check against. */
export const TRANSFORMER_FIXTURES = ['e2e/fixtures/hf-llama-tiny', 'e2e/fixtures/hf-qwen2-tiny', 'e2e/fixtures/hf-gpt2-tiny', 'public/models/char-lm'];

export interface TransformerFixture {
  dir: string;
  config: TransformerConfig;
  /** Tensor names stored in the checkpoint's safetensors files. */
  tensors: string[];
  /** Lopper's units for it, as `TransformerModel.units()` lists them. */
  units: EcosystemUnit[];
}

function safetensorsNames(path: string): string[] {
  const bytes = readFileSync(path);
  const length = Number(bytes.readBigUInt64LE(0));
  const header = JSON.parse(bytes.subarray(8, 8 + length).toString('utf8')) as Record<string, unknown>;
  return Object.keys(header).filter((name) => name !== '__metadata__');
}

export function loadTransformerFixture(dir: string): TransformerFixture {
  const config = normalizeTransformerConfig(JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')));
  const tensors = readdirSync(dir)
    .filter((f) => f.endsWith('.safetensors'))
    .flatMap((f) => safetensorsNames(join(dir, f)));
  const units = projectionSpecs(config).map((p) => ({ name: p.unit, size: p.inputs * p.outputs }));
  return { dir, config, tensors, units };
}

export interface TorchModule {
  name: string;
  /** The torch class name, as llm-compressor's class matching sees it. */
  className: string;
}

/**
 * `model.named_modules()` of the transformers `*ForCausalLM` class for this config, in
 * registration order (the order llm-compressor matches `targets` in).
 */
export function namedModules(config: TransformerConfig): TorchModule[] {
  const modules: TorchModule[] = [{ name: '', className: 'CausalLM' }];
  const add = (className: string, ...names: string[]): void => {
    for (const name of names) modules.push({ name, className });
  };
  if (config.family === 'gpt2') {
    add('GPT2Model', 'transformer');
    add('Embedding', 'transformer.wte', 'transformer.wpe');
    add('Dropout', 'transformer.drop');
    add('ModuleList', 'transformer.h');
    for (let i = 0; i < config.layers; i++) {
      const h = `transformer.h.${i}`;
      add('GPT2Block', h);
      add('LayerNorm', `${h}.ln_1`);
      add('GPT2Attention', `${h}.attn`);
      add('Conv1D', `${h}.attn.c_attn`, `${h}.attn.c_proj`);
      add('Dropout', `${h}.attn.attn_dropout`, `${h}.attn.resid_dropout`);
      add('LayerNorm', `${h}.ln_2`);
      add('GPT2MLP', `${h}.mlp`);
      add('Conv1D', `${h}.mlp.c_fc`, `${h}.mlp.c_proj`);
      add('NewGELUActivation', `${h}.mlp.act`);
      add('Dropout', `${h}.mlp.dropout`);
    }
    add('LayerNorm', 'transformer.ln_f');
  } else {
    add('Model', 'model');
    add('Embedding', 'model.embed_tokens');
    add('ModuleList', 'model.layers');
    for (let i = 0; i < config.layers; i++) {
      const layer = `model.layers.${i}`;
      add('DecoderLayer', layer);
      add('Attention', `${layer}.self_attn`);
      add('Linear', ...['q_proj', 'k_proj', 'v_proj', 'o_proj'].map((p) => `${layer}.self_attn.${p}`));
      add('MLP', `${layer}.mlp`);
      add('Linear', ...['gate_proj', 'up_proj', 'down_proj'].map((p) => `${layer}.mlp.${p}`));
      add('SiLU', `${layer}.mlp.act_fn`);
      add('RMSNorm', `${layer}.input_layernorm`, `${layer}.post_attention_layernorm`);
    }
    add('RMSNorm', 'model.norm');
    add('RotaryEmbedding', 'model.rotary_emb');
  }
  add('Linear', 'lm_head');
  return modules;
}

/** Every module that holds a stored tensor, with its ancestors. */
export function modulesOfTensors(tensors: readonly string[]): Set<string> {
  const names = new Set<string>();
  for (const tensor of tensors) {
    const parts = tensor.split('.').slice(0, -1);
    for (let i = 1; i <= parts.length; i++) names.add(parts.slice(0, i).join('.'));
  }
  return names;
}

/** compressed-tensors' `match_name`: `re:` patterns with Python's `re.match` (anchored at the start), else equality. */
export function matchName(name: string, target: string): boolean {
  if (!target.startsWith('re:')) return name === target;
  return new RegExp(`^(?:${target.slice(3)})`).test(name);
}

/**
 * What llm-compressor's SparseGPT/Wanda modifiers would prune (sgpt_base.py, on_initialize and
 * on_calibration_start): module name → sparsity. Throws where llm-compressor raises.
 */
export function simulateSparsityModifier(
  modules: readonly TorchModule[],
  args: { sparsity: unknown; targets: unknown; ignore: unknown },
  prunableClasses: readonly string[] = ['Linear', 'Conv1d', 'Conv2d', 'Conv3d'],
): Map<string, number> {
  const targets = typeof args.targets === 'string' ? [args.targets] : (args.targets as string[]);
  const ignore = (args.ignore ?? []) as string[];
  const matches = (module: TorchModule, name: string, list: readonly string[]): boolean => list.some((t) => matchName(name, t) || module.className === t);
  const targetLayers = modules.filter((m) => targets.some((t) => matchName(m.name, t) || m.className === t));
  const { sparsity } = args;
  if (Array.isArray(sparsity) && sparsity.length !== targetLayers.length) {
    throw new Error(`initialized with ${sparsity.length} sparsities values, but model has ${targetLayers.length} target layers`);
  }
  const pruned = new Map<string, number>();
  targetLayers.forEach((layer, index) => {
    const value = Array.isArray(sparsity) ? (sparsity[index] as number) : (sparsity as number);
    for (const module of modules) {
      const inside = module.name === layer.name || module.name.startsWith(`${layer.name}.`);
      if (!inside || !prunableClasses.includes(module.className)) continue;
      const name = module.name === layer.name ? `${layer.name}.` : module.name;
      if (matches(module, name, ignore)) continue;
      pruned.set(module.name, value);
    }
  });
  return pruned;
}
