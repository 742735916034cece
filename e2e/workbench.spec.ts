import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import AxeBuilder from '@axe-core/playwright';
import { expect, test } from '@playwright/test';
import { DEMO, FIXTURES, dropFiles, lopperState, openWorkbench, readFixture, waitIdle } from './helpers';
import { dropDigits } from './session-helpers';

const SCREENSHOTS = join(import.meta.dirname, '..', 'docs', 'screenshots');

function layerCount(modelJsonPath: string): number {
  const json = JSON.parse(readFileSync(modelJsonPath, 'utf8')) as { modelTopology: { config?: { layers: unknown[] }; model_config?: { config: { layers: unknown[] } } } };
  const config = json.modelTopology.config ?? json.modelTopology.model_config?.config;
  if (!config) throw new Error(`${modelJsonPath}: no layers`);
  return config.layers.filter((l) => (l as { class_name: string }).class_name !== 'InputLayer').length;
}

test('a fresh page opens the demo CNN with its held-out accuracy on WASM with threads', async ({ page }) => {
  const state = await openWorkbench(page);
  expect(state.model?.format).toBe('layers-model');
  expect(state.model?.layers).toEqual(['conv1', 'conv2', 'dense1', 'dense2']);
  expect(state.evaluation?.samples).toBe(2000);
  const reference = JSON.parse(readFileSync(join(DEMO, 'reference.json'), 'utf8')) as { accuracy: number };
  const accuracy = Number(await page.getByTestId('eval-accuracy').getAttribute('data-value'));
  expect(accuracy).toBeGreaterThanOrEqual(0.97);
  expect(Math.abs(accuracy - reference.accuracy)).toBeLessThanOrEqual(1 / 2000);
  await expect(page.getByTestId('layer-row')).toHaveCount(7);
  await expect(page.getByTestId('eval-loss')).toBeVisible();
  // The browser runs with --enable-unsafe-webgpu, whose adapter is SwiftShader: it must not win over WASM.
  expect(state.backend).toBe('wasm');
  expect(state.crossOriginIsolated).toBe(true);
  expect(state.wasmThreads).toBeGreaterThan(1);
  await expect(page.getByTestId('backend-badge')).toHaveAttribute('title', /software|unavailable/i);
  await page.screenshot({ path: join(SCREENSHOTS, 'demo-open.png') });
});

test('selecting a layer by keyboard shows its weight histogram and statistics', async ({ page }) => {
  await openWorkbench(page);
  const button = page.getByRole('button', { name: 'conv2', exact: true });
  await button.focus();
  await page.keyboard.press('Enter');
  await expect(page.getByTestId('weight-histogram').locator('svg rect')).toHaveCount(40);
  await expect(page.getByTestId('weight-stats')).toContainText('4608');
  await page.screenshot({ path: join(SCREENSHOTS, 'layer-histogram.png') });
});

test('dropping model.json with two shards opens that model and shows its layers', async ({ page }) => {
  await openWorkbench(page);
  await dropFiles(page, readFixture(join(FIXTURES, 'two-shards')));
  const state = await waitIdle(page);
  expect(state.error).toBeNull();
  expect(state.model?.name).toBe('two_shards');
  await expect(page.getByTestId('layer-row')).toHaveCount(layerCount(join(FIXTURES, 'two-shards', 'model.json')));
});

test('a zip drop and a folder pick both open the model inside', async ({ page }) => {
  await openWorkbench(page);
  await dropFiles(page, readFixture(join(FIXTURES, 'two-shards.zip')));
  let state = await waitIdle(page);
  expect(state.error).toBeNull();
  expect(state.model?.name).toBe('two-shards');
  await expect(page.getByTestId('layer-row')).toHaveCount(layerCount(join(FIXTURES, 'two-shards', 'model.json')));

  await page.getByTestId('folder-input').setInputFiles(join(FIXTURES, 'functional'));
  state = await waitIdle(page);
  expect(state.error).toBeNull();
  expect(state.model?.name).toBe('functional');
  await expect(page.getByTestId('layer-row')).toHaveCount(layerCount(join(FIXTURES, 'functional', 'model.json')));
  // The folder holds eval.json too: the model is evaluated on it.
  expect(state.evaluation?.accuracy).toBeDefined();
  await page.screenshot({ path: join(SCREENSHOTS, 'functional-model.png') });
});

