import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { PrunableModel } from '../core/model/runtime';
import { calibrationWindows, randomTokenWindows } from '../core/removal/calibration';
import { evaluationCount, greedyRemoval } from '../core/removal/greedy';
import { CANDIDATE_SETS, restrictCandidates, type CandidateSet } from '../core/removal/candidate-set';
import { layerRemovalCandidates } from '../core/removal/layer-removal';
import { layersModelTarget } from '../core/removal/layers-target';
import { transformerTarget } from '../core/removal/transformer-target';
import type { RemovalResult, RemovalTarget } from '../core/removal/types';
import { TransformerModel } from '../core/transformer/model';
import { OUTPUT_CHANGE_METRICS, type OutputChangeMetric } from '../core/transformer/output-change';
import { sha256Hex } from '../io/hash';
import { tokenizeText } from '../io/text';
import { filesFromPath } from '../io/node-files';
import { openModel, splitDrop } from '../io/open';
import type { TransformerPayload } from '../io/types';
import { choiceOption, numberOption, stringOption, UsageError, type ParsedArgs } from './args';
import { startBackend } from './backend';
import { graphRemovalTarget } from './graph';
import { loadData, modelPath, type Output } from './load';

/** Samples of a LayersModel's dataset used for calibration (DESIGN §6: the first min(128, N)). */
const CALIBRATION_SAMPLES = 128;
/** Token windows of a language model: FinerCut's 10 (of up to 256 tokens each). */
const LM_SAMPLES = 10;

/** The file `lopper remove` writes (DESIGN §6). */
export type RemovalFile = Pick<RemovalResult, 'metric' | 'candidates' | 'steps' | 'dense'>;

interface RemoveArgs {
  outPath: string;
  candidates: CandidateSet;
  metric: OutputChangeMetric;
  steps?: number;
  seed: number;
}

function integerOption(args: ParsedArgs, key: string, minimum: number): number | undefined {
  if (stringOption(args, key) === undefined) return undefined;
  const value = numberOption(args, key, 0);
  if (!Number.isInteger(value) || value < minimum) throw new UsageError(`--${key} expects an integer ≥ ${minimum}, got ${value}`);
  return value;
}

/** Reads and checks the options before anything is loaded. */
function removeArgs(args: ParsedArgs): RemoveArgs {
  const outPath = stringOption(args, 'out');
  if (outPath === undefined) throw new UsageError('lopper remove: --out <file> is required (the JSON result goes there)');
  const metricValue = stringOption(args, 'metric') ?? 'js';
  const metric = OUTPUT_CHANGE_METRICS.find((m) => m === metricValue);
  if (metric === undefined) throw new UsageError(`--metric must be one of ${OUTPUT_CHANGE_METRICS.join(', ')}, got "${metricValue}"`);
  integerOption(args, 'samples', 1);
  const seed = numberOption(args, 'seed', 0);
  if (!Number.isInteger(seed)) throw new UsageError(`--seed expects an integer, got ${seed}`);
  const candidates = choiceOption(args, 'candidates', CANDIDATE_SETS) ?? 'branches';
  return { outPath, candidates, metric, steps: integerOption(args, 'steps', 0), seed };
}

interface Calibrated {
  target: RemovalTarget;
  /** LayersModels and GraphModels: each candidate's kind (transformers have sublayers only). */
  kinds?: ReadonlyMap<string, 'branch' | 'layer'>;
  dataHash: string;
  dispose(): void;
}

/** A language model's target: token windows from `--data` text (its own tokenizer), or seeded random ids. */
async function transformerCalibration(args: ParsedArgs, payload: TransformerPayload, seed: number): Promise<Calibrated> {
  const model = new TransformerModel(payload.config, payload.tensors);
  try {
    const samples = integerOption(args, 'samples', 1) ?? LM_SAMPLES;
    const dataPath = stringOption(args, 'data');
    let windows: number[][];
    let dataHash: string;
    if (dataPath === undefined) {
      windows = randomTokenWindows(payload.config.vocabSize, model.contextLength, { samples, seed });
      dataHash = `synthetic:${seed}:${samples}`;
    } else {
      if (!dataPath.toLowerCase().endsWith('.txt')) throw new UsageError(`--data for a language model is a .txt file, got ${dataPath}`);
      if (payload.tokenizer === undefined) throw new Error(`${dataPath}: the model has no tokenizer.json or char-tokenizer.json beside config.json to read text with`);
      const bytes = await readFile(dataPath);
      const ids = tokenizeText(dataPath, bytes, payload.tokenizer);
      windows = calibrationWindows(ids, model.contextLength, { samples });
      dataHash = await sha256Hex(bytes);
    }
    return { target: transformerTarget(model, windows), dataHash, dispose: () => model.dispose() };
  } catch (error) {
    model.dispose();
    throw error;
  }
}

