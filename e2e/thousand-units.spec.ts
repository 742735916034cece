import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import AxeBuilder from '@axe-core/playwright';
import { expect, test, type Page } from '@playwright/test';
import { openWorkbench, showView, waitIdle } from './helpers';
import { writeManyUnitLlama } from './many-units';

/** 143 LLaMA blocks of 7 projections: 1,001 units. */
const BLOCKS = 143;
const SPARSITIES = [0, 0.5];

const focused = (page: Page, name: string) => page.evaluate((attribute) => document.activeElement?.getAttribute(attribute) ?? null, name);

async function expectBoundedHeight(page: Page): Promise<void> {
  const { scroll, screen } = await page.evaluate(() => ({ scroll: document.documentElement.scrollHeight, screen: window.innerHeight }));
  expect(scroll, `page height ${scroll} px against a ${screen} px screen`).toBeLessThanOrEqual(2 * screen);
}

async function expectNoSeriousViolations(page: Page): Promise<void> {
  const results = await new AxeBuilder({ page }).analyze();
  const serious = results.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  expect(serious.map((v) => `${v.id}: ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`)).toEqual([]);
}

test.describe('a model with 1,001 units', () => {
  let units: string[] = [];
  let dir = '';
  let sweepFile = '';
  test.beforeAll(() => {
    const root = mkdtempSync(join(tmpdir(), 'lopper-thousand-'));
    dir = join(root, 'llama-thousand');
    units = writeManyUnitLlama(dir, BLOCKS);
    // A saved sweep as `lopper sweep` writes it: dense in the first column, a made-up damage in the second.
    const values = units.map((_, i) => [2.5, 2.5 + ((i * 37) % 101) / 100]);
    sweepFile = join(root, 'sweep.json');
    writeFileSync(
      sweepFile,
      JSON.stringify({
        criterion: 'magnitude',
        granularity: 'unstructured',
        metric: 'loss',
        sparsities: SPARSITIES,
        layers: units,
        values,
        dense: 2.5,
        dataHash: 'synthetic:0:10',
        backend: 'wasm',
        seconds: 1,
      }),
    );
  });

  test('the heatmap and the layer table draw a window of rows, reach the last unit, move with the arrow keys; the layer table folds its blocks', async ({ page }) => {
    test.setTimeout(180_000);
    await openWorkbench(page);
    await page.getByTestId('folder-input').setInputFiles(dir);
    const opened = await waitIdle(page, (s) => s.model?.name === 'llama-thousand');
    expect(opened.error).toBeNull();
    expect(opened.model?.layers).toHaveLength(1001);

    await showView(page, 'Sensitivity');
    await page.getByTestId('sweep-open').setInputFiles(sweepFile);
    await expect(page.getByTestId('sweep-progress')).toHaveAttribute('data-status', 'done');
    const host = page.getByTestId('sweep-heatmap');
    await expect(host.locator('svg')).toHaveAttribute('data-rows', '1001');
    const drawnRows = () => host.locator('g.row').count();
    const cells = page.getByTestId('heatmap-cell');
    await expect(cells.first()).toBeAttached();
    expect(await drawnRows()).toBeGreaterThan(5);
    expect(await drawnRows()).toBeLessThan(80);
    expect(await cells.count()).toBeLessThan(160);
    await expectBoundedHeight(page);

    // Scrolling to the end draws the last unit's row, still only a window of rows; the header band follows.
    const last = units[units.length - 1];
    await host.evaluate((el) => {
      el.scrollTop = el.scrollHeight;
    });
    await expect(page.locator(`[data-testid="heatmap-cell"][data-layer="${last}"][data-sparsity="0.5"]`)).toBeAttached();
    expect(await drawnRows()).toBeLessThan(80);
    await expect
      .poll(() => host.evaluate((el) => Math.abs((el.querySelector('.sticky-top')?.getBoundingClientRect().top ?? -1e6) - el.getBoundingClientRect().top)))
      .toBeLessThan(2);
    await expectBoundedHeight(page);

    // One Tab stop; arrow keys move the roving focus, also to rows that were not drawn.
    expect(await cells.evaluateAll((all) => all.filter((c) => c.getAttribute('tabindex') === '0').length)).toBe(1);
    await page.locator(`[data-testid="heatmap-cell"][data-layer="${last}"][data-sparsity="0"]`).focus();
    await page.keyboard.press('ArrowUp');
    expect(await focused(page, 'data-layer')).toBe(units[units.length - 2]);
    await page.keyboard.press('ArrowRight');
    expect(await focused(page, 'data-sparsity')).toBe('0.5');
    await page.keyboard.press('Control+Home');
    expect(await focused(page, 'data-layer')).toBe(units[0]);
    await page.keyboard.press('ArrowRight');
    await page.keyboard.press('PageDown');
    expect(await focused(page, 'data-layer')).toBe(units[10]);
    expect(await focused(page, 'data-sparsity')).toBe('0.5');
    expect(await drawnRows()).toBeLessThan(80);
    await page.keyboard.press('Enter');
    const state = await waitIdle(page, (s) => s.plan.sparsity[units[10]] === 0.5);
    expect(state.plan.locked).toEqual([units[10]]);
    await expect(page.getByTestId('heatmap-pins').locator(`.pin[data-layer="${units[10]}"]`)).toBeVisible();
    await expectNoSeriousViolations(page);
    expect(await cells.evaluateAll((all) => all.filter((c) => c.getAttribute('tabindex') === '0').length)).toBe(1);

    // The layer table: one foldable group per block, only the rows in view drawn, the last block reachable.
    await showView(page, 'Layers');
    const table = page.getByTestId('layer-table');
    await expect(table).toHaveAttribute('aria-rowcount', String(BLOCKS * 8 + 1));
    const groups = page.getByTestId('layer-group');
    await expect(groups.first()).toHaveAttribute('data-group', 'model.layers.0');
    expect(await page.getByTestId('layer-row').count()).toBeLessThan(80);
    expect(await groups.count()).toBeLessThan(20);
    await expectBoundedHeight(page);
    await page.locator('.layers .table-scroll').evaluate((el) => {
      el.scrollTop = el.scrollHeight;
    });
    await expect(page.locator(`[data-testid="layer-row"][data-layer="${last}"]`)).toBeAttached();
    await expect(page.locator('[data-testid="layer-group"][data-group="model.layers.142"]')).toBeAttached();
    expect(await page.getByTestId('layer-row').count()).toBeLessThan(80);

    // Folding a group hides its layers; the search keeps one block; ↓ moves from the group into its layers.
    await page.getByTestId('unit-search').fill('layers.142.');
    await expect(page.getByTestId('layer-row')).toHaveCount(7);
    const toggle = page.locator('[data-testid="layer-group"][data-group="model.layers.142"] button[aria-expanded]');
    await toggle.click();
    await expect(toggle).toHaveAttribute('aria-expanded', 'false');
    await expect(page.getByTestId('layer-row')).toHaveCount(0);
    await page.keyboard.press('ArrowRight');
    await expect(page.getByTestId('layer-row')).toHaveCount(7);
    await page.keyboard.press('ArrowDown');
    await expect(page.getByRole('button', { name: units[units.length - 7], exact: true })).toBeFocused();
    await page.keyboard.press('Enter');
    await expect(page.locator('#detail-title')).toContainText(units[units.length - 7]);
    await expectNoSeriousViolations(page);
    await page.getByTestId('unit-search').fill('');
    await expectBoundedHeight(page);
  });
});
