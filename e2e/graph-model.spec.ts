import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, test, type Page } from '@playwright/test';
import { FIXTURES, dropFiles, lopperState, openWorkbench, readFixture, showView, waitIdle } from './helpers';

/** The units of e2e/fixtures/graph-cnn: the constant weights its Conv2D, _FusedConv2D, depthwise and MatMul ops read. */
const UNITS = ['conv1/filter', 'conv2/filter', 'dw/filter', 'conv3/filter', 'fc/weights'];

async function finished(page: Page, testId: 'sweep-progress' | 'removal-progress'): Promise<string | null> {
  const progress = page.getByTestId(testId);
  await expect(progress).not.toHaveAttribute('data-status', 'running', { timeout: 240_000 });
  await waitIdle(page);
  return progress.getAttribute('data-status');
}

test('a dropped GraphModel is swept, pruned live, exported, checked, re-dropped and has a residual branch removed', async ({ page }) => {
  test.setTimeout(300_000);
  await openWorkbench(page);
  await dropFiles(
    page,
    readFixture(join(FIXTURES, 'graph-cnn')).filter((f) => f.name !== 'expected.json'),
  );
  const opened = await waitIdle(page, (s) => s.model?.format === 'graph-model');
  expect(opened.error).toBeNull();
  expect(opened.model?.layers).toEqual(UNITS);
  expect(opened.evaluation?.divergence).toBe(0);
  for (const unit of UNITS) await expect(page.locator(`[data-testid="layer-row"][data-layer="${unit}"]`)).toHaveCount(1);
  // Delta pruning is offered for GraphModels too: a base can be chosen.
  await expect(page.getByTestId('dare-base-input')).toHaveCount(1);
  await expect(page.getByTestId('delta-unavailable')).toHaveCount(0);

  // A sensitivity sweep on a 2-point grid.
  await showView(page, 'Sensitivity');
  await page.getByLabel('Sweep sparsities').fill('0, 0.5');
  await page.getByTestId('sweep-run').click();
  expect(await finished(page, 'sweep-progress')).toBe('done');
  await expect(page.getByTestId('heatmap-cell')).toHaveCount(UNITS.length * 2);
  await expect(page.locator('[data-testid="heatmap-cell"][data-layer="fc/weights"][data-sparsity="0.5"]')).toHaveCount(1);

  // The global slider: live evaluation of the plan.
  await page.getByTestId('global-sparsity').fill('0.5');
  const pruned = await waitIdle(page, (s) => s.plan.target === 0.5 && (s.evaluation?.divergence ?? 0) > 0);
  expect(pruned.sparsity).toBeGreaterThan(0.45);
  await expect(page.locator('[data-testid="layer-row"][data-layer="conv2/filter"] [data-testid="layer-plan"]')).toHaveText('50.0%');

  // Export: the worker reopens the zip and reproduces the evaluation.
  await showView(page, 'Export');
  const [download] = await Promise.all([page.waitForEvent('download'), page.getByTestId('export-button').click()]);
  expect(download.suggestedFilename()).toMatch(/\.zip$/);
  await expect(page.getByTestId('export-check')).toHaveAttribute('data-ok', 'true');
  const zip = readFileSync(await download.path());

  // Dropped back in, it opens as a GraphModel with the same sparsity.
  await dropFiles(page, [{ name: 'graph-cnn-pruned.zip', path: 'graph-cnn-pruned.zip', mimeType: 'application/zip', base64: zip.toString('base64') }]);
  const reopened = await waitIdle(page, (s) => s.model?.name !== opened.model?.name && s.model?.format === 'graph-model');
  expect(reopened.error).toBeNull();
  expect(reopened.model?.layers).toEqual(UNITS);
  expect(Math.abs((reopened.sparsity ?? 0) - (pruned.sparsity ?? 1))).toBeLessThan(1e-9);

  // FinerCut on the reopened model: its residual branch is the candidate; bypassing it changes the outputs.
  await showView(page, 'Removal');
  await page.getByTestId('removal-run').click();
  expect(await finished(page, 'removal-progress')).toBe('done');
  await expect(page.locator('[data-testid="removal-cell"][data-candidate="res"]')).toHaveCount(1);
  await page.getByTestId('removal-count').fill('1');
  const removed = await waitIdle(page, (s) => s.plan.removed.includes('res') && (s.evaluation?.divergence ?? 0) > 0);
  expect(removed.plan.removed).toEqual(['res']);
  const final = await lopperState(page);
  expect(final.error).toBeNull();
  expect(final.workerTensors).toBeGreaterThan(0);
});