test('a model with a missing shard shows a specific error and the demo stays open and usable', async ({ page }) => {
  await openWorkbench(page);
  await dropFiles(page, readFixture(join(FIXTURES, 'missing-shard')));
  await expect(page.getByTestId('error-message')).toContainText(/shard2of2|missing|no such file/i);
  const state = await waitIdle(page);
  expect(state.model?.name).toBe('digits-cnn');
  await expect(page.getByTestId('layer-row')).toHaveCount(7);
  expect(Number(await page.getByTestId('eval-accuracy').getAttribute('data-value'))).toBeGreaterThanOrEqual(0.97);
  await page.screenshot({ path: join(SCREENSHOTS, 'error-missing-shard.png') });
  await page.getByTestId('layer-row').filter({ hasText: 'dense1' }).click();
  await expect(page.getByTestId('weight-histogram').locator('svg')).toBeVisible();
});

test('quantized and legacy exports load; an unknown layer class is named in the error', async ({ page }) => {
  await openWorkbench(page);
  for (const fixture of ['quantized-uint8', 'quantized-uint16', 'quantized-float16', 'legacy']) {
    await dropFiles(page, readFixture(join(FIXTURES, fixture)));
    const state = await waitIdle(page);
    expect(state.error, fixture).toBeNull();
    expect(state.model?.name, fixture).toBe(fixture.startsWith('quantized') ? 'qnet' : 'mlp');
    await expect(page.getByTestId('layer-row').first()).toBeVisible();
    await page.getByTestId('model-picker').selectOption('digits-cnn');
    expect((await waitIdle(page)).model?.name).toBe('digits-cnn');
  }
  await dropFiles(page, readFixture(join(FIXTURES, 'unknown-layer')));
  await expect(page.getByTestId('error-message')).toContainText('FancyAttention');
  expect((await waitIdle(page)).model?.name).toBe('digits-cnn');
});

test('an evaluation set for a dropped model gives accuracy; data-free mode shows the model runs', async ({ page }) => {
  await openWorkbench(page);
  await dropFiles(page, readFixture(join(FIXTURES, 'two-shards')));
  let state = await waitIdle(page);
  expect(state.model?.name).toBe('two_shards');
  expect(state.evaluation?.accuracy).toBeUndefined();
  expect(state.evaluation?.divergence).toBe(0);
  await expect(page.getByTestId('eval-latency')).toBeVisible();
  await expect(page.getByTestId('data-source')).toContainText('synthetic');
  await page.getByTestId('dataset-input').setInputFiles(join(DEMO, 'eval.json'));
  state = await waitIdle(page, (s) => s.evaluation?.accuracy !== undefined);
  expect(state.evaluation?.samples).toBe(2000);
  await expect(page.getByTestId('eval-accuracy')).toBeVisible();
  await expect(page.getByTestId('eval-loss')).toBeVisible();
});

test('WebGPU reproduces the WASM outputs of 32 demo digits', async ({ page }) => {
  test.setTimeout(300_000);
  await openWorkbench(page);
  // The backend switch measures the current data again: 32 digits, not the demo's 2,000, on the software adapter.
  await dropDigits(page, 32);
  const predict = () =>
    page.evaluate(async () => {
      const debug = (window as unknown as { __lopperDebug: { predict(n: number): Promise<number[]> } }).__lopperDebug;
      return debug.predict(32);
    });
  const wasm = await predict();
  expect(wasm.length).toBe(320);
  await page.getByTestId('backend-select').selectOption('webgpu');
  const state = await waitIdle(page, (s) => s.backend === 'webgpu' || s.error !== null, 180_000);
  expect(state.error).toBeNull();
  expect(state.backend).toBe('webgpu');
  await expect(page.getByTestId('backend-badge')).toContainText('webgpu');
  const gpu = await predict();
  const scale = Math.max(...wasm.map(Math.abs));
  const diff = Math.max(...gpu.map((v, i) => Math.abs(v - wasm[i])));
  expect(diff / scale).toBeLessThan(1e-3);
});

test('no serious or critical accessibility violations', async ({ page }) => {
  await openWorkbench(page);
  await page.getByTestId('layer-row').first().click();
  await expect(page.getByTestId('weight-histogram').locator('svg')).toBeVisible();
  const results = await new AxeBuilder({ page }).analyze();
  const serious = results.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical');
  expect(serious.map((v) => `${v.id}: ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`)).toEqual([]);
});

test('the tensor count in the worker returns to its baseline after re-evaluating', async ({ page }) => {
  const before = await openWorkbench(page);
  await page.getByRole('button', { name: 'Use synthetic data' }).click();
  await waitIdle(page, (s) => s.evaluation?.divergence !== undefined);
  await page.getByTestId('dataset-input').setInputFiles(join(DEMO, 'eval.json'));
  const after = await waitIdle(page, (s) => s.evaluation?.accuracy !== undefined);
  expect(after.workerTensors).toBe(before.workerTensors);
  expect((await lopperState(page)).workerTensors).toBe(before.workerTensors);
});
