import { join } from 'node:path';
import { expect, test } from '@playwright/test';
import { FIXTURES, openWorkbench, showView, waitIdle } from './helpers';

/**
 * Nothing leaves the machine: every request of a whole session (open, a folder drop, a sweep, a
 * removal search, a plan, an export) goes to the page's own origin.
 */
test('a full session makes no request outside the page origin', async ({ page, baseURL }) => {
  test.setTimeout(300_000);
  const origin = new URL(baseURL ?? 'http://localhost/').origin;
  const requests: string[] = [];
  page.on('request', (request) => requests.push(request.url()));
  page.on('worker', (worker) => requests.push(worker.url()));
  await openWorkbench(page);
  await page.getByTestId('folder-input').setInputFiles(join(FIXTURES, 'functional'));
  await waitIdle(page, (s) => s.model?.name === 'functional');
  await showView(page, 'Sensitivity');
  await page.getByTestId('sweep-run').click();
  await expect(page.getByTestId('sweep-progress')).not.toHaveAttribute('data-status', 'running', { timeout: 240_000 });
  await waitIdle(page);
  await showView(page, 'Removal');
  await page.getByTestId('removal-run').click();
  await expect(page.getByTestId('removal-progress')).not.toHaveAttribute('data-status', 'running', { timeout: 240_000 });
  await page.getByTestId('global-sparsity').fill('0.4');
  await waitIdle(page, (s) => s.plan.target === 0.4);
  await showView(page, 'Export');
  const [download] = await Promise.all([page.waitForEvent('download'), page.getByTestId('export-button').click()]);
  await expect(page.getByTestId('export-check')).toHaveAttribute('data-ok', 'true');
  expect(download.suggestedFilename()).toMatch(/\.zip$/);
  expect(requests.length).toBeGreaterThan(3);
  const foreign = requests.filter((url) => !url.startsWith('blob:') && !url.startsWith('data:') && new URL(url).origin !== origin);
  expect(foreign).toEqual([]);
});

test('the page is served with a Content-Security-Policy that allows only its own origin, in the header and in index.html', async ({ page }) => {
  const response = await page.goto('/');
  const header = response?.headers()['content-security-policy'] ?? '';
  expect(header).toContain("default-src 'self'");
  expect(header).toMatch(/script-src 'self' 'wasm-unsafe-eval' blob:(;|$)/);
  expect(header).not.toMatch(/script-src[^;]*unsafe-inline/);
  const meta = await page.locator('meta[http-equiv="Content-Security-Policy"]').getAttribute('content');
  expect(meta).toBe(header);
  const blocked = await page.evaluate(
    () =>
      new Promise<string>((resolve) => {
        document.addEventListener('securitypolicyviolation', (event) => resolve(`blocked ${event.violatedDirective}`), { once: true });
        const script = document.createElement('script');
        script.textContent = 'document.documentElement.dataset.inlineRan = "yes"';
        document.head.append(script);
        setTimeout(() => resolve(document.documentElement.dataset.inlineRan === 'yes' ? 'ran' : 'not run'), 2000);
      }),
  );
  expect(blocked).toMatch(/^blocked script-src/);
});
