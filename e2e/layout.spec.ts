import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import AxeBuilder from '@axe-core/playwright';
import { expect, test, type Page } from '@playwright/test';
import { lopperState, openWorkbench, showView, waitIdle, type ViewTitle } from './helpers';
import { writeManyUnitLlama } from './many-units';

const SCREENSHOTS = join(import.meta.dirname, '..', 'docs', 'screenshots');
const VIEWS: ViewTitle[] = ['Layers', 'Structure', 'Sensitivity', 'Removal', 'Plan', 'Export'];
const BLOCKS = 30;

/** Every view keeps the page within two screens. */
async function expectBoundedHeight(page: Page): Promise<void> {
  for (const view of VIEWS) {
    await showView(page, view);
    const { scroll, screen } = await page.evaluate(() => ({ scroll: document.documentElement.scrollHeight, screen: window.innerHeight }));
    expect(scroll, `${view}: page height ${scroll} px against a ${screen} px screen`).toBeLessThanOrEqual(2 * screen);
  }
}

async function expectNoSeriousViolations(page: Page): Promise<void> {
  const results = await new AxeBuilder({ page }).analyze();
  const serious = results.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  expect(serious.map((v) => `${v.id}: ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`)).toEqual([]);
}

const focusedAttribute = (page: Page, name: string) => page.evaluate((attribute) => document.activeElement?.getAttribute(attribute) ?? null, name);

test.describe('a model with 210 units', () => {
  let units: string[] = [];
  let dir = '';
  test.beforeAll(() => {
    dir = join(mkdtempSync(join(tmpdir(), 'lopper-many-')), 'llama-many');
    units = writeManyUnitLlama(dir, BLOCKS);
  });

  test('stays within two screens, finds units, sets a group, draws every unit, and passes axe', async ({ page }) => {
    test.setTimeout(120_000);
    await openWorkbench(page);
    await page.getByTestId('folder-input').setInputFiles(dir);
    const opened = await waitIdle(page, (s) => s.model?.name === 'llama-many');
    expect(opened.error).toBeNull();
    expect(opened.model?.layers).toEqual(units);
    expect(units.length).toBeGreaterThanOrEqual(200);
    await expectBoundedHeight(page);

    // The structure view: one node per unit; a click selects that layer.
    await showView(page, 'Structure');
    const nodes = page.getByTestId('structure-node');
    await expect(nodes).toHaveCount(units.length);
    expect(new Set(await nodes.evaluateAll((all) => all.map((n) => n.getAttribute('data-layer'))))).toEqual(new Set(units));
    await page.screenshot({ path: join(SCREENSHOTS, 'many-units-structure.png') });
    await expectNoSeriousViolations(page);
    const picked = 'model.layers.17.mlp.up_proj';
    await page.locator(`[data-testid="structure-node"][data-layer="${picked}"]`).click();
    await expect(page.locator(`[data-testid="structure-node"][data-layer="${picked}"]`)).toHaveAttribute('aria-pressed', 'true');
    await showView(page, 'Layers');
    await expect(page.locator('#detail-title')).toContainText(picked);

    // The search filters the units every view lists.
    await showView(page, 'Plan');
    await page.getByTestId('unit-search').fill('layers.7.');
    await expect(page.getByTestId('layer-sparsity')).toHaveCount(7);
    expect(await page.getByTestId('layer-sparsity').evaluateAll((all) => all.map((n) => n.getAttribute('data-layer')))).toEqual(
      units.filter((u) => u.startsWith('model.layers.7.')),
    );
    await showView(page, 'Layers');
    await expect(page.getByTestId('layer-row')).toHaveCount(7);
    await page.getByTestId('unit-search').fill('');

    // One slider sets every mlp.down_proj at once.
    await showView(page, 'Plan');
    await page.getByLabel('Group by').selectOption('role');
    await page.getByTestId('unit-search').fill('down_proj');
    await page.locator('[data-testid="group-sparsity"][data-group="mlp.down_proj"]').fill('0.4');
    const state = await waitIdle(page, (s) => s.plan.sparsity['model.layers.0.mlp.down_proj'] === 0.4);
    const downs = units.filter((u) => u.endsWith('mlp.down_proj'));
    expect(downs).toHaveLength(BLOCKS);
    for (const unit of downs) expect(state.plan.sparsity[unit], unit).toBe(0.4);
    expect(state.plan.locked.sort()).toEqual([...downs].sort());
    expect(state.plan.sparsity['model.layers.0.mlp.up_proj']).toBe(0);
    // Data-free, the plan's live metric is the divergence from the dense outputs.
    expect(state.evaluation?.divergence).toBeGreaterThan(0);
    await expect(page.getByTestId('plan-metric')).toHaveAttribute('data-value', String(state.evaluation?.divergence));
    await page.screenshot({ path: join(SCREENSHOTS, 'many-units-plan.png') });
    await expect(page.getByTestId('pinned-note')).toContainText(`${BLOCKS} pinned`);
    await page.getByTestId('unit-search').fill('');
    await expectBoundedHeight(page);
    await showView(page, 'Plan');
    await expectNoSeriousViolations(page);
  });
});

