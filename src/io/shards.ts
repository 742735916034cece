import { ExtraShardError, ManifestError, MissingShardError, ShardSizeError } from './errors';
import { basename, dirname } from './input-file';
import { hasStrings, storedByteLength, type ModelJson } from './manifest';
import type { InputFile } from './types';

/** The files behind one `weightsManifest` group, in `paths` order. */
export interface ResolvedGroup {
  files: InputFile[];
  /** Bytes the group's weights occupy, as the manifest describes them (the least they take when they hold strings). */
  expectedBytes: number;
  /** The group holds string weights: its shards may hold more than `expectedBytes`, checked once the strings are read. */
  variable: boolean;
}

const SHARD_NAME = /^group\d+-shard\d+of\d+(\.bin)?$/i;

/** Whether a file name looks like a TF.js weight shard. */
export function looksLikeShard(path: string): boolean {
  const name = basename(path);
  return name.toLowerCase().endsWith('.bin') || SHARD_NAME.test(name);
}

function shardKey(name: string): string {
  let decoded = name;
  try {
    decoded = decodeURIComponent(name);
  } catch {
    decoded = name;
  }
  return decoded.toLowerCase().endsWith('.bin') ? decoded.slice(0, -4) : decoded;
}

/**
 * Finds the dropped file for each manifest path, by base name: the path may carry `./` or a folder,
 * the file may sit in a folder, and a `.bin` extension may be on one side only. A file next to
 * model.json wins over one elsewhere.
 */
function findShard(path: string, modelFile: InputFile, candidates: readonly InputFile[]): InputFile | undefined {
  const wanted = basename(path);
  const modelDir = dirname(modelFile.path);
  const exact = candidates.filter((f) => basename(f.path) === wanted);
  const matches = exact.length > 0 ? exact : candidates.filter((f) => shardKey(basename(f.path)) === shardKey(wanted));
  if (matches.length <= 1) return matches[0];
  const besideModel = matches.filter((f) => dirname(f.path) === modelDir);
  if (besideModel.length === 1) return besideModel[0];
  throw new ManifestError({
    file: modelFile.path,
    message: `weightsManifest path "${path}" matches several dropped files`,
    expected: 'one file',
    actual: matches.map((f) => f.path).join(', '),
  });
}

/**
 * Matches every manifest path to a dropped file and checks the byte counts, without reading any
 * shard: missing shards, unreferenced shard-like files and groups whose shards do not add up to
 * their weights each throw their own error.
 */
export function resolveShards(manifest: Pick<ModelJson, 'weightsManifest'>, modelFile: InputFile, files: readonly InputFile[]): ResolvedGroup[] {
  const candidates = files.filter((f) => f !== modelFile);
  const used = new Set<InputFile>();
  const groups = manifest.weightsManifest.map((group) => {
    const groupFiles = group.paths.map((path) => {
      const file = findShard(path, modelFile, candidates);
      if (file === undefined)
        throw new MissingShardError(
          modelFile.path,
          basename(path),
          files.map((f) => f.path),
        );
      used.add(file);
      return file;
    });
    const expectedBytes = group.weights.reduce((sum, weight) => sum + storedByteLength(weight), 0);
    return { files: groupFiles, expectedBytes, variable: hasStrings(group.weights) };
  });

  const extra = candidates.filter((f) => !used.has(f) && looksLikeShard(f.path)).map((f) => f.path);
  if (extra.length > 0) {
    throw new ExtraShardError(
      modelFile.path,
      extra,
      manifest.weightsManifest.flatMap((g) => g.paths.map(basename)),
    );
  }

  for (const group of groups) {
    const actualBytes = group.files.reduce((sum, f) => sum + f.size, 0);
    if (group.variable ? actualBytes < group.expectedBytes : actualBytes !== group.expectedBytes) {
      throw new ShardSizeError(
        modelFile.path,
        group.files.map((f) => basename(f.path)),
        group.expectedBytes,
        actualBytes,
      );
    }
  }
  return groups;
}

/** Reads every group's shards in manifest order into one buffer, checking each read length. */
export async function readShards(modelFile: InputFile, groups: readonly ResolvedGroup[]): Promise<Uint8Array> {
  const sizeOf = (group: ResolvedGroup): number => (group.variable ? group.files.reduce((sum, f) => sum + f.size, 0) : group.expectedBytes);
  const total = groups.reduce((sum, group) => sum + sizeOf(group), 0);
  const data = new Uint8Array(total);
  let offset = 0;
  for (const group of groups) {
    const groupStart = offset;
    const size = sizeOf(group);
    for (const file of group.files) {
      const bytes = await file.bytes();
      if (offset + bytes.byteLength > groupStart + size) {
        throw new ShardSizeError(
          modelFile.path,
          group.files.map((f) => basename(f.path)),
          group.expectedBytes,
          offset - groupStart + bytes.byteLength,
        );
      }
      data.set(bytes, offset);
      offset += bytes.byteLength;
    }
    if (offset - groupStart !== size) {
      throw new ShardSizeError(
        modelFile.path,
        group.files.map((f) => basename(f.path)),
        group.expectedBytes,
        offset - groupStart,
      );
    }
  }
  return data;
}
