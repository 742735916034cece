import * as tf from '@tensorflow/tfjs';
import { classAccuracy } from '../core/metrics/accuracy';
import type { LayerInfo } from '../core/types';
import { ModelSession, QUIET_JOB } from '../session/session';
import { parseArgs, stringOption, UsageError, type ParsedArgs } from './args';
import { startBackend } from './backend';
import { modelPath, openPath, takeWarnings, type Output } from './load';
import { InputShapeError } from '../kinds/graph-model/inputs';
import { transformerOutline } from '../kinds/hf-transformer/kind';
import { inspectUnrunnableGraph } from './graph';
import { openOptions, openSession } from './session';
import { prune } from './prune';
import { remove } from './remove';
import { merge } from './merge';
import { sweep } from './sweep';

const USAGE = `usage: lopper <command> <model> [options]

commands:
  inspect <model> --json            layer list and parameter counts
  eval <model> [--data D] --json    accuracy/loss on a dataset, or divergence on synthetic inputs
  sweep <model> [--data D] --out F  sensitivity of each unit to pruning, written to F as JSON
        [--criterion magnitude|wanda|sparsegpt|random] (magnitude)
        [--granularity unstructured|2:4|4:8|channels] (unstructured; N:M sweeps [0, N/M])
        [--sparsities 0,0.25,...] (0,0.1,...,0.9,0.95)  [--metric accuracy|loss|kl|js] (accuracy; js without labels)
        [--shard i/n] only the cells whose unit-major index ≡ i (mod n), the others null
  merge F1 F2 ... --out F           joins the shard files of one sweep into the unsharded sweep's file
  remove <model> [--data D] --out F FinerCut greedy removal of sublayers / residual branches, written to F as JSON
        [--metric js|kl|angular|logits] (js)  [--steps N] (all)  [--candidates branches|layers|all] (branches)
        language models: --data a .txt, or --samples N (10) windows of seeded random ids; windows of
        min(256, context) tokens, at most --samples of them, consecutive from the start of the text
  prune <model> [--data D] --out DIR  the pruned model in its input format + recipe.json written to DIR
        --sparsity S [--allocation uniform|global|sensitivity|owl|ecoflap] (uniform) [--criterion C] (magnitude)
        [--granularity G] (unstructured) [--remove N] (FinerCut steps first) [--sweep F] (saved sweep for sensitivity)
        [--base B --dare P [--rescale Q|auto]] (DARE the deltas against base B; auto = DAREx-q search)
        or --recipe R (replays a recipe.json to the same weights; --base B when it holds DARE)
        [--float16]  prints {sparsity, params, removed, metrics: {dense, pruned}}
        [--stream [--max-memory BYTES]] (HF folders: one block at a time from the safetensors byte ranges,
        uniform or --recipe; BYTES like 512M, 2G; default what one block + the activations need)

<model>: a model.json (LayersModel or GraphModel), a folder holding one, a .zip, or a folder with config.json + *.safetensors
options: --data <dataset.json>  --samples N (32)  --seed S (0)  --backend wasm|cpu (wasm)  --json
         --input-shape NAME=D1xD2x…[,…]  per-sample shape of a GraphModel input with dynamic dimensions`;

const layerRow = (l: Omit<LayerInfo, 'sparsity'>) => ({ name: l.name, type: l.type, outputShape: l.outputShape, params: l.params, flops: l.flops, prunable: l.prunable });

