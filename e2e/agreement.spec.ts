import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, test } from '@playwright/test';
import { unzipSync } from 'fflate';
import { openWorkbench, showView, waitIdle } from './helpers';

const CHAR_LM = join(import.meta.dirname, '..', 'public', 'models', 'char-lm');

test('a Wanda plan made in the page replays with `lopper prune --recipe` to the same weights, byte for byte', async ({ page }) => {
  test.setTimeout(300_000);
  await openWorkbench(page);
  await page.getByTestId('model-picker').selectOption('char-lm');
  await waitIdle(page, (s) => s.model?.name === 'char-lm');
  await showView(page, 'Plan');
  await expect(page.getByTestId('plan-granularity').locator('option[value="channels"]')).toBeDisabled();
  await page.getByTestId('plan-criterion').selectOption('wanda');
  await page.getByTestId('global-sparsity').fill('0.5');
  const planned = await waitIdle(page, (s) => s.plan.target === 0.5 && s.plan.criterion === 'wanda' && (s.sparsity ?? 0) > 0.49);
  await showView(page, 'Export');
  const [download] = await Promise.all([page.waitForEvent('download'), page.getByTestId('export-button').click()]);
  await expect(page.getByTestId('export-check')).toHaveAttribute('data-ok', 'true');
  const entries = unzipSync(readFileSync(await download.path()));
  const name = (suffix: string): string => {
    const found = Object.keys(entries).find((path) => path.endsWith(suffix));
    if (found === undefined) throw new Error(`the export holds no ${suffix}: ${Object.keys(entries).join(', ')}`);
    return found;
  };
  const dir = mkdtempSync(join(tmpdir(), 'lopper-replay-'));
  const recipePath = join(dir, 'recipe.json');
  writeFileSync(recipePath, entries[name('recipe.json')]);
  const recipe = JSON.parse(readFileSync(recipePath, 'utf8')) as { criterion: string; sparsity: Record<string, number> };
  expect(recipe.criterion).toBe('wanda');
  expect(Object.keys(recipe.sparsity).sort()).toEqual([...(planned.model?.layers ?? [])].sort());
  const out = join(dir, 'replayed');
  execFileSync(
    process.execPath,
    [join(import.meta.dirname, '..', 'bin', 'lopper.js'), 'prune', CHAR_LM, '--data', join(CHAR_LM, 'eval.txt'), '--recipe', recipePath, '--out', out, '--json'],
    {
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  );
  const fromPage = Buffer.from(entries[name('model.safetensors')]);
  const fromCli = readFileSync(join(out, 'model.safetensors'));
  expect(fromCli.length).toBe(fromPage.length);
  expect(Buffer.compare(fromCli, fromPage)).toBe(0);
});
