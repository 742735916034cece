import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, test, type Page } from '@playwright/test';
import { dropFiles, lopperState, openWorkbench, showView, waitIdle } from './helpers';

async function setRange(page: Page, testId: string, value: number, layer?: string): Promise<void> {
  const selector = layer ? `[data-testid="${testId}"][data-layer="${layer}"]` : `[data-testid="${testId}"]`;
  await page.locator(selector).fill(String(value));
}

test('the global slider prunes the demo CNN and the accuracy updates; locks and undo work', async ({ page }) => {
  test.setTimeout(240_000);
  const dense = await openWorkbench(page);
  const denseAccuracy = dense.evaluation?.accuracy ?? 0;
  await showView(page, 'Plan');
  await setRange(page, 'global-sparsity', 0.9);
  let state = await waitIdle(page, (s) => s.evaluation?.accuracy !== denseAccuracy);
  expect(state.plan.target).toBe(0.9);
  expect(state.sparsity).toBeGreaterThan(0.89);
  expect(state.sparsity).toBeLessThan(0.91);
  const pruned = Number(await page.getByTestId('eval-accuracy').getAttribute('data-value'));
  expect(pruned).toBeLessThan(denseAccuracy);

  // A per-layer slider overrides the allocation and locks that layer.
  await setRange(page, 'layer-sparsity', 0.2, 'dense2');
  state = await waitIdle(page, (s) => s.plan.sparsity.dense2 === 0.2);
  expect(state.plan.locked).toContain('dense2');
  await expect(page.locator('[data-testid="layer-lock"][data-layer="dense2"]')).toBeChecked();
  await setRange(page, 'global-sparsity', 0.5);
  state = await waitIdle(page, (s) => s.plan.target === 0.5);
  expect(state.plan.sparsity.dense2).toBe(0.2);

  // Undo by keyboard goes back to 90 %.
  await page.locator('body').click();
  await page.keyboard.press('Control+z');
  state = await waitIdle(page, (s) => s.plan.target === 0.9);
  expect(state.plan.sparsity.dense2).toBe(0.2);
  await page.getByTestId('plan-undo').click();
  state = await waitIdle(page, (s) => s.plan.locked.length === 0);
  await page.getByTestId('plan-redo').click();
  state = await waitIdle(page, (s) => s.plan.locked.includes('dense2'));
  await expect(page.getByTestId('plan-sizes')).toContainText('gzipped');
  await page.getByPlaceholder('name').fill('ninety');
  await page.getByTestId('snapshot-save').click();
  await setRange(page, 'global-sparsity', 0.3);
  await waitIdle(page, (s) => s.plan.target === 0.3);
  await page.getByPlaceholder('name').fill('thirty');
  await page.getByTestId('snapshot-save').click();
  const table = page.getByTestId('snapshot-table');
  await expect(table.locator('thead th')).toHaveCount(3);
  await expect(table.locator('tbody tr').first().locator('td')).toHaveText([/^9\d\.\d%$/, /^3\d\.\d%$/]);
  await page.screenshot({ path: join(import.meta.dirname, '..', 'docs', 'screenshots', 'plan.png'), fullPage: true });
});

test('an exported zip is checked, downloads, and drops back in with the same sparsity and accuracy', async ({ page }) => {
  test.setTimeout(240_000);
  await openWorkbench(page);
  await setRange(page, 'global-sparsity', 0.6);
  const pruned = await waitIdle(page, (s) => s.plan.target === 0.6 && (s.sparsity ?? 0) > 0.5);
  await showView(page, 'Export');
  const [download] = await Promise.all([page.waitForEvent('download'), page.getByTestId('export-button').click()]);
  expect(download.suggestedFilename()).toMatch(/\.zip$/);
  await expect(page.getByTestId('export-check')).toHaveAttribute('data-ok', 'true');
  const zip = readFileSync(await download.path());
  await dropFiles(page, [{ name: 'digits-cnn-pruned.zip', path: 'digits-cnn-pruned.zip', mimeType: 'application/zip', base64: zip.toString('base64') }]);
  const reopened = await waitIdle(page, (s) => s.model?.name !== 'digits-cnn');
  expect(reopened.error).toBeNull();
  await expect(page.getByTestId('layer-row')).toHaveCount(7);
  // The zip holds the weights only: evaluate it on the same digits.
  await page.getByTestId('dataset-input').setInputFiles(join(import.meta.dirname, '..', 'public', 'models', 'digits-cnn', 'eval.json'));
  const evaluated = await waitIdle(page, (s) => s.evaluation?.accuracy !== undefined && s.evaluation.samples === 2000);
  expect(Math.abs((evaluated.evaluation?.accuracy ?? 0) - (pruned.evaluation?.accuracy ?? 1))).toBeLessThanOrEqual(1e-9);
  expect(Math.abs((evaluated.sparsity ?? 0) - (pruned.sparsity ?? 1))).toBeLessThan(1e-9);
  expect((await lopperState(page)).error).toBeNull();
});

