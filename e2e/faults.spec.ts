import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, test, type Browser, type Page, type Worker } from '@playwright/test';
import { dropFiles, openWorkbench, showView, waitIdle, type PageState } from './helpers';
import { dropDigits, setRange } from './session-helpers';

/**
 * The compute worker is killed the ways a real one dies (it closes itself, its isolate is
 * terminated, its thread hangs in a kernel, a job throws, an error escapes every job), in the middle
 * of a sweep, a plan evaluation or a removal search; the page restarts it and nothing the user did is lost.
 * `?watchdog=3`: the page restarts a worker that leaves its heartbeat unanswered for 3 s (6 s during a job), or
 * whose job stays at one step for 9 s.
 */
const URL = '/?watchdog=3';
const CELLS = 4 * 11;

type Fault = 'close' | 'hang' | 'throw' | 'crash';

/** The page's compute worker (the WASM backend's helper threads are blob: workers). */
async function computeWorker(page: Page): Promise<Worker> {
  for (;;) {
    const worker = page.workers().find((w) => !w.url().startsWith('blob:') && /worker/.test(w.url()));
    if (worker) return worker;
    await page.waitForEvent('worker');
  }
}

/** Stages a fault inside the worker: it strikes at the `afterSteps`-th step boundary of a job from now. */
async function stageFault(page: Page, fault: Fault, afterSteps = 1): Promise<void> {
  const worker = await computeWorker(page);
  await worker.evaluate(
    (data) => {
      self.dispatchEvent(new MessageEvent('message', { data }));
    },
    { type: 'fault', fault, afterSteps },
  );
}

/** Terminates the worker's isolate from the outside (DevTools protocol), as the browser does to a runaway script. */
async function terminateWorkerExecution(browser: Browser, page: Page): Promise<void> {
  const url = (await computeWorker(page)).url();
  const cdp = await browser.newBrowserCDPSession();
  const { targetInfos } = await cdp.send('Target.getTargets');
  const target = targetInfos.find((t) => t.type === 'worker' && t.url === url);
  if (!target) throw new Error(`no DevTools target for ${url}`);
  const { sessionId } = await cdp.send('Target.attachToTarget', { targetId: target.targetId, flatten: false });
  await cdp.send('Target.sendMessageToTarget', { sessionId, message: JSON.stringify({ id: 1, method: 'Runtime.terminateExecution' }) });
  await cdp.detach();
}

/** The work a person did before the fault: a dropped dataset, two plan steps (50 %, then 70 %) and a snapshot. */
async function doSomeWork(page: Page): Promise<{ before: PageState; half: number }> {
  await openWorkbench(page, URL);
  await dropDigits(page, 600);
  await setRange(page, 'global-sparsity', 0.5);
  const half = await waitIdle(page, (s) => s.plan.target === 0.5 && (s.sparsity ?? 0) > 0.45);
  await showView(page, 'Plan');
  await page.getByPlaceholder('name').fill('half');
  await page.getByTestId('snapshot-save').click();
  await setRange(page, 'global-sparsity', 0.7);
  const before = await waitIdle(page, (s) => s.plan.target === 0.7 && (s.sparsity ?? 0) > 0.65);
  return { before, half: half.evaluation?.accuracy ?? NaN };
}

async function expectRestored(page: Page, before: PageState): Promise<PageState> {
  await expect(page.getByTestId('recovery-notice')).toHaveAttribute('data-status', 'restored', { timeout: 120_000 });
  const after = await waitIdle(page, (s) => s.evaluation?.samples === 600 && s.plan.target === before.plan.target);
  expect(after.model?.name).toBe('digits-cnn');
  expect(after.plan.sparsity).toEqual(before.plan.sparsity);
  expect(after.evaluation?.accuracy).toBeCloseTo(before.evaluation?.accuracy ?? NaN, 9);
  await showView(page, 'Plan');
  await expect(page.getByTestId('snapshot-table')).toContainText('half');
  return after;
}

