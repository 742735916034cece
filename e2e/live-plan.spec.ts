import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, test } from '@playwright/test';
import { gpt2Config, writeBenchTransformer } from '../scripts/make-bench-transformer';
import { openWorkbench, showView, waitIdle } from './helpers';

const CHAR_LM_TEXT = join(import.meta.dirname, '..', 'public', 'models', 'char-lm', 'eval.txt');

test('a model of 10M parameters is measured live on the calibration subset, and on all of the data on request', async ({ page }) => {
  test.setTimeout(240_000);
  const root = mkdtempSync(join(tmpdir(), 'lopper-live-'));
  const dir = join(root, 'gpt2-live');
  // 2 blocks of width 512 and an 8,192-token vocabulary: 10.5M parameters, context 32.
  writeBenchTransformer(dir, gpt2Config(2, 512, 8192, 32));
  const text = join(root, 'text.txt');
  writeFileSync(text, readFileSync(CHAR_LM_TEXT, 'utf8').slice(0, 2000));

  await openWorkbench(page);
  await page.getByTestId('folder-input').setInputFiles(dir);
  const opened = await waitIdle(page, (s) => s.model?.name === 'gpt2-live');
  expect(opened.model?.totalParams).toBeGreaterThanOrEqual(10_000_000);
  await page.getByTestId('dataset-input').setInputFiles(text);
  await waitIdle(page, (s) => s.evaluation?.perplexity !== undefined);

  await showView(page, 'Plan');
  await page.getByTestId('global-sparsity').fill('0.5');
  const live = await waitIdle(page, (s) => s.plan.target === 0.5 && s.evaluationScope !== null);
  expect(live.evaluationScope).toEqual({ subset: true, size: 320, of: 2000, unit: 'tokens' });
  const scope = page.getByTestId('plan-evaluation-scope');
  await expect(scope).toHaveAttribute('data-size', '320');
  await expect(scope).toContainText('320 of 2k tokens');
  await expect(page.getByTestId('plan-sizes')).toContainText('gzipped on full evaluation');

  await page.getByTestId('plan-full-evaluation').click();
  const full = await waitIdle(page, (s) => s.evaluationScope?.subset === false);
  expect(full.evaluation?.samples).toBeGreaterThan(live.evaluation?.samples ?? Infinity);
  expect(full.sparsity).toBe(live.sparsity);
  await expect(page.getByTestId('plan-evaluation-scope')).toHaveCount(0);
  await expect(page.getByTestId('plan-sizes')).not.toContainText('on full evaluation');
});