/** `lopper inspect`: the layer table and totals of any kind, as the page's worker builds them (src/session). */
async function inspect(args: ParsedArgs, out: Output): Promise<void> {
  await startBackend(stringOption(args, 'backend'));
  const path = modelPath(args);
  const opened = await openPath(path);
  if (opened.transformer !== undefined) {
    // The table and totals follow from the config and the tensor shapes: the weights stay in their files.
    const outline = transformerOutline(opened.transformer);
    out.print({
      format: opened.format,
      name: opened.name,
      totalParams: outline.totalParams,
      totalFlops: outline.totalFlops,
      layers: outline.layers.map(layerRow),
      units: outline.units,
      removalCandidates: outline.removalCandidates,
      contextLength: outline.contextLength,
    });
    return;
  }
  let session: ModelSession;
  try {
    session = await ModelSession.create(opened, undefined, openOptions(args));
  } catch (error) {
    if (opened.format === 'graph-model' && !(error instanceof InputShapeError)) return inspectUnrunnableGraph(opened, path, error, out);
    throw error;
  }
  try {
    const s = session.summary;
    out.print({
      format: s.format,
      name: s.name,
      totalParams: s.totalParams,
      totalFlops: s.totalFlops,
      layers: s.layers.map(layerRow),
      units: s.units,
      removalCandidates: s.removalCandidates,
      ...(s.contextLength !== undefined && { contextLength: s.contextLength }),
      ...(s.inputs !== undefined && { inputs: s.inputs }),
    });
  } finally {
    session.dispose();
  }
}

/** `lopper eval`: the dense model on `--data` or data-free, measured as the page measures it. */
async function evalCommand(args: ParsedArgs, out: Output): Promise<void> {
  const backend = await startBackend(stringOption(args, 'backend'));
  const session = await openSession(args, modelPath(args));
  try {
    const result = await session.evaluate(QUIET_JOB);
    out.print({
      ...(result.accuracy !== undefined && { accuracy: result.accuracy }),
      ...(result.loss !== undefined && { loss: result.loss }),
      ...(result.perplexity !== undefined && { perplexity: result.perplexity }),
      ...(result.divergence !== undefined && { divergence: result.divergence }),
      samples: result.samples,
      backend,
      dataHash: session.data.hash,
      ...(result.latencyMs !== undefined && { latencyMs: result.latencyMs, batchSize: result.batchSize }),
      ...(result.windowLength !== undefined && { windowLength: result.windowLength }),
      ...(result.windowCappedByMemory === true && { windowCappedByMemory: true }),
      ...(result.perClass !== undefined && { perClass: { ...result.perClass, accuracy: classAccuracy(result.perClass) } }),
    });
  } finally {
    session.dispose();
  }
}

const COMMANDS: Record<string, (args: ParsedArgs, out: Output) => Promise<void>> = {
  inspect,
  eval: evalCommand,
  sweep,
  merge,
  remove,
  prune,
};

function humanPrint(value: Record<string, unknown>): void {
  for (const [key, v] of Object.entries(value)) {
    if (Array.isArray(v) && v.length > 0 && typeof v[0] === 'object') {
      process.stdout.write(`${key}:\n`);
      for (const row of v)
        process.stdout.write(
          `  ${Object.values(row as Record<string, unknown>)
            .map((x) => JSON.stringify(x))
            .join('  ')}\n`,
        );
    } else {
      process.stdout.write(`${key}: ${typeof v === 'string' ? v : JSON.stringify(v)}\n`);
    }
  }
}

/** Runs the command line; returns the exit code. */
export async function main(argv: readonly string[]): Promise<number> {
  const args = parseArgs(argv);
  if (!args.command || args.options.has('help')) {
    process.stderr.write(`${USAGE}\n`);
    return args.command ? 0 : 2;
  }
  const command = COMMANDS[args.command];
  const json = args.options.get('json') === true;
  takeWarnings();
  const withWarnings = (value: Record<string, unknown>): Record<string, unknown> => {
    const warnings = takeWarnings();
    return warnings.length > 0 ? { ...value, warnings } : value;
  };
  const out: Output = { json, print: (value) => (json ? process.stdout.write(`${JSON.stringify(withWarnings(value))}\n`) : humanPrint(withWarnings(value))) };
  try {
    if (!command) throw new UsageError(`unknown command "${args.command}" (expected: ${Object.keys(COMMANDS).join(', ')})`);
    await command(args, out);
    return 0;
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    process.stderr.write(`lopper: ${message.split('\n')[0]}\n`);
    return error instanceof UsageError ? 2 : 1;
  } finally {
    tf.disposeVariables();
  }
}
