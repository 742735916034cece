import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, test, type Page } from '@playwright/test';
import { main } from '../src/cli/main';
import { corpusEntries, entryArgs, HOSTILE_NAME, writeEntry, type CorpusEntry } from '../src/io/corpus/make-corpus';
import { lopperState, openWorkbench, showView, waitIdle, type PageState } from './helpers';

/**
 * Every entry of the malformed-input corpus, given to one page the way a person gives it (a folder,
 * a zip, a dataset or text for the model it was made for), against what `lopper` says about it.
 */

/** Where the entries are written, made when the tests run (not when the runner only lists them). */
let ROOT = '';
const REPO = join(import.meta.dirname, '..');

const entries = corpusEntries();

/** The model an entry is given to: the demo for model entries and its datasets, else the committed base its data was made for. */
type Host = 'public/models/digits-cnn' | 'e2e/fixtures/graph-model' | 'e2e/fixtures/hf-gpt2-tiny';
const HOSTS: readonly Host[] = ['public/models/digits-cnn', 'e2e/fixtures/graph-model', 'e2e/fixtures/hf-gpt2-tiny'];
const hostOf = (entry: CorpusEntry): Host => (entry.base as Host | undefined) ?? 'public/models/digits-cnn';

interface CliAnswer {
  code: number;
  /** The one stderr line without `lopper: ` (an error), or every stderr line (a warning). */
  message: string;
  output: { name?: string; totalParams?: number; warnings?: string[] } | null;
}

/** What `lopper` prints for an entry, run in this process. */
async function runCli(entry: CorpusEntry): Promise<CliAnswer> {
  let stdout = '';
  let stderr = '';
  const { stdout: out, stderr: err } = process;
  const [writeOut, writeErr] = [out.write, err.write];
  out.write = ((chunk: string | Uint8Array) => ((stdout += String(chunk)), true)) as typeof out.write;
  err.write = ((chunk: string | Uint8Array) => ((stderr += String(chunk)), true)) as typeof err.write;
  try {
    const code = await main([...entryArgs(ROOT, entry), '--backend', 'cpu']);
    const output = code === 0 ? (JSON.parse(stdout) as CliAnswer['output']) : null;
    return { code, message: stderr.trim().replace(/^lopper: /, ''), output };
  } finally {
    out.write = writeOut;
    err.write = writeErr;
  }
}

const cli = new Map<string, CliAnswer>();