async function partialSweepCells(page: Page): Promise<number> {
  await showView(page, 'Sensitivity');
  await expect(page.getByTestId('sweep-progress')).not.toHaveAttribute('data-status', 'running', { timeout: 120_000 });
  return page.getByTestId('heatmap-cell').count();
}

/** The page still works: undo goes back to the snapshot's 50 %, and a whole sweep runs. */
async function expectUsable(page: Page, half: number): Promise<void> {
  await showView(page, 'Plan');
  await page.getByTestId('plan-undo').click();
  const undone = await waitIdle(page, (s) => s.plan.target === 0.5);
  expect(undone.evaluation?.accuracy).toBeCloseTo(half, 9);
  await showView(page, 'Sensitivity');
  await page.getByTestId('sweep-run').click();
  await expect(page.getByTestId('sweep-progress')).toHaveAttribute('data-status', 'done', { timeout: 240_000 });
  await expect(page.getByTestId('heatmap-cell')).toHaveCount(CELLS);
}

test('a worker that closes itself mid-sweep is noticed and restarted; data, plan, history, snapshot and the partial sweep stay', async ({ page }) => {
  test.setTimeout(420_000);
  const { before, half } = await doSomeWork(page);
  await showView(page, 'Sensitivity');
  await page.getByTestId('sweep-run').click();
  await expect(page.getByTestId('heatmap-cell').nth(2)).toBeAttached();
  await stageFault(page, 'close');
  await expectRestored(page, before);
  await expect(page.getByTestId('recovery-detail')).toContainText('finished cells');
  const cells = await partialSweepCells(page);
  expect(cells).toBeGreaterThanOrEqual(3);
  expect(cells).toBeLessThan(CELLS);
  await expect(page.getByTestId('error-message')).toHaveCount(0);
  await expectUsable(page, half);
  await expect(page.getByTestId('recovery-notice')).toBeVisible();
  await page.getByTestId('recovery-dismiss').click();
  await expect(page.getByTestId('recovery-notice')).toHaveCount(0);
});

/** After a restart mid-plan: the 80 % plan is measured on the new worker, undo goes back to 70 % as measured before, and the snapshot stays. */
async function expectPlanRemeasured(page: Page, before: PageState): Promise<void> {
  const after = await waitIdle(page, (s) => s.plan.target === 0.8 && (s.sparsity ?? 0) > 0.75 && s.evaluation?.samples === 600);
  expect(after.evaluation?.accuracy).not.toBe(before.evaluation?.accuracy);
  await showView(page, 'Plan');
  await page.getByTestId('plan-undo').click();
  const undone = await waitIdle(page, (s) => s.plan.target === 0.7);
  expect(undone.evaluation?.accuracy).toBeCloseTo(before.evaluation?.accuracy ?? NaN, 9);
  await expect(page.getByTestId('snapshot-table')).toContainText('half');
}

for (const [fault, how] of [
  ['hang', 'whose thread hangs in a kernel'],
  ['close', 'that closes itself'],
] as const) {
  test(`a worker ${how} mid-plan is restarted and the new plan is measured there`, async ({ page }) => {
    test.setTimeout(300_000);
    const { before } = await doSomeWork(page);
    await stageFault(page, fault);
    await setRange(page, 'global-sparsity', 0.8);
    await expect(page.getByTestId('recovery-notice')).toHaveAttribute('data-status', 'restored', { timeout: 120_000 });
    await expect(page.getByTestId('recovery-notice')).toContainText('stopped answering');
    await expectPlanRemeasured(page, before);
  });
}

