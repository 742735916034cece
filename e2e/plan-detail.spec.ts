import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import AxeBuilder from '@axe-core/playwright';
import { expect, test, type Page } from '@playwright/test';
import { openWorkbench, showView, waitIdle } from './helpers';

async function expectNoSeriousViolations(page: Page): Promise<void> {
  const results = await new AxeBuilder({ page }).analyze();
  const serious = results.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  expect(serious.map((v) => `${v.id}: ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`)).toEqual([]);
}

test('the plan shows per-class accuracy and a confusion matrix that agree with the page hooks, and the dense-vs-pruned histogram of the selected layer', async ({ page }) => {
  const opened = await openWorkbench(page);
  // A selected layer shows only its dense weights while the plan is dense.
  await showView(page, 'Layers');
  await page.getByRole('button', { name: 'conv2', exact: true }).click();
  const histogram = page.getByTestId('weight-histogram');
  await expect(histogram.locator('.bars:not(.overlay) rect').first()).toBeAttached();
  await expect(histogram).not.toHaveAttribute('data-overlay', 'plan');
  await expect(histogram.locator('.bars.overlay rect')).toHaveCount(0);
  const dense = opened.denseEvaluation?.perClass;
  if (!dense || !opened.denseEvaluation?.accuracy) throw new Error('the demo evaluation has no per-class counts');
  // The demo's held-out set: 200 digits of each class.
  expect(dense.total).toEqual(new Array(10).fill(200));
  expect(dense.correct.reduce((a, b) => a + b, 0)).toBe(Math.round(opened.denseEvaluation.accuracy * 2000));

  await page.getByTestId('global-sparsity').fill('0.9');
  const state = await waitIdle(page, (s) => s.plan.target === 0.9 && s.evaluation?.accuracy !== opened.evaluation?.accuracy);
  const planned = state.evaluation?.perClass;
  if (!planned?.confusion || state.evaluation?.accuracy === undefined) throw new Error('the plan evaluation has no per-class counts');
  expect(planned.correct.reduce((a, b) => a + b, 0)).toBe(Math.round(state.evaluation.accuracy * 2000));
  expect(planned.confusion.map((row) => row.reduce((a, b) => a + b, 0))).toEqual(planned.total);
  planned.confusion.forEach((row, c) => expect(row[c]).toBe(planned.correct[c]));
  expect(planned.accuracy).toEqual(planned.correct.map((n) => n / 200));
  expect(planned.correct).not.toEqual(dense.correct);

  // The selected layer's detail is read again for the measured plan: the plan's non-zero weights over the dense ones.
  await expect(histogram).toHaveAttribute('data-overlay', 'plan');
  const overlayBars = await histogram.locator('.bars.overlay rect').count();
  expect(overlayBars).toBe(await histogram.locator('.bars:not(.overlay) rect').count());
  await expect(histogram.locator('.legend')).toContainText('dense');
  await expect(histogram.locator('.legend')).toContainText('plan, non-zero');
  await expect(histogram.locator('.axis-title').first()).toHaveText('weight value');
  const zeros = page.getByTestId('weight-zeros');
  expect(Number(await zeros.getAttribute('data-plan'))).toBeGreaterThanOrEqual(0.89);
  expect(Number(await zeros.getAttribute('data-dense'))).toBeLessThan(0.01);
  await showView(page, 'Layers');
  await expectNoSeriousViolations(page);
  await histogram.screenshot({ path: join(import.meta.dirname, '..', 'docs', 'screenshots', 'histogram-overlay.png') });
  const [svg] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'histogram as SVG' }).click()]);
  const markup = readFileSync(await svg.path(), 'utf8');
  expect(markup).toMatch(/^<svg[^>]*><rect width="[\d.]+" height="[\d.]+" fill="[^"]+"/);
  expect(markup).toContain('plan, non-zero');
  expect(markup).toContain('weights (count)');

  await showView(page, 'Plan');
  const table = page.getByTestId('per-class-accuracy');
  await expect(table.locator('tbody tr')).toHaveCount(10);
  for (let c = 0; c < 10; c++) {
    const row = table.locator(`tr[data-class="${c}"]`);
    await expect(row).toHaveAttribute('data-plan', String(planned.accuracy[c]));
    await expect(row).toHaveAttribute('data-dense', String(dense.accuracy[c]));
  }
  const matrix = page.getByTestId('confusion-matrix');
  await expect(matrix.locator('tbody td')).toHaveCount(100);
  await expect(matrix.locator('td[data-true="3"][data-predicted="3"]')).toHaveText(String(planned.confusion[3][3]));
  await expect(matrix.locator('td[data-true="4"][data-predicted="9"]')).toHaveText(String(planned.confusion[4][9]));
  await expect(matrix.getByRole('rowheader')).toHaveCount(10);
  await page.locator('.class-results').screenshot({ path: join(import.meta.dirname, '..', 'docs', 'screenshots', 'per-class.png') });
  await expectNoSeriousViolations(page);
  const { scroll, screen } = await page.evaluate(() => ({ scroll: document.documentElement.scrollHeight, screen: window.innerHeight }));
  expect(scroll).toBeLessThanOrEqual(2 * screen);
});