/** A LayersModel's target: the first min(128, N) samples of `--data`, or `--samples` seeded synthetic inputs. */
async function layersCalibration(args: ParsedArgs, model: PrunableModel): Promise<Calibrated> {
  const dataPath = stringOption(args, 'data');
  if (dataPath !== undefined && !dataPath.toLowerCase().endsWith('.json')) throw new UsageError(`--data for a LayersModel is a dataset .json file, got ${dataPath}`);
  const data = await loadData(args, model);
  const [samples, ...sampleShape] = data.shape;
  const count = Math.min(CALIBRATION_SAMPLES, samples);
  const size = sampleShape.reduce((a, b) => a * b, 1);
  const calibration = { inputs: data.inputs.subarray(0, count * size), shape: [count, ...sampleShape] };
  const kinds = new Map(layerRemovalCandidates(model).map((c) => [c.name, c.kind]));
  return { target: layersModelTarget(model, calibration), kinds, dataHash: data.hash, dispose: () => model.dispose() };
}

async function calibrate(args: ParsedArgs, seed: number): Promise<Calibrated> {
  const files = await filesFromPath(modelPath(args));
  const opened = await openModel((await splitDrop(files)).modelFiles);
  if (opened.transformer !== undefined) return transformerCalibration(args, opened.transformer, seed);
  if (opened.format === 'graph-model') {
    const graph = await graphRemovalTarget(args, opened);
    return { ...graph, kinds: new Map(graph.target.candidates().map((name) => [name, 'branch' as const])) };
  }
  const model = await PrunableModel.fromArtifacts(opened.artifacts);
  try {
    return await layersCalibration(args, model);
  } catch (error) {
    model.dispose();
    throw error;
  }
}

async function writeJson(path: string, value: RemovalFile): Promise<void> {
  const target = resolve(path);
  await mkdir(dirname(target), { recursive: true });
  await writeFile(target, `${JSON.stringify(value)}\n`);
}

/**
 * `lopper remove <model> [--data D] [--metric js|kl|angular|logits] [--steps N] [--samples N]
 * [--seed S] [--candidates branches|layers|all] --out F`: FinerCut's greedy layer removal, written as `{metric, candidates, steps:
 * [{removed, scores}], dense}` (DESIGN §6). Progress goes to stderr, one line per step.
 */
export async function remove(args: ParsedArgs, out: Output): Promise<void> {
  const { outPath, metric, steps, seed, candidates: candidateSet } = removeArgs(args);
  const backend = await startBackend(stringOption(args, 'backend'));
  const calibrated = await calibrate(args, seed);
  const { dataHash, dispose } = calibrated;
  try {
    const target = restrictCandidates(calibrated.target, calibrated.kinds, candidateSet);
    const candidates = target.candidates();
    if (candidates.length === 0 && calibrated.kinds !== undefined && calibrated.kinds.size > 0) {
      process.stderr.write(
        `lopper remove: no ${candidateSet === 'branches' ? 'residual branches' : 'shape-preserving layers'} to remove; --candidates all considers ${calibrated.kinds.size}\n`,
      );
    }
    const stepCount = Math.min(steps ?? candidates.length, candidates.length);
    const started = performance.now();
    const elapsed = (): string => ((performance.now() - started) / 1000).toFixed(1);
    const result = await greedyRemoval(target, {
      metric,
      steps: stepCount,
      onStep: (step, index) => {
        const value = step.scores[step.removed];
        process.stderr.write(`lopper remove: ${index + 1}/${stepCount} ${step.removed} (${metric} ${value.toPrecision(4)}, ${elapsed()} s)\n`);
      },
    });
    const seconds = (performance.now() - started) / 1000;
    await writeJson(outPath, { metric: result.metric, candidates: result.candidates, steps: result.steps, dense: result.dense });
    const removed = result.steps.map((s) => s.removed);
    if (out.json) {
      out.print({ out: outPath, removed, evaluations: evaluationCount(candidates.length, stepCount), dataHash, backend, seconds });
    } else {
      process.stderr.write(`lopper remove: ${removed.length} of ${candidates.length} candidates removed in ${seconds.toFixed(1)} s; wrote ${outPath}\n`);
    }
  } finally {
    dispose();
  }
}
