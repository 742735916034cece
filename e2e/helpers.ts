import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { expect, type Page } from '@playwright/test';
import type { PageHooks } from '../src/store/page-hooks';

export const FIXTURES = join(import.meta.dirname, 'fixtures');
export const DEMO = join(import.meta.dirname, '..', 'public', 'models', 'digits-cnn');

/** `window.__lopper`, as the page declares it. */
export type PageState = PageHooks;

export function lopperState(page: Page): Promise<PageState> {
  return page.evaluate(() => (window as unknown as { __lopper: PageState }).__lopper);
}

/** Waits until nothing is scheduled or running and `predicate` holds. */
export async function waitIdle(page: Page, predicate: (s: PageState) => boolean = () => true, timeout = 90_000): Promise<PageState> {
  const deadline = Date.now() + timeout;
  for (;;) {
    const state = await lopperState(page);
    if (!state.busy && predicate(state)) return state;
    if (Date.now() > deadline) throw new Error(`Timed out waiting for the page; last state: ${JSON.stringify({ ...state, model: state.model?.name })}`);
    await page.waitForTimeout(100);
  }
}

export type ViewTitle = 'Layers' | 'Structure' | 'Sensitivity' | 'Removal' | 'Plan' | 'Export';

/** Shows one of the main area's views (its tab), as a person clicks it. */
export async function showView(page: Page, view: ViewTitle): Promise<void> {
  const tab = page.getByRole('tab', { name: view, exact: true });
  await tab.click();
  await expect(tab).toHaveAttribute('aria-selected', 'true');
}

/** Opens the workbench and waits for the default demo model and its evaluation. */
export async function openWorkbench(page: Page, url = '/'): Promise<PageState> {
  await page.goto(url);
  return waitIdle(page, (s) => s.model?.name === 'digits-cnn' && s.evaluation?.accuracy !== undefined);
}

export interface FixtureFile {
  name: string;
  path: string;
  mimeType: string;
  base64: string;
}

/** Reads files (or every file of a folder, recursively) for a synthetic drop. */
export function readFixture(...paths: string[]): FixtureFile[] {
  const out: FixtureFile[] = [];
  for (const path of paths) {
    if (statSync(path).isDirectory()) {
      for (const entry of readdirSync(path, { recursive: true }) as string[]) {
        const full = join(path, entry);
        if (statSync(full).isFile()) out.push(toFixtureFile(full, relative(path, full)));
      }
    } else {
      out.push(toFixtureFile(path, path.split('/').pop() ?? path));
    }
  }
  return out;
}

function toFixtureFile(full: string, name: string): FixtureFile {
  const mimeType = name.endsWith('.json') ? 'application/json' : name.endsWith('.zip') ? 'application/zip' : 'application/octet-stream';
  return { name: name.split('/').pop() ?? name, path: name, mimeType, base64: readFileSync(full).toString('base64') };
}

/** Drops files on the drop zone the way a browser does: a DataTransfer with Files in its items. */
export async function dropFiles(page: Page, files: FixtureFile[]): Promise<void> {
  const dataTransfer = await page.evaluateHandle((list) => {
    const dt = new DataTransfer();
    for (const f of list) {
      const bytes = Uint8Array.from(atob(f.base64), (c) => c.charCodeAt(0));
      dt.items.add(new File([bytes], f.name, { type: f.mimeType }));
    }
    return dt;
  }, files);
  const zone = page.getByTestId('drop-zone');
  await zone.dispatchEvent('dragenter', { dataTransfer });
  await zone.dispatchEvent('dragover', { dataTransfer });
  await zone.dispatchEvent('drop', { dataTransfer });
  await dataTransfer.dispose();
}
