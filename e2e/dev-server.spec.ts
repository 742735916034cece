import { expect, test } from '@playwright/test';
import { DEV_PORT } from '../playwright.config';
import { openWorkbench } from './helpers';

test('the dev server of `npm start` opens the demo with WASM threads, without a reload', async ({ page }) => {
  let loads = 0;
  page.on('load', () => (loads += 1));
  const state = await openWorkbench(page, `http://localhost:${DEV_PORT}/`);
  expect(state.error).toBeNull();
  expect(state.backend).toBe('wasm');
  expect(state.wasmThreads).toBeGreaterThan(1);
  expect(state.evaluation?.accuracy).toBeGreaterThanOrEqual(0.97);
  expect(loads).toBe(1);
});