test('a channel-pruned export really shrinks: fewer parameters after re-import, same accuracy', async ({ page }) => {
  test.setTimeout(240_000);
  const dense = await openWorkbench(page);
  await showView(page, 'Plan');
  await page.getByLabel('Plan granularity').selectOption('channels');
  await expect(page.getByTestId('channel-groups')).toContainText('conv1');
  await setRange(page, 'global-sparsity', 0.5);
  const pruned = await waitIdle(page, (s) => s.plan.target === 0.5 && (s.sparsity ?? 0) > 0.3);
  await expect(page.getByTestId('plan-sizes')).toContainText('shrunk');
  await showView(page, 'Export');
  const [download] = await Promise.all([page.waitForEvent('download'), page.getByTestId('export-button').click()]);
  await expect(page.getByTestId('export-check')).toHaveAttribute('data-ok', 'true');
  const zip = readFileSync(await download.path());
  await dropFiles(page, [{ name: 'digits-cnn-channels.zip', path: 'digits-cnn-channels.zip', mimeType: 'application/zip', base64: zip.toString('base64') }]);
  const reopened = await waitIdle(page, (s) => s.model?.name !== 'digits-cnn');
  expect(reopened.error).toBeNull();
  expect(reopened.model?.totalParams).toBeLessThan((dense.model?.totalParams ?? 0) * 0.6);
  await page.getByTestId('dataset-input').setInputFiles(join(import.meta.dirname, '..', 'public', 'models', 'digits-cnn', 'eval.json'));
  const evaluated = await waitIdle(page, (s) => s.evaluation?.samples === 2000 && s.evaluation.accuracy !== undefined);
  expect(Math.abs((evaluated.evaluation?.accuracy ?? 0) - (pruned.evaluation?.accuracy ?? 1))).toBeLessThanOrEqual(1e-9);
});

test('delta pruning: the inverted-digits model against its base with DARE and a DAREx-q search', async ({ page }) => {
  test.setTimeout(300_000);
  await openWorkbench(page);
  await page.getByTestId('model-picker').selectOption('digits-cnn-inverted');
  const fine = await waitIdle(page, (s) => s.model?.name === 'digits-cnn-inverted');
  const fineAccuracy = fine.evaluation?.accuracy ?? 0;
  expect(fineAccuracy).toBeGreaterThan(0.95);
  await showView(page, 'Plan');
  await page.getByTestId('dare-load-demo-base').click();
  await expect(page.getByTestId('dare-base')).toContainText('4 units differ');
  await page.getByTestId('dare-p').fill('0.9');
  await page.getByTestId('dare-apply').check();
  const dared = await waitIdle(page, (s) => s.evaluation?.accuracy !== fineAccuracy);
  expect(dared.evaluation?.accuracy).toBeLessThan(fineAccuracy);
  expect(dared.sparsity).toBeGreaterThan(0.88);
  expect(dared.sparsity).toBeLessThan(0.92);
  await page.getByTestId('dare-search').click();
  await expect(page.getByTestId('dare-search-result')).toContainText('best q');
  await waitIdle(page);
  const q = Number(await page.getByTestId('dare-q').inputValue());
  expect(q).toBeGreaterThan(0.1);
});

