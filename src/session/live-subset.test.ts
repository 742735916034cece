import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gpt2Config, writeBenchTransformer } from '../../scripts/make-bench-transformer';
import { startBackend } from '../cli/backend';
import { densePlan, type PruningPlan } from '../core/plan';
import { filesFromPath } from '../io/node-files';
import { openModel } from '../io/open';
import { LIVE_FLOP_BUDGET, ModelSession, QUIET_JOB } from './session';

/**
 * A data-free transformer whose calibration windows cost more than the live budget: 2 GPT-2 blocks
 * of width 384, an 8,192-token vocabulary and context 256 (6.7M parameters), 6 data-free windows of
 * 256 tokens (1,536).
 */
describe('the live subset of a data-free transformer', () => {
  let dir: string;
  let session: ModelSession;
  let params: number;

  beforeAll(async () => {
    await startBackend('wasm');
    dir = mkdtempSync(join(tmpdir(), 'lopper-live-subset-'));
    params = writeBenchTransformer(join(dir, 'gpt2-live'), gpt2Config(2, 384, 8192, 256));
    session = await ModelSession.create(await openModel(await filesFromPath(join(dir, 'gpt2-live'))));
    session.useSynthetic(6, 0);
    await session.evaluate(QUIET_JOB);
  }, 120_000);

  afterAll(() => {
    session?.dispose();
    rmSync(dir, { recursive: true, force: true });
  });

  it('is the whole windows that the budget affords, and says so', () => {
    const affordable = Math.floor(LIVE_FLOP_BUDGET / (2 * params));
    const size = affordable - (affordable % 256);
    expect(size).toBeGreaterThan(0);
    expect(size).toBeLessThan(1536);
    expect(session.evaluationScope('subset')).toEqual({ subset: true, size, of: 1536, unit: 'tokens' });
    // Below LIVE_SUBSET_PARAMS a plan is measured on all of the data unless asked otherwise.
    expect(session.evaluationScope('auto')).toEqual({ subset: false, size: 1536, of: 1536, unit: 'tokens' });
  });

  it('measures a plan on that many tokens against the dense outputs of the same tokens', async () => {
    const units = session.summary.units;
    const dense: PruningPlan = densePlan(units, session.data.hash);
    const before = tf.memory().numTensors;
    const unchanged = await session.evaluatePlan({ plan: dense, allocate: true, evaluation: 'subset' }, QUIET_JOB);
    const size = unchanged.scope?.size ?? 0;
    expect(unchanged.scope?.subset).toBe(true);
    expect(unchanged.evaluation.samples).toBe(size);
    expect(unchanged.evaluation.divergence).toBe(0);

    const plan: PruningPlan = { ...dense, target: 0.6 };
    const live = await session.evaluatePlan({ plan, allocate: true, evaluation: 'subset' }, QUIET_JOB);
    const full = await session.evaluatePlan({ plan, allocate: true, evaluation: 'full' }, QUIET_JOB);
    const again = await session.evaluatePlan({ plan, allocate: true, evaluation: 'subset' }, QUIET_JOB);
    expect(live.evaluation.samples).toBe(size);
    expect(full.evaluation.samples).toBe(1536);
    expect(live.evaluation.divergence).toBeGreaterThan(0);
    expect(live.evaluation.divergence).not.toBe(full.evaluation.divergence);
    // The subset's dense outputs are kept beside the full data's: measuring it again gives the same number.
    expect(again.evaluation).toEqual(live.evaluation);
    expect(live.overall).toBe(full.overall);
    expect(tf.memory().numTensors).toBe(before);
  }, 180_000);
});