test('the demo: bounded views, a structure view that selects, arrow keys in tabs, tables and the heatmap, and axe', async ({ page }) => {
  test.setTimeout(120_000);
  const opened = await openWorkbench(page);
  await expectBoundedHeight(page);

  // Tabs: one Tab stop, arrow keys move.
  await page.getByRole('tab', { name: 'Layers', exact: true }).click();
  await page.keyboard.press('ArrowRight');
  await expect(page.getByRole('tab', { name: 'Structure', exact: true })).toHaveAttribute('aria-selected', 'true');
  await expect(page.getByRole('tab', { name: 'Structure', exact: true })).toBeFocused();
  await expect(page.getByTestId('structure-node')).toHaveCount(opened.model?.layers.length ?? 0);
  await page.locator('[data-testid="structure-node"][data-layer="conv2"]').click();
  await showView(page, 'Layers');
  await expect(page.locator('#detail-title')).toContainText('conv2');

  // The layer table is one Tab stop; the arrow keys move along its rows.
  const rowButtons = page.getByTestId('layer-table').locator('tbody button');
  expect(await rowButtons.evaluateAll((all) => all.filter((b) => b.getAttribute('tabindex') === '0').length)).toBe(1);
  await page.getByRole('button', { name: 'conv1', exact: true }).focus();
  await page.keyboard.press('ArrowDown');
  await expect(page.getByRole('button', { name: 'pool1', exact: true })).toBeFocused();

  // The unit table too: ↑/↓ move between a group's row and its units' sliders, ← folds a group.
  await showView(page, 'Plan');
  const toggle = page.locator('[data-testid="unit-group"][data-group="conv"] button[aria-expanded]');
  await toggle.focus();
  await page.keyboard.press('ArrowDown');
  expect(await focusedAttribute(page, 'data-layer')).toBe('conv1');
  await page.keyboard.press('ArrowUp');
  await expect(toggle).toBeFocused();
  await page.keyboard.press('ArrowLeft');
  await expect(toggle).toHaveAttribute('aria-expanded', 'false');
  await expect(page.locator('[data-testid="layer-sparsity"][data-layer="conv1"]')).toHaveCount(0);
  await page.keyboard.press('ArrowRight');
  await expect(page.locator('[data-testid="layer-sparsity"][data-layer="conv1"]')).toHaveCount(1);

  // The heatmap: one Tab stop, arrow keys between cells, Enter pins the unit and shows it can be released.
  await showView(page, 'Sensitivity');
  await page.getByTestId('sweep-run').click();
  await expect(page.getByTestId('sweep-progress')).toHaveAttribute('data-status', 'done', { timeout: 90_000 });
  await waitIdle(page);
  const cells = page.getByTestId('heatmap-cell');
  await expect(cells).toHaveCount(4 * 11);

  // On a small screen the heatmap scrolls both ways; its header band and row labels stay in view.
  await page.setViewportSize({ width: 900, height: 520 });
  const host = page.getByTestId('sweep-heatmap');
  await host.evaluate((el) => {
    el.scrollTop = el.scrollHeight;
    el.scrollLeft = el.scrollWidth;
  });
  const offsets = () =>
    host.evaluate((el) => {
      const box = el.getBoundingClientRect();
      const scrolled = el.scrollTop > 0 && el.scrollLeft > 0;
      const top = el.querySelector('.sticky-top')?.getBoundingClientRect().top ?? -1e6;
      const left = el.querySelector('.sticky-left')?.getBoundingClientRect().left ?? -1e6;
      return scrolled ? Math.max(Math.abs(top - box.top), Math.abs(left - box.left)) : Infinity;
    });
  await expect.poll(offsets).toBeLessThan(2);
  await page.setViewportSize({ width: 1360, height: 900 });
  expect(await cells.evaluateAll((all) => all.filter((c) => c.getAttribute('tabindex') === '0').length)).toBe(1);
  await page.locator('[data-testid="heatmap-cell"][data-layer="conv1"][data-sparsity="0"]').focus();
  await page.keyboard.press('ArrowRight');
  expect(await focusedAttribute(page, 'data-sparsity')).toBe('0.1');
  await page.keyboard.press('End');
  expect(await focusedAttribute(page, 'data-sparsity')).toBe('0.95');
  await page.keyboard.press('Home');
  await page.keyboard.press('ArrowRight');
  await page.keyboard.press('ArrowDown');
  expect(await focusedAttribute(page, 'data-layer')).toBe('conv2');
  await page.keyboard.press('Enter');
  let state = await waitIdle(page, (s) => s.plan.sparsity.conv2 === 0.1);
  expect(state.plan.locked).toEqual(['conv2']);
  const pin = page.getByTestId('heatmap-pins').locator('.pin[data-layer="conv2"]');
  await expect(pin).toContainText('10.0%');
  await expectNoSeriousViolations(page);
  await page.locator('[data-testid="pin-release"][data-layer="conv2"]').click();
  state = await waitIdle(page, (s) => s.plan.locked.length === 0);
  await expect(page.getByTestId('heatmap-pins')).toHaveCount(0);

  // The heatmap's SVG stands alone: a title, axis titles, the legend, an opaque background.
  const [svg] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'SVG', exact: true }).click()]);
  const markup = readFileSync(await svg.path(), 'utf8');
  expect(markup).toMatch(/^<svg[^>]*><rect width="[\d.]+" height="[\d.]+" fill="[^"]+"/);
  expect(markup).toContain('Sensitivity of each unit');
  expect(markup).toContain('sparsity (magnitude, unstructured) →');
  expect(markup).toContain('no change (dense');
  await page.screenshot({ path: join(SCREENSHOTS, 'layout-sensitivity.png') });
  expect((await lopperState(page)).error).toBeNull();
});

