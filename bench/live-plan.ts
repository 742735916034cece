/**
 * `npm run bench:live-plan [-- --blocks N --samples S]`: the time of a slider move on a generated
 * large transformer (GPT-2-shaped, 12 blocks of width 768, a 16,384-token vocabulary, context 256:
 * 97.8M parameters; data-free, S calibration windows of 256 tokens, by default the page's 10),
 * through the session the page's worker runs. Two sessions on the same weights and data take the
 * same moves, alternating: one as every move was measured before the plan cache (cache off, full
 * evaluation with the gzipped size), one as the page measures a move now (plan cache, live
 * evaluation on the live subset). Each move's achieved sparsity must agree, and the live
 * evaluation must equal the uncached session's evaluation of the same subset (untimed), before its
 * times count. Prints a table; asserts nothing.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { startBackend } from '../src/cli/backend';
import { FINERCUT_SAMPLES } from '../src/core/removal/calibration';
import type { CriterionKey } from '../src/core/criteria/types';
import { densePlan, type PruningPlan } from '../src/core/plan';
import { filesFromPath } from '../src/io/node-files';
import { openModel } from '../src/io/open';
import { ModelSession, QUIET_JOB } from '../src/session/session';
import type { PlanRequest, PlanResult } from '../src/worker/protocol';
import { gpt2Config, writeBenchTransformer } from '../scripts/make-bench-transformer';
import type { BenchRow } from './transformers';

function option(name: string, fallback: number): number {
  const at = process.argv.indexOf(`--${name}`);
  return at >= 0 ? Number(process.argv[at + 1]) : fallback;
}

async function open(folder: string, samples: number): Promise<ModelSession> {
  const session = await ModelSession.create(await openModel(await filesFromPath(folder)));
  session.useSynthetic(samples, 0);
  await session.evaluate(QUIET_JOB);
  return session;
}

async function timed(session: ModelSession, request: PlanRequest): Promise<{ result: PlanResult; seconds: number }> {
  const started = performance.now();
  const result = await session.evaluatePlan(request, QUIET_JOB);
  return { result, seconds: (performance.now() - started) / 1000 };
}

interface Move {
  label: string;
  request(plan: PruningPlan): { plan: PruningPlan; allocate: boolean };
}

export interface LivePlanMove {
  label: string;
  before: number;
  now: number;
}

/**
 * The moves on a model of `blocks` GPT-2 blocks written into `dir`, `samples` data-free windows:
 * seconds before (cache off, full evaluation) and now (the page's live move), checked to agree.
 */