test('the demo LM: a 30% plan raises perplexity, and its safetensors export reloads with the same sparsity', async ({ page }) => {
  test.setTimeout(300_000);
  await openWorkbench(page);
  await page.getByTestId('model-picker').selectOption('char-lm');
  const dense = await waitIdle(page, (s) => s.model?.name === 'char-lm');
  const densePerplexity = dense.evaluation?.perplexity ?? 0;
  await setRange(page, 'global-sparsity', 0.3);
  const pruned = await waitIdle(page, (s) => s.plan.target === 0.3 && s.evaluation?.perplexity !== densePerplexity);
  expect(pruned.evaluation?.perplexity).toBeGreaterThan(densePerplexity);
  expect(Math.abs((pruned.sparsity ?? 0) - 0.3)).toBeLessThan(0.005);
  await showView(page, 'Export');
  const [download] = await Promise.all([page.waitForEvent('download'), page.getByTestId('export-button').click()]);
  await expect(page.getByTestId('export-check')).toHaveAttribute('data-ok', 'true');
  const zip = readFileSync(await download.path());
  await dropFiles(page, [{ name: 'char-lm-pruned.zip', path: 'char-lm-pruned.zip', mimeType: 'application/zip', base64: zip.toString('base64') }]);
  const reopened = await waitIdle(page, (s) => s.model?.name !== 'char-lm');
  expect(reopened.error).toBeNull();
  expect(reopened.model?.format).toBe('hf-transformer');
  expect(Math.abs((reopened.sparsity ?? 0) - (pruned.sparsity ?? 1))).toBeLessThan(1e-9);
});

test('a float16 safetensors export of the demo LM reproduces the perplexity of its float16-rounded weights', async ({ page }) => {
  test.setTimeout(300_000);
  await openWorkbench(page);
  await page.getByTestId('model-picker').selectOption('char-lm');
  await waitIdle(page, (s) => s.model?.name === 'char-lm');
  await setRange(page, 'global-sparsity', 0.2);
  await waitIdle(page, (s) => s.plan.target === 0.2 && (s.sparsity ?? 0) > 0.19);
  await showView(page, 'Export');
  await page.getByLabel('float16 weights').check();
  const [download] = await Promise.all([page.waitForEvent('download'), page.getByTestId('export-button').click()]);
  expect(download.suggestedFilename()).toContain('-f16');
  await expect(page.getByTestId('export-check')).toHaveAttribute('data-ok', 'true');
});

test('delta sensitivity: a sweep of DARE drop rates per layer against the base', async ({ page }) => {
  test.setTimeout(300_000);
  await openWorkbench(page);
  await page.getByTestId('model-picker').selectOption('digits-cnn-inverted');
  await waitIdle(page, (s) => s.model?.name === 'digits-cnn-inverted');
  await showView(page, 'Plan');
  await page.getByTestId('dare-load-demo-base').click();
  await expect(page.getByTestId('dare-base')).toContainText('units differ');
  await showView(page, 'Sensitivity');
  await page.getByTestId('sweep-delta').check();
  await page.getByLabel('Sweep sparsities', { exact: true }).fill('0, 0.5, 0.9');
  await page.getByTestId('sweep-run').click();
  await expect(page.getByTestId('sweep-progress')).toHaveAttribute('data-status', 'done', { timeout: 240_000 });
  await expect(page.getByTestId('heatmap-cell')).toHaveCount(4 * 3);
  const conv1 = Number(await page.locator('[data-testid="heatmap-cell"][data-layer="conv1"][data-sparsity="0.9"]').getAttribute('data-value'));
  const dense2 = Number(await page.locator('[data-testid="heatmap-cell"][data-layer="dense2"][data-sparsity="0.9"]').getAttribute('data-value'));
  expect(conv1).toBeLessThan(dense2);
});

test('switching the backend with a plan applied shows the plan measured on the new backend, not the dense model', async ({ page }) => {
  test.setTimeout(240_000);
  const dense = await openWorkbench(page);
  await setRange(page, 'global-sparsity', 0.6);
  const planned = await waitIdle(page, (s) => s.plan.target === 0.6 && s.evaluation?.accuracy !== dense.evaluation?.accuracy);
  await page.getByTestId('backend-select').selectOption('cpu');
  const switched = await waitIdle(page, (s) => s.backend === 'cpu', 180_000);
  expect(switched.plan.target).toBe(0.6);
  expect(switched.evaluation?.accuracy).not.toBe(dense.evaluation?.accuracy);
  expect(Math.abs((switched.evaluation?.accuracy ?? 0) - (planned.evaluation?.accuracy ?? 1))).toBeLessThan(0.005);
});
