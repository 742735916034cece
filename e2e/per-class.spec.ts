import { join } from 'node:path';
import { expect, test } from '@playwright/test';
import { openWorkbench, showView, waitIdle } from './helpers';

test('the plan shows per-class accuracy against dense and a confusion matrix that agree with the page hooks', async ({ page }) => {
  const opened = await openWorkbench(page);
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
  const { scroll, screen } = await page.evaluate(() => ({ scroll: document.documentElement.scrollHeight, screen: window.innerHeight }));
  expect(scroll).toBeLessThanOrEqual(2 * screen);
});
