/**
 * Main-thread long tasks while the page sweeps the demo model (goal: none over 50 ms).
 * Builds nothing: run `npm run build` first (the npm script does). Prints a table, asserts nothing.
 */
import { spawn } from 'node:child_process';
import { chromium } from 'playwright-core';

const PORT = 4179;
const CHROMIUM = '/usr/lib/chromium/chromium';

async function waitForServer(url: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const response = await fetch(url);
      if (response.ok) return;
    } catch {
      // not up yet
    }
    if (Date.now() > deadline) throw new Error(`${url} did not start`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

async function main(): Promise<void> {
  const server = spawn('npx', ['vite', 'preview', '--port', String(PORT), '--strictPort'], { stdio: 'ignore' });
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--disable-quic'] });
  try {
    await waitForServer(`http://localhost:${PORT}/`, 30_000);
    const page = await browser.newPage();
    page.on('console', (m) => m.text().startsWith('longtask') && console.log(m.text()));
    await page.goto(`http://localhost:${PORT}/`);
    await page.waitForFunction(
      () => {
        const state = (window as unknown as { __lopper?: { busy: boolean; evaluation: unknown } }).__lopper;
        return state !== undefined && !state.busy && state.evaluation !== null;
      },
      null,
      { timeout: 120_000 },
    );
    await page.evaluate(() => {
      const store = window as unknown as { __longTasks: number[] };
      store.__longTasks = [];
      new PerformanceObserver((list) =>
        list.getEntries().forEach((e) => {
          store.__longTasks.push(e.duration);
          console.log(`longtask ${e.duration.toFixed(0)}ms at ${e.startTime.toFixed(0)}`);
        }),
      ).observe({ type: 'longtask', buffered: false });
    });
    const started = Date.now();
    console.log('click at', await page.evaluate(() => performance.now().toFixed(0)));
    await page.getByTestId('sweep-run').click();
    await page.waitForFunction(() => document.querySelector('[data-testid="sweep-progress"]')?.getAttribute('data-status') === 'done', null, { timeout: 600_000 });
    const seconds = (Date.now() - started) / 1000;
    const tasks = await page.evaluate(() => (window as unknown as { __longTasks: number[] }).__longTasks);
    const cells = await page.getByTestId('heatmap-cell').count();
    const over50 = tasks.filter((d) => d > 50);
    console.log('| sweep (demo CNN, magnitude, default grid) | value |');
    console.log('| --- | --- |');
    console.log(`| cells | ${cells} |`);
    console.log(`| wall time | ${seconds.toFixed(1)} s |`);
    console.log(`| main-thread long tasks (> 50 ms by definition of longtask) | ${tasks.length} |`);
    console.log(`| longest | ${tasks.length ? Math.max(...tasks).toFixed(0) : 0} ms |`);
    console.log(`| over 50 ms | ${over50.length} (goal: 0) |`);
  } finally {
    await browser.close();
    server.kill();
  }
}

await main();
