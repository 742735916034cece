import { defineConfig } from '@playwright/test';

export const CHROMIUM = '/usr/lib/chromium/chromium';
/** Ports can be moved (`LOPPER_E2E_PORT`, `LOPPER_DEV_PORT`) so that two checkouts run their e2e tests side by side. */
const port = Number(process.env.LOPPER_E2E_PORT ?? 4173);
/** The dev server that `npm start` runs, checked by e2e/dev-server.spec.ts. */
export const DEV_PORT = Number(process.env.LOPPER_DEV_PORT ?? 5173);

export default defineConfig({
  testDir: 'e2e',
  testMatch: '**/*.spec.ts',
  workers: 1,
  fullyParallel: false,
  retries: 0,
  timeout: 120_000,
  expect: { timeout: 60_000 },
  reporter: [['list']],
  outputDir: 'test-results',
  use: {
    baseURL: `http://localhost:${port}/`,
    browserName: 'chromium',
    headless: true,
    launchOptions: {
      executablePath: CHROMIUM,
      args: ['--disable-quic', '--enable-unsafe-webgpu'],
    },
    viewport: { width: 1360, height: 900 },
  },
  webServer: [
    {
      command: `npx vite preview --port ${port} --strictPort`,
      url: `http://localhost:${port}/`,
      reuseExistingServer: false,
      timeout: 60_000,
    },
    {
      command: `npx vite --port ${DEV_PORT} --strictPort`,
      url: `http://localhost:${DEV_PORT}/`,
      reuseExistingServer: false,
      timeout: 60_000,
    },
  ],
});
