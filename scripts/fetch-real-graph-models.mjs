#!/usr/bin/env node
/**
 * Puts a few real converted TF.js GraphModels where the real-model tests look for them:
 * node_modules/.cache/lopper-real-models/<model>/{model.json, <shard>}. They come from the npm
 * package @vladmandic/human (MIT; its models/ folder ships tensorflowjs_converter output), fetched
 * with `npm pack` and unpacked with `tar`. Idempotent: a model already in place is left alone, and
 * nothing is fetched when every model is there.
 *
 *   blazeface  (539 kB, float32; 37 _FusedConv2D, 32 depthwise, 31 residual AddV2, 4 outputs, fixed batch 1)
 *   antispoof  (853 kB, float16; _FusedConv2D and _FusedMatMul, dynamic batch, signature)
 *   handtrack  (2.96 MB, uint8-quantized; SSD with while loops, TensorLists and NonMaxSuppressionV5, 8 outputs)
 *
 * Run: node scripts/fetch-real-graph-models.mjs
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync, copyFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const PACKAGE = '@vladmandic/human@3.3.6';
const MODELS = ['blazeface', 'antispoof', 'handtrack'];
const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const cache = join(root, 'node_modules', '.cache', 'lopper-real-models');

function present(model) {
  const dir = join(cache, model);
  return existsSync(join(dir, 'model.json')) && existsSync(join(dir, `${model}.bin`));
}

const missing = MODELS.filter((model) => !present(model));
if (missing.length === 0) {
  console.error(`real GraphModels already in ${cache}`);
  process.exit(0);
}

const work = mkdtempSync(join(tmpdir(), 'lopper-real-models-'));
try {
  const packed = execFileSync('npm', ['pack', PACKAGE, '--silent', '--pack-destination', work], { cwd: work, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] })
    .trim()
    .split('\n')
    .pop();
  const tarball = join(work, packed);
  const members = missing.flatMap((model) => [`package/models/${model}.json`, `package/models/${model}.bin`]);
  execFileSync('tar', ['-xzf', tarball, '-C', work, 'package/LICENSE', ...members], { stdio: 'inherit' });
  for (const model of missing) {
    const dir = join(cache, model);
    const staging = `${dir}.partial`;
    rmSync(staging, { recursive: true, force: true });
    mkdirSync(staging, { recursive: true });
    // model.json names its shard `<model>.bin`; the file keeps that name beside it.
    copyFileSync(join(work, 'package', 'models', `${model}.json`), join(staging, 'model.json'));
    copyFileSync(join(work, 'package', 'models', `${model}.bin`), join(staging, `${model}.bin`));
    copyFileSync(join(work, 'package', 'LICENSE'), join(staging, 'LICENSE'));
    writeFileSync(join(staging, 'SOURCE'), `${PACKAGE} models/${model}.json + models/${model}.bin\n`);
    JSON.parse(readFileSync(join(staging, 'model.json'), 'utf8'));
    rmSync(dir, { recursive: true, force: true });
    renameSync(staging, dir);
    console.error(`${model}: ${dir}`);
  }
} finally {
  rmSync(work, { recursive: true, force: true });
}
