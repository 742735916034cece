import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, test, type Page } from '@playwright/test';
import { main } from '../src/cli/main';
import { corpusEntries, entryArgs, HOSTILE_NAME, writeEntry, type CorpusEntry } from '../src/io/corpus/make-corpus';
import { lopperState, openWorkbench, waitIdle, type PageState } from './helpers';

/** Where the entries are written, made when the tests run (not when the runner only lists them). */
let ROOT = '';
const REPO = join(import.meta.dirname, '..');

const entries = corpusEntries();
const subset = entries.filter((e) => e.page === true && e.expect.kind === 'error');
const byName = (name: string): CorpusEntry => {
  const entry = entries.find((e) => e.name === name);
  if (entry === undefined) throw new Error(`no corpus entry ${name}`);
  return entry;
};

/** What `lopper` prints for an entry, run in this process: its exit code, stdout, and its one stderr line without the `lopper: ` prefix. */
async function runCli(entry: CorpusEntry): Promise<{ code: number; stdout: string; message: string }> {
  let stdout = '';
  let stderr = '';
  const { stdout: out, stderr: err } = process;
  const [writeOut, writeErr] = [out.write, err.write];
  out.write = ((chunk: string | Uint8Array) => ((stdout += String(chunk)), true)) as typeof out.write;
  err.write = ((chunk: string | Uint8Array) => ((stderr += String(chunk)), true)) as typeof err.write;
  try {
    const code = await main([...entryArgs(ROOT, entry), '--backend', 'cpu']);
    return { code, stdout, message: stderr.trim().replace(/^lopper: /, '') };
  } finally {
    out.write = writeOut;
    err.write = writeErr;
  }
}

const cliMessages = new Map<string, string>();

test.beforeAll(async () => {
  test.setTimeout(120_000);
  ROOT = mkdtempSync(join(tmpdir(), 'lopper-page-corpus-'));
  for (const entry of [...subset, byName('graph-html-names'), byName('zip-nested-3'), byName('layers-nan-weights')]) writeEntry(ROOT, entry);
  for (const entry of subset) cliMessages.set(entry.name, (await runCli(entry)).message);
});

test.afterAll(() => rmSync(ROOT, { recursive: true, force: true }));

/** Gives the page an entry's files the way a person picks them: a folder, a zip, or a data file. */
async function pick(page: Page, entry: CorpusEntry): Promise<void> {
  const folder = join(ROOT, entry.name);
  const file = entry.base !== undefined ? entry.data : entry.model;
  if (file !== undefined) await page.getByTestId('file-input').setInputFiles(join(folder, file));
  else await page.getByTestId('folder-input').setInputFiles(folder);
}

async function setGlobalSparsity(page: Page, value: number): Promise<void> {
  const tab = page.getByRole('tab', { name: 'Plan', exact: true });
  if ((await tab.count()) > 0) await tab.click();
  await page.getByTestId('global-sparsity').fill(String(value));
}

/** The open model with a plan applied and measured. */
async function withPlan(page: Page, model: string, sparsity: number): Promise<PageState> {
  const dense = await lopperState(page);
  await setGlobalSparsity(page, sparsity);
  const state = await waitIdle(page, (s) => s.plan.target === sparsity && s.evaluation !== dense.evaluation && s.model?.name === model);
  expect(Object.values(state.plan.sparsity).some((s) => s > 0)).toBe(true);
  return state;
}

/** Each entry's error, in the words the command line uses, and nothing the user had is lost. */
async function expectRefused(page: Page, entry: CorpusEntry, before: PageState): Promise<void> {
  if (entry.expect.kind !== 'error') throw new Error(`${entry.name} is not an error entry`);
  const cli = cliMessages.get(entry.name) ?? '';
  expect(cli.startsWith(`${entry.expect.file}: `), `CLI said: ${cli}`).toBe(true);
  await pick(page, entry);
  const banner = page.getByTestId('error-message');
  await expect(banner, entry.name).toContainText(cli, { timeout: 20_000 });
  await expect(banner).toContainText(entry.expect.file);
  const after = await waitIdle(page);
  expect(after.error, entry.name).toBe(cli);
  expect(after.model, entry.name).toEqual(before.model);
  expect(after.plan, entry.name).toEqual(before.plan);
  expect(after.evaluation, entry.name).toEqual(before.evaluation);
  expect(after.sparsity, entry.name).toBe(before.sparsity);
  await banner.getByRole('button', { name: /dismiss/i }).click();
  await expect(banner).toHaveCount(0);
}

test('every class of malformed input is refused by the page with the CLI’s message; the model, plan and evaluation stay', async ({ page }) => {
  test.setTimeout(240_000);
  await openWorkbench(page);
  const before = await withPlan(page, 'digits-cnn', 0.3);
  for (const entry of subset.filter((e) => e.kind !== 'text')) await expectRefused(page, entry, before);

  expect(await page.evaluate(() => (window as unknown as { __lopperPwned?: number }).__lopperPwned)).toBeUndefined();
  const moved = await withPlan(page, 'digits-cnn', 0.5);
  expect(moved.evaluation?.accuracy).not.toBe(before.evaluation?.accuracy);
  expect(moved.workerTensors).toBe(before.workerTensors);
});

test('a text too short to score is refused for a language model as the CLI refuses it', async ({ page }) => {
  test.setTimeout(120_000);
  await openWorkbench(page);
  await page.getByTestId('folder-input').setInputFiles(join(REPO, 'e2e', 'fixtures', 'hf-gpt2-tiny'));
  await waitIdle(page, (s) => s.model?.name === 'hf-gpt2-tiny' && s.evaluation !== undefined);
  const before = await withPlan(page, 'hf-gpt2-tiny', 0.3);
  for (const entry of subset.filter((e) => e.kind === 'text')) await expectRefused(page, entry, before);
});

test('names with markup open as text, and a zip three levels deep opens as in the CLI', async ({ page }) => {
  test.setTimeout(120_000);
  await openWorkbench(page);
  await pick(page, byName('graph-html-names'));
  const hostile = await waitIdle(page, (s) => s.model?.name === 'graph-html-names');
  expect(hostile.error).toBeNull();
  expect(hostile.model?.layers).toContain(HOSTILE_NAME);
  await expect(page.locator(`[data-testid="layer-row"][data-layer="${HOSTILE_NAME.replaceAll('"', '\\"')}"]`)).toContainText(HOSTILE_NAME);
  expect(await page.evaluate(() => (window as unknown as { __lopperPwned?: number }).__lopperPwned)).toBeUndefined();

  const nested = byName('zip-nested-3');
  const cli = JSON.parse((await runCli(nested)).stdout) as { name: string; totalParams: number };
  await pick(page, nested);
  const opened = await waitIdle(page, (s) => s.model?.name === cli.name);
  expect(opened.error).toBeNull();
  expect(opened.model?.totalParams).toBe(cli.totalParams);
});

test('NaN and ±Infinity weights open with the warning the CLI gives', async ({ page }) => {
  test.setTimeout(120_000);
  const entry = byName('layers-nan-weights');
  const cli = JSON.parse((await runCli(entry)).stdout) as { warnings: string[] };
  expect(cli.warnings.length).toBeGreaterThan(0);
  await openWorkbench(page);
  await pick(page, entry);
  const opened = await waitIdle(page, (s) => s.model?.name === entry.name);
  expect(opened.error).toBeNull();
  expect(opened.warnings).toEqual(expect.arrayContaining(cli.warnings));
});