test('a plan evaluation that throws fails with its message; the plan, its history and the worker stay', async ({ page }) => {
  test.setTimeout(300_000);
  const { before } = await doSomeWork(page);
  await stageFault(page, 'throw');
  await setRange(page, 'global-sparsity', 0.8);
  await expect(page.getByTestId('error-message')).toContainText('A fault staged for testing failed this job', { timeout: 120_000 });
  const failed = await waitIdle(page, (s) => s.plan.target === 0.8);
  expect(failed.model?.name).toBe('digits-cnn');
  await setRange(page, 'global-sparsity', 0.75);
  const next = await waitIdle(page, (s) => s.plan.target === 0.75 && (s.sparsity ?? 0) > 0.7);
  expect(next.evaluation?.samples).toBe(600);
  await showView(page, 'Plan');
  await page.getByTestId('plan-undo').click();
  await page.getByTestId('plan-undo').click();
  const undone = await waitIdle(page, (s) => s.plan.target === 0.7);
  expect(undone.evaluation?.accuracy).toBeCloseTo(before.evaluation?.accuracy ?? NaN, 9);
  expect(undone.workerTensors).toBe(before.workerTensors);
  await expect(page.getByTestId('recovery-notice')).toHaveCount(0);
});

test('a worker whose isolate is terminated mid-sweep is restarted by the job watchdog', async ({ page, browser }) => {
  test.setTimeout(300_000);
  const { before } = await doSomeWork(page);
  await showView(page, 'Sensitivity');
  await page.getByTestId('sweep-run').click();
  await expect(page.getByTestId('heatmap-cell').first()).toBeAttached();
  await terminateWorkerExecution(browser, page);
  await expectRestored(page, before);
  await expect(page.getByTestId('recovery-notice')).toContainText('made no progress');
  const cells = await partialSweepCells(page);
  expect(cells).toBeGreaterThan(0);
  expect(cells).toBeLessThan(CELLS);
});

test('a job that throws mid-sweep fails with its message and keeps its cells; the worker and everything else stay', async ({ page }) => {
  test.setTimeout(300_000);
  const { before } = await doSomeWork(page);
  const tensors = before.workerTensors;
  await showView(page, 'Sensitivity');
  await stageFault(page, 'throw', 60);
  await page.getByTestId('sweep-run').click();
  await expect(page.getByTestId('error-message')).toContainText('A fault staged for testing failed this job', { timeout: 120_000 });
  const cells = await partialSweepCells(page);
  expect(cells).toBeGreaterThan(0);
  expect(cells).toBeLessThan(CELLS);
  const after = await waitIdle(page);
  expect(after.plan).toEqual(before.plan);
  expect(after.evaluation).toEqual(before.evaluation);
  expect(after.workerTensors).toBe(tensors);
  await expect(page.getByTestId('recovery-notice')).toHaveCount(0);
});

test('an error that escapes every job mid-plan restarts the worker; the notice offers another backend, which measures the plan there', async ({ page }) => {
  test.setTimeout(420_000);
  const { before } = await doSomeWork(page);
  await stageFault(page, 'crash');
  await setRange(page, 'global-sparsity', 0.6);
  await expect(page.getByTestId('recovery-notice')).toHaveAttribute('data-status', 'restored', { timeout: 120_000 });
  await expect(page.getByTestId('recovery-notice')).toContainText('an error outside any job');
  const restored = await waitIdle(page, (s) => s.plan.target === 0.6 && s.evaluation?.samples === 600 && (s.sparsity ?? 0) > 0.55);
  expect(restored.backend).toBe(before.backend);
  const other = page.locator('[data-testid="recovery-backend"][data-backend="cpu"]');
  await other.click();
  const switched = await waitIdle(page, (s) => s.backend === 'cpu' && s.plan.target === 0.6, 240_000);
  expect(switched.evaluation?.samples).toBe(600);
  expect(Math.abs((switched.evaluation?.accuracy ?? 0) - (restored.evaluation?.accuracy ?? 1))).toBeLessThan(0.005);
  expect(switched.plan.sparsity).toEqual(restored.plan.sparsity);
});

