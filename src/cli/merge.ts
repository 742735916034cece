import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { isRecord } from '../io/input-file';
import { stringOption, UsageError, type ParsedArgs } from './args';
import type { Output } from './load';

interface ShardFile {
  path: string;
  json: Record<string, unknown> & { values: (number | null)[][]; layers: string[]; sparsities: number[]; shard: { i: number; n: number }; seconds: number };
}

/** The fields that make two shard files parts of one sweep. */
const SAME = ['criterion', 'granularity', 'metric', 'dataHash', 'backend', 'dense'] as const;

async function readShard(path: string): Promise<ShardFile> {
  let json: unknown;
  try {
    json = JSON.parse(await readFile(path, 'utf8'));
  } catch {
    throw new UsageError(`${path} is not a JSON sweep file`);
  }
  const fail = (what: string): never => {
    throw new UsageError(`${path} is not a shard of a sweep: ${what}`);
  };
  if (!isRecord(json)) return fail('expected a JSON object');
  const { values, layers, sparsities, shard } = json;
  if (!Array.isArray(layers) || !Array.isArray(sparsities) || !Array.isArray(values)) return fail('it lacks layers, sparsities or values');
  if (!isRecord(shard) || !Number.isInteger(shard['i']) || !Number.isInteger(shard['n'])) return fail('it has no "shard": {i, n} (write it with lopper sweep --shard i/n)');
  return { path, json: json as ShardFile['json'] };
}

/**
 * `lopper merge F1 F2 … --out F` (DESIGN §6): joins the shard files of one sweep into the file the
 * unsharded sweep writes. Refuses files of different sweeps (model data, criterion, granularity,
 * metric, grid, units), a shard given twice or missing, and shards of different counts.
 */
export async function merge(args: ParsedArgs, out: Output): Promise<void> {
  const outPath = stringOption(args, 'out');
  if (outPath === undefined) throw new UsageError('lopper merge: --out <file> is required');
  if (args.positionals.length === 0) throw new UsageError('lopper merge: give the shard files to join (F1 F2 …)');
  const shards = await Promise.all(args.positionals.map(readShard));
  const [first] = shards;
  const n = first.json.shard.n;
  for (const shard of shards) {
    for (const key of SAME) {
      if (JSON.stringify(shard.json[key]) !== JSON.stringify(first.json[key]))
        throw new UsageError(`${shard.path} and ${first.path} are shards of different sweeps: their ${key} differ`);
    }
    for (const key of ['layers', 'sparsities'] as const) {
      if (JSON.stringify(shard.json[key]) !== JSON.stringify(first.json[key]))
        throw new UsageError(`${shard.path} and ${first.path} are shards of different sweeps: their ${key} differ`);
    }
    if (shard.json.shard.n !== n) throw new UsageError(`${shard.path} is shard ${shard.json.shard.i}/${shard.json.shard.n}, ${first.path} one of ${n}`);
  }
  const byIndex = new Map<number, ShardFile>();
  for (const shard of shards) {
    const other = byIndex.get(shard.json.shard.i);
    if (other) throw new UsageError(`${shard.path} and ${other.path} are both shard ${shard.json.shard.i}/${n}`);
    byIndex.set(shard.json.shard.i, shard);
  }
  const missing = Array.from({ length: n }, (_, i) => i).filter((i) => !byIndex.has(i));
  if (missing.length > 0) throw new UsageError(`shards ${missing.map((i) => `${i}/${n}`).join(', ')} are missing`);
  const columns = first.json.sparsities.length;
  const values = first.json.layers.map((_, row) => first.json.sparsities.map((_, column) => (byIndex.get((row * columns + column) % n) as ShardFile).json.values[row][column]));
  const skipped = shards.flatMap((shard) => (Array.isArray(shard.json['skipped']) ? (shard.json['skipped'] as { unit: string; reason: string }[]) : []));
  const uniqueSkipped = [...new Map(skipped.map((s) => [s.unit, s])).values()];
  const { shard: _shard, skipped: _skipped, ...rest } = first.json;
  const merged = { ...rest, values, seconds: shards.reduce((total, shard) => total + shard.json.seconds, 0), ...(uniqueSkipped.length > 0 && { skipped: uniqueSkipped }) };
  const target = resolve(outPath);
  await mkdir(dirname(target), { recursive: true });
  await writeFile(target, `${JSON.stringify(merged)}\n`);
  if (out.json) out.print({ out: outPath, shards: n });
  else process.stderr.write(`lopper merge: ${n} shards of ${first.json.layers.length} units × ${columns} sparsities; wrote ${outPath}\n`);
}