test('a drag of the target is one undo step; data-free mode shows the divergence as the live metric', async ({ page }) => {
  await openWorkbench(page);
  const slider = page.getByTestId('global-sparsity');
  const box = await slider.boundingBox();
  if (!box) throw new Error('the target slider is not drawn');
  await page.mouse.move(box.x + 2, box.y + box.height / 2);
  await page.mouse.down();
  for (const share of [0.2, 0.35, 0.5, 0.65]) await page.mouse.move(box.x + box.width * share, box.y + box.height / 2);
  await page.mouse.up();
  const dragged = await waitIdle(page, (s) => s.plan.target > 0.5);
  await page.getByTestId('plan-undo').click();
  await waitIdle(page, (s) => s.plan.target === 0);
  await expect(page.getByTestId('plan-undo')).toBeDisabled();
  await page.getByTestId('plan-redo').click();
  await waitIdle(page, (s) => s.plan.target === dragged.plan.target);

  await page.getByTestId('use-synthetic-data').click();
  const synthetic = await waitIdle(page, (s) => s.evaluation?.divergence !== undefined && s.evaluation.accuracy === undefined);
  await expect(page.getByTestId('data-source')).toContainText('synthetic');
  await expect(page.getByTestId('use-synthetic-data')).toBeDisabled();
  await page.getByTestId('global-sparsity').fill('0.8');
  const planned = await waitIdle(page, (s) => s.plan.target === 0.8 && (s.evaluation?.divergence ?? 0) > 0);
  expect(planned.evaluation?.divergence).not.toBe(synthetic.evaluation?.divergence);
  await expect(page.getByTestId('plan-metric')).toHaveAttribute('data-value', String(planned.evaluation?.divergence));
  await expect(page.getByTestId('plan-summary')).toContainText('JS divergence vs dense');
});

test('a language model: the data picker takes .txt, hints speak of perplexity, the sweep metric shows loss', async ({ page }) => {
  await openWorkbench(page);
  await page.getByTestId('model-picker').selectOption('char-lm');
  await waitIdle(page, (s) => s.model?.name === 'char-lm');
  expect(await page.getByTestId('dataset-input').getAttribute('accept')).toContain('.txt');
  await expect(page.getByTestId('plan-summary')).toContainText('Perplexity');
  await showView(page, 'Sensitivity');
  await expect(page.getByLabel('Sweep metric', { exact: true })).toHaveValue('loss');
  await expect(page.getByLabel('Sweep metric', { exact: true }).locator('option[value="accuracy"]')).toBeDisabled();
  await expect(page.getByTestId('sweep-run').locator('..')).toContainText('perplexity');
});
