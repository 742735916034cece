import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, test, type Page } from '@playwright/test';
import { DEMO, lopperState, openWorkbench, showView, waitIdle } from './helpers';

const ROOT = join(import.meta.dirname, '..');
const UNITS = ['conv1', 'conv2', 'dense1', 'dense2'];
const GRID = 11;

interface SweepFile {
  criterion: string;
  granularity: string;
  metric: string;
  sparsities: number[];
  layers: string[];
  values: (number | null)[][];
  dense: number;
  dataHash: string;
}

async function sweepStatus(page: Page): Promise<string | null> {
  return page.getByTestId('sweep-progress').getAttribute('data-status');
}

async function finishedSweep(page: Page): Promise<void> {
  await expect(page.getByTestId('sweep-progress')).not.toHaveAttribute('data-status', 'running', { timeout: 240_000 });
  await waitIdle(page);
}

test('a sweep can be cancelled midway and keeps its partial results', async ({ page }) => {
  const before = await openWorkbench(page);
  await showView(page, 'Sensitivity');
  await page.getByTestId('sweep-run').click();
  await expect(page.getByTestId('heatmap-cell').first()).toBeVisible();
  await page.getByTestId('sweep-cancel').click();
  await finishedSweep(page);
  expect(await sweepStatus(page)).toBe('cancelled');
  const filled = await page.getByTestId('heatmap-cell').count();
  expect(filled).toBeGreaterThan(0);
  expect(filled).toBeLessThan(UNITS.length * GRID);
  await expect(page.getByTestId('error-message')).toHaveCount(0);
  const after = await lopperState(page);
  expect(after.model?.name).toBe('digits-cnn');
  expect(after.workerTensors).toBe(before.workerTensors);
});

test('a full sweep fills the heatmap; clicking a cell puts that sparsity in the plan', async ({ page }) => {
  test.setTimeout(300_000);
  const before = await openWorkbench(page);
  await showView(page, 'Sensitivity');
  await page.getByTestId('sweep-run').click();
  await finishedSweep(page);
  expect(await sweepStatus(page)).toBe('done');
  await expect(page.getByTestId('heatmap-cell')).toHaveCount(UNITS.length * GRID);
  const cell = page.locator('[data-testid="heatmap-cell"][data-layer="dense1"][data-sparsity="0.5"]');
  const value = Number(await cell.getAttribute('data-value'));
  expect(value).toBeGreaterThan(0.5);
  await cell.click();
  expect((await lopperState(page)).plan.sparsity.dense1).toBe(0.5);
  await expect(page.locator('[data-testid="layer-row"][data-layer="dense1"] [data-testid="layer-plan"]')).toHaveText('50.0%');
  // Keyboard: focus a cell and press Enter.
  await page.locator('[data-testid="heatmap-cell"][data-layer="conv1"][data-sparsity="0.9"]').focus();
  await page.keyboard.press('Enter');
  expect((await lopperState(page)).plan.sparsity.conv1).toBe(0.9);
  const after = await lopperState(page);
  expect(after.workerTensors).toBe(before.workerTensors);
  await page.getByRole('button', { name: 'conv1', exact: true }).last().click();
  await page.getByRole('button', { name: 'dense1', exact: true }).last().click();
  await expect(page.getByTestId('sweep-curves').locator('g.lines path')).toHaveCount(2);
  await page.getByTestId('sweep-heatmap').scrollIntoViewIfNeeded();
  await page.screenshot({ path: join(ROOT, 'docs', 'screenshots', 'sweep-heatmap.png'), fullPage: true });

  // The page's JSON export uses the CLI's schema and numbers: compare with `lopper sweep` on the same inputs.
  const [download] = await Promise.all([page.waitForEvent('download'), page.getByTestId('sweep-export-json').click()]);
  const fromPage = JSON.parse(readFileSync(await download.path(), 'utf8')) as SweepFile;
  const out = join(mkdtempSync(join(tmpdir(), 'lopper-sweep-')), 'sweep.json');
  execFileSync(process.execPath, [join(ROOT, 'bin', 'lopper.js'), 'sweep', join(DEMO, 'model.json'), '--data', join(DEMO, 'eval.json'), '--out', out], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const fromCli = JSON.parse(readFileSync(out, 'utf8')) as SweepFile;
  for (const key of ['criterion', 'granularity', 'metric', 'sparsities', 'layers', 'dataHash'] as const) expect(fromPage[key], key).toEqual(fromCli[key]);
  expect(Math.abs(fromPage.dense - fromCli.dense)).toBeLessThanOrEqual(1e-6);
  fromCli.values.forEach((row, i) =>
    row.forEach((v, j) => {
      expect(fromPage.values[i][j], `${fromCli.layers[i]} @ ${fromCli.sparsities[j]}`).not.toBeNull();
      expect(Math.abs((fromPage.values[i][j] as number) - (v as number))).toBeLessThanOrEqual(1e-6);
    }),
  );
});

test('every criterion and granularity sweeps the demo model', async ({ page }) => {
  test.setTimeout(400_000);
  await openWorkbench(page);
  await showView(page, 'Sensitivity');
  const combos: [string, string][] = [
    ['wanda', '2:4'],
    ['sparsegpt', '4:8'],
    ['random', 'channels'],
    ['magnitude', 'channels'],
  ];
  for (const [criterion, granularity] of combos) {
    await page.getByLabel('Sweep criterion', { exact: true }).selectOption(criterion);
    await page.getByLabel('Sweep granularity', { exact: true }).selectOption(granularity);
    await page.getByTestId('sweep-run').click();
    await finishedSweep(page);
    expect(await sweepStatus(page), `${criterion} ${granularity}`).toBe('done');
    const columns = granularity === 'channels' ? GRID : 2;
    await expect(page.getByTestId('heatmap-cell')).toHaveCount(UNITS.length * columns);
    await expect(page.getByTestId('error-message')).toHaveCount(0);
  }
  await page.getByLabel('Sweep criterion', { exact: true }).selectOption('sparsegpt');
  await page.getByLabel('Sweep granularity', { exact: true }).selectOption('channels');
  await expect(page.getByTestId('sweep-run')).toBeDisabled();
});

test('a dropped functional model sweeps with Wanda; the heatmap exports as CSV, SVG and PNG', async ({ page }) => {
  test.setTimeout(300_000);
  await openWorkbench(page);
  await showView(page, 'Sensitivity');
  await page.getByTestId('folder-input').setInputFiles(join(import.meta.dirname, 'fixtures', 'functional'));
  const state = await waitIdle(page);
  expect(state.model?.name).toBe('functional');
  const units = state.model?.layers ?? [];
  expect(units.length).toBeGreaterThan(3);
  await page.getByLabel('Sweep criterion', { exact: true }).selectOption('wanda');
  await page.getByTestId('sweep-run').click();
  await finishedSweep(page);
  expect(await sweepStatus(page)).toBe('done');
  await expect(page.getByTestId('error-message')).toHaveCount(0);
  const cells = await page.getByTestId('heatmap-cell').count();
  expect(cells).toBe(units.length * GRID);

  const [csv] = await Promise.all([page.waitForEvent('download'), page.getByTestId('sweep-export-csv').click()]);
  const lines = readFileSync(await csv.path(), 'utf8')
    .trim()
    .split('\n');
  expect(lines).toHaveLength(units.length + 1);
  expect(lines[0].startsWith('layer,0,0.1')).toBe(true);
  const [svg] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'SVG', exact: true }).click()]);
  const markup = readFileSync(await svg.path(), 'utf8');
  expect(markup).toContain('<svg');
  expect(markup.match(/data-testid="heatmap-cell"/g)?.length).toBe(cells);
  const [png] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'PNG', exact: true }).click()]);
  const bytes = readFileSync(await png.path());
  expect(bytes.subarray(1, 4).toString('latin1')).toBe('PNG');
});

