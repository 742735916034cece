import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, test, type Page } from '@playwright/test';
import { FIXTURES, dropFiles, lopperState, openWorkbench, showView, waitIdle } from './helpers';

async function finishedRemoval(page: Page): Promise<string | null> {
  const progress = page.getByTestId('removal-progress');
  await expect(progress).not.toHaveAttribute('data-status', 'running', { timeout: 240_000 });
  await waitIdle(page);
  return progress.getAttribute('data-status');
}

test('FinerCut on a functional model: heatmap with removal marks, slider applies removals and changes accuracy', async ({ page }) => {
  test.setTimeout(240_000);
  await openWorkbench(page);
  await showView(page, 'Removal');
  await page.getByTestId('folder-input').setInputFiles(join(FIXTURES, 'functional'));
  const opened = await waitIdle(page);
  expect(opened.model?.name).toBe('functional');
  await page.getByTestId('removal-run').click();
  expect(await finishedRemoval(page)).toBe('done');
  const cells = await page.getByTestId('removal-cell').count();
  expect(cells).toBeGreaterThan(0);
  const marked = page.locator('[data-testid="removal-cell"].marked');
  const steps = await marked.count();
  expect(steps).toBeGreaterThan(0);
  const firstRemoved = await marked.and(page.locator('[data-step="0"]')).getAttribute('data-candidate');
  const slider = page.getByTestId('removal-count');
  await slider.fill('1');
  await expect(page.getByTestId('removal-accuracy')).toBeVisible();
  const state = await waitIdle(page);
  expect(state.plan.removed).toEqual([firstRemoved]);
  await page.screenshot({ path: join(import.meta.dirname, '..', 'docs', 'screenshots', 'removal-functional.png'), fullPage: true });
});

test('a dropped GPT-2 folder shows its projections; removal runs data-free with a block-influence ranking', async ({ page }) => {
  test.setTimeout(240_000);
  await openWorkbench(page);
  await showView(page, 'Removal');
  await page.getByTestId('folder-input').setInputFiles(join(FIXTURES, 'hf-gpt2-tiny'));
  const state = await waitIdle(page);
  expect(state.error).toBeNull();
  expect(state.model?.format).toBe('hf-transformer');
  const config = JSON.parse(readFileSync(join(FIXTURES, 'hf-gpt2-tiny', 'config.json'), 'utf8')) as { n_layer: number };
  await expect(page.getByTestId('layer-row')).toHaveCount(config.n_layer * 4);
  expect(state.model?.layers[0]).toBe('transformer.h.0.attn.c_attn');
  await page.getByTestId('removal-run').click();
  expect(await finishedRemoval(page)).toBe('done');
  await expect(page.getByTestId('removal-cell')).toHaveCount((2 * config.n_layer * (2 * config.n_layer + 1)) / 2);
  await expect(page.getByTestId('block-influence').locator('li')).toHaveCount(config.n_layer);
  await page.getByTestId('removal-count').fill('2');
  await expect(page.getByTestId('removal-divergence')).toBeVisible();
  const after = await lopperState(page);
  expect(after.plan.removed).toHaveLength(2);
  expect(after.workerTensors).toBeGreaterThan(0);
});

test('the demo LM: perplexity shown, FinerCut for a few steps, the slider changes perplexity', async ({ page }) => {
  test.setTimeout(300_000);
  await openWorkbench(page);
  await showView(page, 'Removal');
  await page.getByTestId('model-picker').selectOption('char-lm');
  const opened = await waitIdle(page, (s) => s.model?.name === 'char-lm');
  expect(opened.error).toBeNull();
  const reference = JSON.parse(readFileSync(join(import.meta.dirname, '..', 'public', 'models', 'char-lm', 'reference.json'), 'utf8')) as {
    perplexity: number;
    unigram_perplexity: number;
  };
  const dense = opened.evaluation?.perplexity ?? NaN;
  expect(Math.abs(dense - reference.perplexity) / reference.perplexity).toBeLessThan(1e-3);
  expect(dense).toBeLessThan(reference.unigram_perplexity);
  await expect(page.getByTestId('eval-perplexity')).toBeVisible();
  await page.getByLabel('Steps').fill('3');
  await page.getByTestId('removal-run').click();
  expect(await finishedRemoval(page)).toBe('done');
  await expect(page.locator('[data-testid="removal-cell"].marked')).toHaveCount(3);
  await page.getByTestId('removal-count').fill('2');
  await expect(page.getByTestId('removal-perplexity')).toBeVisible();
  const after = Number(await page.getByTestId('removal-perplexity').getAttribute('data-value'));
  expect(after).toBeGreaterThan(dense);
  expect((await lopperState(page)).plan.removed).toHaveLength(2);
  await page.screenshot({ path: join(import.meta.dirname, '..', 'docs', 'screenshots', 'finercut-char-lm.png'), fullPage: true });
});

