import { join } from 'node:path';
import { expect, test, type Page } from '@playwright/test';
import { FIXTURES, dropFiles, lopperState, openWorkbench, readFixture, showView, waitIdle, type PageState } from './helpers';
import { dropDigits, setRange } from './session-helpers';

/** The session is kept in the browser (IndexedDB) as it changes; a reload restores it, "New session" clears it. */

/** Waits until every change so far is written. */
async function saved(page: Page): Promise<void> {
  await expect(page.getByTestId('session-status')).toHaveAttribute('data-state', 'saved');
}

/** After a reload: the saved session is back once the page is idle with `predicate` true. */
async function reloadAndRestore(page: Page, predicate: (s: PageState) => boolean): Promise<PageState> {
  await page.reload();
  return waitIdle(page, (s) => s.model !== null && predicate(s));
}

test('a reload mid-plan restores the dropped dataset, the plan and its history, a snapshot and a cancelled sweep', async ({ page }) => {
  test.setTimeout(300_000);
  await openWorkbench(page);
  await dropDigits(page, 500);
  await setRange(page, 'global-sparsity', 0.5);
  const half = await waitIdle(page, (s) => s.plan.target === 0.5 && (s.sparsity ?? 0) > 0.45);
  await showView(page, 'Plan');
  await page.getByPlaceholder('name').fill('half');
  await page.getByTestId('snapshot-save').click();
  await showView(page, 'Sensitivity');
  await page.getByTestId('sweep-run').click();
  await expect(page.getByTestId('heatmap-cell').nth(1)).toBeAttached();
  await page.getByTestId('sweep-cancel').click();
  await expect(page.getByTestId('sweep-progress')).toHaveAttribute('data-status', 'cancelled');
  await waitIdle(page);
  const cells = await page.getByTestId('heatmap-cell').count();

  await setRange(page, 'global-sparsity', 0.7);
  await saved(page);
  const restored = await reloadAndRestore(page, (s) => s.plan.target === 0.7 && (s.sparsity ?? 0) > 0.65);
  expect(restored.model?.name).toBe('digits-cnn');
  expect(restored.evaluation?.samples).toBe(500);
  expect(restored.evaluation?.accuracy).not.toBe(half.evaluation?.accuracy);
  await showView(page, 'Sensitivity');
  await expect(page.getByTestId('sweep-progress')).toHaveAttribute('data-status', 'cancelled');
  await expect(page.getByTestId('heatmap-cell')).toHaveCount(cells);
  await showView(page, 'Plan');
  await expect(page.getByTestId('snapshot-table')).toContainText('half');
  await page.getByTestId('plan-undo').click();
  const undone = await waitIdle(page, (s) => s.plan.target === 0.5);
  expect(undone.plan.sparsity).toEqual(half.plan.sparsity);
  expect(undone.evaluation?.accuracy).toBe(half.evaluation?.accuracy);
  await expect(page.getByTestId('error-message')).toHaveCount(0);
});

test('a dropped model is kept in the browser: a reload opens its files again with the plan', async ({ page }) => {
  test.setTimeout(240_000);
  await openWorkbench(page);
  await dropFiles(page, readFixture(join(FIXTURES, 'two-shards')));
  const opened = await waitIdle(page, (s) => s.model?.name === 'two_shards');
  await setRange(page, 'global-sparsity', 0.4);
  const planned = await waitIdle(page, (s) => s.plan.target === 0.4 && (s.sparsity ?? 0) > 0.35);
  await saved(page);
  const restored = await reloadAndRestore(page, (s) => s.plan.target === 0.4);
  expect(restored.model).toEqual(opened.model);
  expect(restored.plan).toEqual(planned.plan);
  expect(restored.evaluation).toEqual(planned.evaluation);
  await expect(page.getByTestId('model-picker')).toHaveValue('');
});

test('"New session" clears the saved session only when confirmed, and opens the demo afresh', async ({ page }) => {
  test.setTimeout(240_000);
  const dense = await openWorkbench(page);
  await setRange(page, 'global-sparsity', 0.6);
  await waitIdle(page, (s) => s.plan.target === 0.6 && (s.sparsity ?? 0) > 0.55);
  await showView(page, 'Plan');
  await page.getByPlaceholder('name').fill('sixty');
  await page.getByTestId('snapshot-save').click();
  await saved(page);
  await page.getByTestId('new-session').click();
  await page.getByRole('button', { name: 'Keep it' }).click();
  expect((await lopperState(page)).plan.target).toBe(0.6);
  await page.getByTestId('new-session').click();
  await page.getByTestId('new-session-confirm').click();
  const fresh = await waitIdle(page, (s) => s.plan.target === 0 && s.model?.name === 'digits-cnn');
  expect(fresh.evaluation).toEqual(dense.evaluation);
  await expect(page.getByTestId('snapshot-table')).toHaveCount(0);
  await saved(page);
  const reloaded = await reloadAndRestore(page, (s) => s.evaluation !== null);
  expect(reloaded.plan.target).toBe(0);
  expect(reloaded.evaluation).toEqual(dense.evaluation);
});

test('a full storage quota is reported, not fatal: the page works on, and saves again once the writes fit', async ({ page }) => {
  test.setTimeout(240_000);
  await page.addInitScript(() => {
    const flag = window as unknown as { __lopperStorageFull: boolean };
    flag.__lopperStorageFull = true;
    const put = IDBObjectStore.prototype.put;
    IDBObjectStore.prototype.put = function (this: IDBObjectStore, ...args: Parameters<IDBObjectStore['put']>): IDBRequest<IDBValidKey> {
      if (flag.__lopperStorageFull) throw new DOMException('The quota has been exceeded.', 'QuotaExceededError');
      return put.apply(this, args);
    };
  });
  await openWorkbench(page);
  await expect(page.getByTestId('session-status')).toHaveAttribute('data-state', 'error');
  await expect(page.getByTestId('session-error')).toContainText("the browser's storage for this page is full");
  await expect(page.getByTestId('session-error')).toContainText('The quota has been exceeded.');
  await setRange(page, 'global-sparsity', 0.5);
  const planned = await waitIdle(page, (s) => s.plan.target === 0.5 && (s.sparsity ?? 0) > 0.45);
  expect(planned.error).toBeNull();
  await expect(page.getByTestId('error-message')).toHaveCount(0);
  await showView(page, 'Plan');
  await page.getByPlaceholder('name').fill('half');
  await page.getByTestId('snapshot-save').click();
  await expect(page.getByTestId('snapshot-table')).toContainText('half');
  await expect(page.getByTestId('session-status')).toHaveAttribute('data-state', 'error');

  await page.evaluate(() => {
    (window as unknown as { __lopperStorageFull: boolean }).__lopperStorageFull = false;
  });
  await setRange(page, 'global-sparsity', 0.6);
  const later = await waitIdle(page, (s) => s.plan.target === 0.6 && (s.sparsity ?? 0) > 0.55);
  await saved(page);
  await expect(page.getByTestId('session-error')).toHaveCount(0);
  const restored = await reloadAndRestore(page, (s) => s.plan.target === 0.6);
  expect(restored.plan).toEqual(later.plan);
  await expect(page.getByTestId('snapshot-table')).toContainText('half');
});