test('the demo LM sweeps its projections with the loss on its text', async ({ page }) => {
  test.setTimeout(300_000);
  await openWorkbench(page);
  await showView(page, 'Sensitivity');
  await page.getByTestId('model-picker').selectOption('char-lm');
  const state = await waitIdle(page, (s) => s.model?.name === 'char-lm');
  const units = state.model?.layers ?? [];
  expect(units).toContain('model.layers.0.self_attn.q_proj');
  await page.getByLabel('Sweep sparsities', { exact: true }).fill('0, 0.5');
  await page.getByTestId('sweep-run').click();
  await finishedSweep(page);
  expect(await sweepStatus(page)).toBe('done');
  // The heatmap draws the rows in view: every drawn row has both cells.
  const heatmap = page.getByTestId('sweep-heatmap');
  await expect(heatmap.locator('svg')).toHaveAttribute('data-rows', String(units.length));
  const drawn = await heatmap.locator('g.row').count();
  expect(drawn).toBeGreaterThan(6);
  await expect(page.getByTestId('heatmap-cell')).toHaveCount(drawn * 2);
  const dense = Number(await page.locator('[data-testid="heatmap-cell"][data-sparsity="0"]').first().getAttribute('data-value'));
  const pruned = Number(await page.locator('[data-testid="heatmap-cell"][data-layer="model.layers.0.mlp.down_proj"][data-sparsity="0.5"]').getAttribute('data-value'));
  expect(pruned).toBeGreaterThan(dense);
});

test("a layer's weight statistics answer while a sweep runs, without waiting for it", async ({ page }) => {
  test.setTimeout(240_000);
  await openWorkbench(page);
  await showView(page, 'Sensitivity');
  await page.getByLabel('Sweep criterion', { exact: true }).selectOption('sparsegpt');
  await page.getByTestId('sweep-run').click();
  await expect(page.getByTestId('sweep-progress')).toHaveAttribute('data-status', 'running');
  await showView(page, 'Layers');
  await page.locator('[data-testid="layer-row"][data-layer="dense1"]').click();
  await expect(page.getByTestId('weight-stats')).toBeVisible();
  // The statistics came while the sweep was still running: inspection is not queued behind it.
  expect(await sweepStatus(page)).toBe('running');
  await showView(page, 'Sensitivity');
  await page.getByTestId('sweep-cancel').click();
  await finishedSweep(page);
});