test('a worker whose isolate is terminated mid-plan is restarted; the new plan is measured there and its history and snapshot stay', async ({ page, browser }) => {
  test.setTimeout(300_000);
  const { before } = await doSomeWork(page);
  // The plan evaluation is held at its first step, so that the termination lands inside it.
  await stageFault(page, 'hang');
  await setRange(page, 'global-sparsity', 0.8);
  await expect(page.getByTestId('job').filter({ hasText: 'Applying the plan' })).toBeAttached();
  await terminateWorkerExecution(browser, page);
  await expect(page.getByTestId('recovery-notice')).toHaveAttribute('data-status', 'restored', { timeout: 120_000 });
  await expectPlanRemeasured(page, before);
  await expect(page.getByTestId('recovery-notice')).toBeVisible();
});

/** Candidates × steps of the demo LM's removal search: 8 sublayers, 2 greedy steps. */
const REMOVAL_CELLS = 8 + 7;

/** Characters of the demo LM's held-out text the removal tests evaluate on (the whole text takes seconds a pass). */
const TEXT_CHARS = 1000;

/** The demo LM on a short text it was given, with two plan steps (20 %, then 30 %) and a snapshot, then a removal search that has scored a few candidates. */
async function removalUnderWay(page: Page): Promise<PageState> {
  await openWorkbench(page, URL);
  await page.getByTestId('model-picker').selectOption('char-lm');
  await waitIdle(page, (s) => s.model?.name === 'char-lm' && s.evaluation?.perplexity !== undefined);
  const text = readFileSync(join(import.meta.dirname, '..', 'public', 'models', 'char-lm', 'eval.txt'), 'utf8').slice(0, TEXT_CHARS);
  await dropFiles(page, [{ name: 'short.txt', path: 'short.txt', mimeType: 'text/plain', base64: Buffer.from(text).toString('base64') }]);
  await waitIdle(page, (s) => s.evaluation?.samples !== undefined && s.evaluation.samples < TEXT_CHARS);
  await setRange(page, 'global-sparsity', 0.2);
  await waitIdle(page, (s) => s.plan.target === 0.2 && (s.sparsity ?? 0) > 0.15);
  await showView(page, 'Plan');
  await page.getByPlaceholder('name').fill('twenty');
  await page.getByTestId('snapshot-save').click();
  await setRange(page, 'global-sparsity', 0.3);
  const before = await waitIdle(page, (s) => s.plan.target === 0.3 && (s.sparsity ?? 0) > 0.25);
  await showView(page, 'Removal');
  await page.getByLabel('Steps', { exact: true }).fill('2');
  await page.getByTestId('removal-run').click();
  await expect(page.getByTestId('removal-cell').nth(2)).toBeAttached();
  return before;
}

/** After the restart: the model, plan, history and snapshot are back, and the search keeps the scores it had. */
async function expectRemovalRestored(page: Page, before: PageState, scored: number): Promise<void> {
  await expect(page.getByTestId('recovery-notice')).toHaveAttribute('data-status', 'restored', { timeout: 120_000 });
  await expect(page.getByTestId('recovery-detail')).toContainText('the removal search results');
  await expect(page.getByTestId('removal-progress')).not.toHaveAttribute('data-status', 'running');
  const after = await waitIdle(page, (s) => s.plan.target === 0.3 && s.evaluation?.samples === before.evaluation?.samples);
  expect(after.model).toEqual(before.model);
  expect(after.plan.sparsity).toEqual(before.plan.sparsity);
  expect(after.evaluation?.perplexity).toBeCloseTo(before.evaluation?.perplexity ?? NaN, 6);
  const cells = await page.getByTestId('removal-cell').count();
  expect(cells).toBeGreaterThanOrEqual(scored);
  expect(cells).toBeLessThan(REMOVAL_CELLS);
  await showView(page, 'Plan');
  await expect(page.getByTestId('snapshot-table')).toContainText('twenty');
  await page.getByTestId('plan-undo').click();
  await waitIdle(page, (s) => s.plan.target === 0.2);
  await expect(page.getByTestId('recovery-notice')).toBeVisible();
}

