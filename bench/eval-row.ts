/**
 * Row (a) of `npm run bench` alone: `npx tsx bench/eval-row.ts [rounds] [tokens]`. Writes a random
 * GPT-2-small-shaped model to a temporary folder (or reads `--model <folder>`), then times perplexity
 * against the torch peer as the full bench does and prints the row.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startBackend } from '../src/cli/backend';
import { gpt2Config, writeBenchTransformer } from '../scripts/make-bench-transformer';
import { ensureTorch, TorchPeer } from './peer';
import { evalRow } from './transformers';

const args = process.argv.slice(2);
const at = args.indexOf('--model');
const given = at >= 0 ? args.splice(at, 2)[1] : undefined;
const [rounds = 2, tokens = 1024] = args.map(Number);
const log = (line: string): void => void process.stderr.write(`${line}\n`);

ensureTorch(log);
await startBackend('wasm');
const peer = new TorchPeer(1);
const dir = given === undefined ? mkdtempSync(join(tmpdir(), 'lopper-eval-')) : undefined;
try {
  const folder = given ?? join(dir as string, 'gpt2-small');
  if (given === undefined) writeBenchTransformer(folder, gpt2Config(), 0);
  const row = await evalRow(folder, peer, rounds, tokens, log);
  process.stdout.write(`${JSON.stringify(row)}\n`);
} finally {
  peer.close();
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
}