test('a GraphModel with dynamic input dimensions shows their defaults; the user sets them, a plan is measured again, a dataset sets them', async ({ page }) => {
  test.setTimeout(180_000);
  await openWorkbench(page);
  await dropFiles(
    page,
    readFixture(join(FIXTURES, 'graph-dynamic')).filter((f) => f.name !== 'expected.json'),
  );
  const opened = await waitIdle(page, (s) => s.model?.format === 'graph-model' && s.model.layers.join() === 'conv/filter,fc/weights');
  expect(opened.model?.inputs).toEqual([{ name: 'image', shape: [null, 224, 224, 2], source: 'default' }]);
  const row = page.locator('[data-testid="model-input"][data-name="image"]');
  await expect(page.locator('[data-testid="input-origin"][data-name="image"]')).toContainText('dim 1 = 224 (image default), dim 2 = 224 (image default)');
  await expect(row.getByTestId('input-dim-1')).toHaveValue('224');
  // The channels are fixed by the model: not editable.
  await expect(row.getByTestId('input-dim-3')).toHaveCount(0);

  // A size that is not a whole number ≥ 1 cannot be applied.
  await row.getByTestId('input-dim-1').fill('0');
  await expect(page.getByTestId('apply-input-shapes')).toBeDisabled();
  await row.getByTestId('input-dim-1').fill('5');
  await row.getByTestId('input-dim-2').fill('7');
  await page.getByTestId('apply-input-shapes').click();
  const resized = await waitIdle(page, (s) => s.model?.inputs?.[0].shape[1] === 5);
  expect(resized.model?.inputs?.[0]).toEqual({ name: 'image', shape: [null, 5, 7, 2], source: 'option' });
  expect(resized.model?.totalFlops).toBeLessThan((opened.model?.totalFlops ?? 0) / 100);
  expect(resized.error).toBeNull();
  expect(resized.evaluation?.divergence).toBe(0);

  // With a plan applied, a new size measures the plan again rather than showing the dense model.
  await page.getByTestId('global-sparsity').fill('0.5');
  await waitIdle(page, (s) => s.plan.target === 0.5 && (s.evaluation?.divergence ?? 0) > 0);
  await row.getByTestId('input-dim-1').fill('6');
  await page.getByTestId('apply-input-shapes').click();
  const replanned = await waitIdle(page, (s) => s.model?.inputs?.[0].shape[1] === 6 && (s.evaluation?.divergence ?? 0) > 0);
  expect(replanned.plan.target).toBe(0.5);

  // A labelled dataset of 8 × 8 images sets the size from its samples.
  const n = 4;
  const data = { inputs: Array.from({ length: n * 8 * 8 * 2 }, (_, i) => ((i * 13) % 17) / 17), shape: [n, 8, 8, 2], labels: [0, 1, 2, 0] };
  await dropFiles(page, [{ name: 'images.json', path: 'images.json', mimeType: 'application/json', base64: Buffer.from(JSON.stringify(data)).toString('base64') }]);
  const fitted = await waitIdle(page, (s) => s.model?.inputs?.[0].shape[1] === 8 && s.evaluation?.accuracy !== undefined);
  expect(fitted.model?.inputs?.[0].shape).toEqual([null, 8, 8, 2]);
  expect(fitted.evaluation?.samples).toBe(n);
  expect(fitted.error).toBeNull();
  await expect(row.getByTestId('input-dim-1')).toHaveValue('8');
});