for (const [fault, how] of [
  ['close', 'closes itself'],
  ['crash', 'throws outside any job'],
] as const) {
  test(`a worker that ${how} mid-removal-search is restarted; the partial search, plan, history and snapshot stay`, async ({ page }) => {
    test.setTimeout(300_000);
    const before = await removalUnderWay(page);
    await stageFault(page, fault, 2);
    const scored = await page.getByTestId('removal-cell').count();
    await expectRemovalRestored(page, before, scored);
    if (fault === 'close') {
      await showView(page, 'Removal');
      await page.getByTestId('removal-run').click();
      await expect(page.getByTestId('removal-progress')).toHaveAttribute('data-status', 'done', { timeout: 240_000 });
      await expect(page.getByTestId('removal-cell')).toHaveCount(REMOVAL_CELLS);
    }
    await page.getByTestId('recovery-dismiss').click();
    await expect(page.getByTestId('recovery-notice')).toHaveCount(0);
  });
}

test('a worker whose isolate is terminated mid-removal-search is restarted by the job watchdog; the partial search stays', async ({ page, browser }) => {
  test.setTimeout(300_000);
  const before = await removalUnderWay(page);
  const scored = await page.getByTestId('removal-cell').count();
  await terminateWorkerExecution(browser, page);
  await expectRemovalRestored(page, before, scored);
});

test('a base model loaded for DARE before a restart is loaded again after it, and the DARE plan measures as before', async ({ page }) => {
  test.setTimeout(300_000);
  await openWorkbench(page, URL);
  await page.getByTestId('model-picker').selectOption('digits-cnn-inverted');
  const fine = await waitIdle(page, (s) => s.model?.name === 'digits-cnn-inverted');
  await showView(page, 'Plan');
  await page.getByTestId('dare-load-demo-base').click();
  await expect(page.getByTestId('dare-base')).toContainText('4 units differ');
  await page.getByTestId('dare-p').fill('0.9');
  await page.getByTestId('dare-apply').check();
  const dared = await waitIdle(page, (s) => s.evaluation?.accuracy !== fine.evaluation?.accuracy && (s.sparsity ?? 0) > 0.88);
  await stageFault(page, 'close');
  await setRange(page, 'global-sparsity', 0.3);
  await expect(page.getByTestId('recovery-notice')).toHaveAttribute('data-status', 'restored', { timeout: 120_000 });
  await expect(page.getByTestId('recovery-detail')).toContainText('the base model');
  await waitIdle(page, (s) => s.plan.target === 0.3);
  await expect(page.getByTestId('dare-base')).toContainText('4 units differ');
  await page.getByTestId('plan-undo').click();
  const undone = await waitIdle(page, (s) => s.plan.target === 0);
  expect(undone.plan.sparsity).toEqual(dared.plan.sparsity);
  expect(undone.evaluation?.accuracy).toBeCloseTo(dared.evaluation?.accuracy ?? NaN, 9);
  expect(undone.sparsity).toBeCloseTo(dared.sparsity ?? NaN, 9);
});

test('a removal search that throws mid-way fails with its message and keeps its scores; the worker, plan and evaluation stay', async ({ page }) => {
  test.setTimeout(300_000);
  const before = await removalUnderWay(page);
  await stageFault(page, 'throw', 2);
  const scored = await page.getByTestId('removal-cell').count();
  await expect(page.getByTestId('error-message')).toContainText('A fault staged for testing failed this job', { timeout: 120_000 });
  await expect(page.getByTestId('removal-progress')).toHaveAttribute('data-status', 'failed');
  const after = await waitIdle(page);
  expect(after.plan.sparsity).toEqual(before.plan.sparsity);
  expect(after.evaluation).toEqual(before.evaluation);
  expect(after.workerTensors).toBe(before.workerTensors);
  const cells = await page.getByTestId('removal-cell').count();
  expect(cells).toBeGreaterThanOrEqual(scored);
  expect(cells).toBeLessThan(REMOVAL_CELLS);
  await expect(page.getByTestId('recovery-notice')).toHaveCount(0);
});