export async function livePlanMoves(
  dir: string,
  blocks: number,
  samples: number,
  log: (line: string) => void,
): Promise<{ params: number; units: number; moves: LivePlanMove[]; note: string }> {
  const folder = join(dir, `live-plan-${blocks}`);
  const params = writeBenchTransformer(folder, gpt2Config(blocks, 768, 16384, 256));
  const today = await open(folder, samples);
  today.configurePlanCache(false);
  const cached = await open(folder, samples);
  try {
    const units = cached.summary.units;
    const last = units[units.length - 1];
    const setUnit = (plan: PruningPlan, value: number) => ({ plan: { ...plan, sparsity: { ...plan.sparsity, [last]: value }, locked: [last] }, allocate: false });
    const global = (criterion: CriterionKey, target: number) => (plan: PruningPlan) => ({ plan: { ...plan, criterion, target, locked: [] }, allocate: true });
    const moves: Move[] = [
      { label: 'magnitude: global slider, first move (0.5)', request: global('magnitude', 0.5) },
      { label: 'magnitude: global slider, next move (0.55)', request: global('magnitude', 0.55) },
      { label: 'magnitude: one unit slider (last unit 0.7)', request: (plan) => setUnit(plan, 0.7) },
      { label: 'magnitude: the same unit again (0.8)', request: (plan) => setUnit(plan, 0.8) },
      { label: 'wanda: global slider, first move (0.5)', request: global('wanda', 0.5) },
      { label: 'wanda: one unit slider (last unit 0.7)', request: (plan) => setUnit(plan, 0.7) },
      { label: 'wanda: global slider back to 0.5', request: global('wanda', 0.5) },
    ];
    let plan: PruningPlan = densePlan(units, cached.data.hash);
    const tensors = tf.memory().numTensors;
    const measured: LivePlanMove[] = [];
    let scope: PlanResult['scope'];
    for (const move of moves) {
      const request = move.request(plan);
      const before = await timed(today, { ...request, evaluation: 'full' });
      const now = await timed(cached, request);
      // The live move measures the live subset: the uncached session measures the same subset, untimed, to check it.
      const check = now.result.scope?.subset ? await today.evaluatePlan({ ...request, evaluation: 'subset' }, QUIET_JOB) : before.result;
      const agree =
        JSON.stringify(check.evaluation) === JSON.stringify(now.result.evaluation) && before.result.overall === now.result.overall && check.overall === now.result.overall;
      if (!agree) throw new Error(`${move.label}: the two paths disagree: ${JSON.stringify(check.evaluation)} vs ${JSON.stringify(now.result.evaluation)}`);
      scope = now.result.scope;
      plan = { ...request.plan, sparsity: now.result.sparsity };
      measured.push({ label: move.label, before: before.seconds, now: now.seconds });
      log(`bench: ${move.label}: before ${before.seconds.toFixed(2)} s, now ${now.seconds.toFixed(2)} s`);
    }
    const state = cached.planCacheState();
    const note =
      `tensors after the moves: ${tf.memory().numTensors - tensors} more than before; plan cache ${JSON.stringify(state?.counters)}, ` +
      `${((state?.bytes.kernels ?? 0) / 2 ** 20).toFixed(0)} MiB of kernels, ${((state?.bytes.stats ?? 0) / 2 ** 20).toFixed(1)} MiB of statistics; ` +
      (scope?.subset ? `live evaluation on ${scope.size} of ${scope.of} ${scope.unit}` : 'live evaluation on all of the data');
    return { params, units: units.length, moves: measured, note };
  } finally {
    today.dispose();
    cached.dispose();
    rmSync(folder, { recursive: true, force: true });
  }
}

/** The moves as rows of `npm run bench`'s table: now (the page's live move) against before, same run. */
export function livePlanRows(result: Awaited<ReturnType<typeof livePlanMoves>>, samples: number): BenchRow[] {
  const model = `${(result.params / 1e6).toFixed(1)}M GPT-2 shape, data-free ${samples} × 256 tokens`;
  return result.moves.map((move) => {
    const ratio = move.now / move.before;
    return {
      row: `(e) slider move, ${move.label}, ${model}`,
      lopper: `now ${move.now.toFixed(2)} s`,
      peer: `before ${move.before.toFixed(2)} s`,
      ratio,
      goal: 'now ≤ 2 s (issue 10), now / before ≤ 0.5',
      met: move.now <= 2 && ratio <= 0.5,
      agree: 'same evaluation and sparsity',
    };
  });
}

async function main(): Promise<void> {
  const blocks = option('blocks', 12);
  const samples = option('samples', FINERCUT_SAMPLES);
  await startBackend('wasm');
  const dir = mkdtempSync(join(tmpdir(), 'lopper-live-plan-'));
  try {
    const result = await livePlanMoves(dir, blocks, samples, (line) => void process.stderr.write(`${line}\n`));
    process.stdout.write(`\nSlider moves on a generated GPT-2-shaped model: ${blocks} blocks, ${(result.params / 1e6).toFixed(1)}M parameters, ${result.units} units, `);
    process.stdout.write(`data-free (${samples} × 256 tokens), backend ${tf.getBackend()}, Node ${process.version}\n\n`);
    process.stdout.write('| move | before (s) | now (s) | now / before | agree |\n| --- | --- | --- | --- | --- |\n');
    for (const move of result.moves) {
      process.stdout.write(`| ${move.label} | ${move.before.toFixed(2)} | ${move.now.toFixed(2)} | ${(move.now / move.before).toFixed(3)} | same evaluation and sparsity |\n`);
    }
    process.stdout.write(`\n${result.note}.\n`);
    process.stdout.write('"before": plan cache off, full evaluation with the gzipped size; "now": the page\'s live move (plan cache, gzipped size on full evaluation).\n');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] !== undefined && import.meta.filename === process.argv[1]) await main();
