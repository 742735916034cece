import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Page } from '@playwright/test';
import { DEMO, dropFiles, waitIdle, type PageState } from './helpers';

/** Helpers of the fault and session specs (e2e/faults.spec.ts, e2e/persist.spec.ts). */

export async function setRange(page: Page, testId: string, value: number): Promise<void> {
  await page.getByTestId(testId).fill(String(value));
}

/** Drops a dataset of the first `samples` digits of the demo's evaluation set onto the open model. */
export async function dropDigits(page: Page, samples: number): Promise<PageState> {
  const full = JSON.parse(readFileSync(join(DEMO, 'eval.json'), 'utf8')) as { inputs: number[]; labels: number[] };
  const subset = { inputs: full.inputs.slice(0, samples * 784), shape: [samples, 28, 28, 1], labels: full.labels.slice(0, samples) };
  const base64 = Buffer.from(JSON.stringify(subset)).toString('base64');
  await dropFiles(page, [{ name: `digits-${samples}.json`, path: `digits-${samples}.json`, mimeType: 'application/json', base64 }]);
  return waitIdle(page, (s) => s.evaluation?.samples === samples);
}