test('a LayersModel with a removed layer exports without it and reproduces the evaluation', async ({ page }) => {
  test.setTimeout(240_000);
  await openWorkbench(page);
  await showView(page, 'Removal');
  await page.getByTestId('folder-input').setInputFiles(join(FIXTURES, 'functional'));
  await waitIdle(page, (s) => s.model?.name === 'functional');
  // The search considers residual branches by default; single layers too when asked.
  await expect(page.getByTestId('removal-candidates')).toHaveValue('branches');
  await page.getByTestId('removal-candidates').selectOption('all');
  await expect(page.getByTestId('removal-estimate')).toContainText('forward passes');
  await page.getByTestId('removal-run').click();
  expect(await finishedRemoval(page)).toBe('done');
  // Four greedy removals on this model include the residual branch (its Add) as well as single layers.
  await page.getByTestId('removal-count').fill('4');
  await expect(page.getByTestId('removal-accuracy')).toBeVisible();
  const removed = (await waitIdle(page)).plan.removed;
  expect(removed).toHaveLength(4);
  expect(removed).toContain('residual_add');
  await showView(page, 'Export');
  const [download] = await Promise.all([page.waitForEvent('download'), page.getByTestId('export-button').click()]);
  await expect(page.getByTestId('export-check')).toHaveAttribute('data-ok', 'true');
  const zip = readFileSync(await download.path());
  await dropFiles(page, [{ name: 'functional-pruned.zip', path: 'functional-pruned.zip', mimeType: 'application/zip', base64: zip.toString('base64') }]);
  const reopened = await waitIdle(page, (s) => s.model?.name === 'functional-pruned');
  expect(reopened.error).toBeNull();
  for (const name of removed) await expect(page.locator(`[data-testid="layer-row"][data-layer="${name}"]`)).toHaveCount(0);
});

test('the page and `lopper remove` give the same greedy order on the same model and text', async ({ page }) => {
  test.setTimeout(240_000);
  const fixture = join(FIXTURES, 'hf-removal-tiny');
  await openWorkbench(page);
  await showView(page, 'Removal');
  await page.getByTestId('folder-input').setInputFiles(fixture);
  const opened = await waitIdle(page, (s) => s.model?.name === 'hf-removal-tiny');
  expect(opened.error).toBeNull();
  await page.getByTestId('removal-run').click();
  expect(await finishedRemoval(page)).toBe('done');
  const candidates = opened.model?.layers.length ?? 0;
  const pageOrder: string[] = [];
  for (let step = 0; ; step++) {
    const marked = page.locator(`[data-testid="removal-cell"].marked[data-step="${step}"]`);
    if ((await marked.count()) === 0) break;
    pageOrder.push((await marked.getAttribute('data-candidate')) ?? '');
  }
  const out = join(mkdtempSync(join(tmpdir(), 'lopper-remove-')), 'remove.json');
  execFileSync(process.execPath, [join(import.meta.dirname, '..', 'bin', 'lopper.js'), 'remove', fixture, '--data', join(fixture, 'calibration.txt'), '--out', out], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const cli = JSON.parse(readFileSync(out, 'utf8')) as { steps: { removed: string }[] };
  expect(pageOrder.length).toBeGreaterThan(0);
  expect(pageOrder).toEqual(cli.steps.map((s) => s.removed));
  expect(candidates).toBeGreaterThan(0);
});

test('a removal search can be cancelled; completed steps stay and the model stays usable', async ({ page }) => {
  test.setTimeout(240_000);
  await openWorkbench(page);
  await showView(page, 'Removal');
  await page.getByTestId('model-picker').selectOption('char-lm');
  await waitIdle(page, (s) => s.model?.name === 'char-lm');
  await page.getByTestId('removal-run').click();
  await expect(page.getByTestId('removal-cell').first()).toBeVisible();
  await page.getByTestId('removal-cancel').click();
  expect(await finishedRemoval(page)).toBe('cancelled');
  await expect(page.getByTestId('error-message')).toHaveCount(0);
  const cells = await page.getByTestId('removal-cell').count();
  const marked = await page.locator('[data-testid="removal-cell"].marked').count();
  expect(cells).toBeGreaterThan(0);
  expect(marked).toBeLessThan(8);
  const state = await lopperState(page);
  expect(state.model?.name).toBe('char-lm');
  await page.getByTestId('removal-run').click();
  expect(await finishedRemoval(page)).toBe('done');
});