test.beforeAll(async () => {
  test.setTimeout(180_000);
  ROOT = mkdtempSync(join(tmpdir(), 'lopper-page-corpus-'));
  for (const entry of entries) {
    writeEntry(ROOT, entry);
    cli.set(entry.name, await runCli(entry));
  }
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
  await page.getByTestId('global-sparsity').fill(String(value));
}

/** The open model with a plan applied and measured. */
async function withPlan(page: Page, sparsity: number): Promise<PageState> {
  const dense = await lopperState(page);
  await setGlobalSparsity(page, sparsity);
  const state = await waitIdle(page, (s) => s.plan.target === sparsity && s.evaluation !== dense.evaluation && s.model?.name === dense.model?.name);
  expect(Object.values(state.plan.sparsity).some((s) => s > 0)).toBe(true);
  return state;
}

/** Opens a committed model folder (the hosts of the data entries). */
async function openFolder(page: Page, folder: string): Promise<PageState> {
  const name = folder.split('/').pop() ?? folder;
  await page.getByTestId('folder-input').setInputFiles(join(REPO, folder));
  return waitIdle(page, (s) => s.model?.name === name && s.evaluation !== null && s.error === null);
}

/** Results beside the plan that a refused input must leave alone: sweep cells (the sweep is cancelled after its first cell unless it is done by then). */
async function partialSweep(page: Page): Promise<number> {
  await showView(page, 'Sensitivity');
  await page.getByTestId('sweep-run').click();
  await expect(page.getByTestId('heatmap-cell').first()).toBeAttached();
  await page.getByTestId('sweep-cancel').dispatchEvent('click');
  await expect(page.getByTestId('sweep-progress')).not.toHaveAttribute('data-status', 'running');
  await waitIdle(page);
  await showView(page, 'Plan');
  return page.getByTestId('heatmap-cell').count();
}

/** The entry's error, in the words the command line uses; the model, plan, evaluation and sweep cells are what they were. */
async function expectRefused(page: Page, entry: CorpusEntry, before: PageState, cells: number): Promise<void> {
  if (entry.expect.kind !== 'error') throw new Error(`${entry.name} is not an error entry`);
  const { message, code } = cli.get(entry.name) as CliAnswer;
  expect(code, `${entry.name}: CLI exit code`).not.toBe(0);
  expect(message.startsWith(`${entry.expect.file}: `), `${entry.name}: CLI said: ${message}`).toBe(true);
  await pick(page, entry);
  const after = await waitIdle(page, (s) => s.error !== null, 20_000);
  expect.soft(after.error, entry.name).toBe(message);
  const banner = page.getByTestId('error-message');
  await expect.soft(banner, entry.name).toContainText(message);
  expect.soft(after.model, entry.name).toEqual(before.model);
  expect.soft(after.plan, entry.name).toEqual(before.plan);
  expect.soft(after.evaluation, entry.name).toEqual(before.evaluation);
  expect.soft(after.sparsity, entry.name).toBe(before.sparsity);
  expect.soft(after.warnings, entry.name).toEqual(before.warnings);
  expect.soft(await page.getByTestId('heatmap-cell').count(), entry.name).toBe(cells);
  await banner.getByRole('button', { name: /dismiss/i }).click();
  await expect(banner).toHaveCount(0);
}

/** An entry that the CLI opens (or evaluates) with warnings or none: the page opens it with the same name, size and warnings. */
async function expectOpened(page: Page, entry: CorpusEntry): Promise<void> {
  const { code, message, output } = cli.get(entry.name) as CliAnswer;
  expect(code, `${entry.name}: CLI said ${message}`).toBe(0);
  const before = await lopperState(page);
  await pick(page, entry);
  const after = await waitIdle(page, (s) => s.error !== null || (entry.base !== undefined ? s.evaluation !== before.evaluation : s.model?.name === output?.name));
  expect.soft(after.error, entry.name).toBeNull();
  if (entry.base === undefined) expect.soft(after.model?.totalParams, entry.name).toBe(output?.totalParams);
  expect.soft(after.warnings, entry.name).toEqual(output?.warnings);
  if (entry.expect.kind === 'warning') {
    expect.soft(after.warnings ?? [], entry.name).toEqual(expect.arrayContaining([expect.stringMatching(entry.expect.warning)]));
    if (entry.base === undefined) await expect.soft(page.getByTestId('model-warnings'), entry.name).toContainText(entry.expect.warning);
    else await expect.soft(page.getByTestId('data-warnings'), entry.name).toContainText(entry.expect.warning);
  }
}

/** The page still works after the refusals: another plan is measured, and the worker holds what it held. */
async function expectUsable(page: Page, before: PageState, sparsity: number): Promise<void> {
  expect(await page.evaluate(() => (window as unknown as { __lopperPwned?: number }).__lopperPwned)).toBeUndefined();
  const moved = await withPlan(page, sparsity);
  expect(moved.evaluation).not.toEqual(before.evaluation);
  expect(moved.workerTensors).toBe(before.workerTensors);
}

test('every corpus entry gives the page what it gives the CLI; a refused one leaves the model, plan and results as they were', async ({ page }) => {
  test.setTimeout(240_000);
  await openWorkbench(page);
  await showView(page, 'Plan');
  for (const host of HOSTS) {
    if (host !== 'public/models/digits-cnn') await openFolder(page, host);
    const before = await withPlan(page, 0.3);
    const cells = await partialSweep(page);
    expect(cells).toBeGreaterThan(0);
    for (const entry of entries.filter((e) => hostOf(e) === host && e.expect.kind === 'error')) await expectRefused(page, entry, before, cells);
    await expectUsable(page, before, 0.5);
  }
  for (const entry of entries.filter((e) => e.expect.kind !== 'error')) {
    if (entry.base !== undefined) await openFolder(page, entry.base);
    await expectOpened(page, entry);
  }
  await page.getByTestId('model-picker').selectOption('digits-cnn');
  await waitIdle(page, (s) => s.model?.name === 'digits-cnn' && s.evaluation?.accuracy !== undefined);
  await expectUsable(page, await lopperState(page), 0.4);
});

test('names with markup are shown as the text they are', async ({ page }) => {
  const entry = entries.find((e) => e.name === 'graph-html-names') as CorpusEntry;
  writeEntry(ROOT, entry);
  await openWorkbench(page);
  await pick(page, entry);
  const hostile = await waitIdle(page, (s) => s.model?.name === 'graph-html-names');
  expect(hostile.model?.layers).toContain(HOSTILE_NAME);
  await expect(page.locator(`[data-testid="layer-row"][data-layer="${HOSTILE_NAME.replaceAll('"', '\\"')}"]`)).toContainText(HOSTILE_NAME);
  expect(await page.evaluate(() => (window as unknown as { __lopperPwned?: number }).__lopperPwned)).toBeUndefined();
});
