import { describe, expect, it } from 'vitest';
import { UnsupportedDtypeError } from './errors';
import { SafetensorsError, encodeSafetensors, parseSafetensorsHeader, readSafetensors, readSafetensorsCheckpoint } from './safetensors';
import { memoryFiles } from './test-support';
import type { InputFile } from './types';

/** A safetensors file from a header object and raw data bytes, built by hand. */
function handBuilt(header: Record<string, unknown>, data: Uint8Array, declaredLength?: number): Uint8Array {
  const json = new TextEncoder().encode(JSON.stringify(header));
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(declaredLength ?? json.length), true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

function le16(values: number[]): Uint8Array {
  const out = new Uint8Array(values.length * 2);
  values.forEach((v, i) => new DataView(out.buffer).setUint16(2 * i, v, true));
  return out;
}

describe('readSafetensors', () => {
  it('decodes F32, F16 and BF16 at any offset and keeps the metadata', () => {
    const f32 = new Uint8Array(new Float32Array([1.5, -2]).buffer);
    // F16: 1.0 = 0x3c00, -0.5 = 0xb800, 65504 = 0x7bff; BF16: 1.0 = 0x3f80, -3.0 = 0xc040
    const f16 = le16([0x3c00, 0xb800, 0x7bff]);
    const bf16 = le16([0x3f80, 0xc040]);
    const data = new Uint8Array([...bf16, ...f16, ...f32]);
    const bytes = handBuilt(
      {
        __metadata__: { format: 'pt' },
        b: { dtype: 'BF16', shape: [2], data_offsets: [0, 4] },
        h: { dtype: 'F16', shape: [3, 1], data_offsets: [4, 10] },
        f: { dtype: 'F32', shape: [1, 2], data_offsets: [10, 18] },
      },
      data,
    );
    const contents = readSafetensors(bytes, 'w.safetensors');
    expect(contents.metadata).toEqual({ format: 'pt' });
    expect(contents.tensors.get('b')).toEqual({ shape: [2], values: new Float32Array([1, -3]) });
    expect(contents.tensors.get('h')).toEqual({ shape: [3, 1], values: new Float32Array([1, -0.5, 65504]) });
    expect(contents.tensors.get('f')).toEqual({ shape: [1, 2], values: new Float32Array([1.5, -2]) });
  });

  it('round-trips what encodeSafetensors writes, with an 8-byte aligned header', () => {
    const tensors = new Map([
      ['a', { shape: [2, 2], values: new Float32Array([1, 2, 3, 4]) }],
      ['s', { shape: [], values: new Float32Array([7]) }],
    ]);
    const bytes = encodeSafetensors(tensors, { format: 'pt' });
    expect(Number(new DataView(bytes.buffer).getBigUint64(0, true)) % 8).toBe(0);
    expect(readSafetensors(bytes, 'x').tensors).toEqual(tensors);
  });

  it('skips tensors that are not included, without decoding them', () => {
    const bytes = handBuilt({ i: { dtype: 'I64', shape: [1], data_offsets: [0, 8] }, f: { dtype: 'F32', shape: [], data_offsets: [8, 12] } }, new Uint8Array(12));
    expect([...readSafetensors(bytes, 'x', { include: (name) => name !== 'i' }).tensors.keys()]).toEqual(['f']);
  });

  it.each([
    ['a file shorter than 8 bytes', new Uint8Array(4), /w\.safetensors: is too short/],
    ['a header longer than the file', handBuilt({}, new Uint8Array(0), 999), /w\.safetensors: declares a header longer than the file/],
    ['a header that is not JSON', handBuilt({}, new Uint8Array(0)).fill(0x41, 8), /w\.safetensors: has a header that is not a JSON object/],
    [
      'offsets past the data',
      handBuilt({ t: { dtype: 'F32', shape: [2], data_offsets: [0, 8] } }, new Uint8Array(4)),
      /tensor "t" has data_offsets out of range \(expected 0 ≤ begin ≤ end ≤ 4, got \[0, 8\]\)/,
    ],
    [
      'a byte count that does not fit the shape',
      handBuilt({ t: { dtype: 'F16', shape: [3], data_offsets: [0, 4] } }, new Uint8Array(4)),
      /tensor "t" of shape \[3\] and dtype F16 has the wrong byte count \(expected 6 bytes, got 4 bytes\)/,
    ],
    ['a missing shape', handBuilt({ t: { dtype: 'F32', data_offsets: [0, 4] } }, new Uint8Array(4)), /tensor "t" has an invalid shape/],
  ])('rejects %s, naming the file', (_, bytes, message) => {
    expect(() => readSafetensors(bytes, 'w.safetensors')).toThrow(SafetensorsError);
    expect(() => readSafetensors(bytes, 'w.safetensors')).toThrow(message);
  });

  it('rejects a dtype it cannot decode, naming the file, the tensor and the dtype', () => {
    const bytes = handBuilt({ steps: { dtype: 'I64', shape: [1], data_offsets: [0, 8] } }, new Uint8Array(8));
    expect(() => readSafetensors(bytes, 'w.safetensors')).toThrow(UnsupportedDtypeError);
    expect(() => readSafetensors(bytes, 'w.safetensors')).toThrow('w.safetensors: weight "steps" has dtype I64, which Lopper cannot read (expected F32, F16 or BF16, got I64)');
  });

  it('parses the header alone', () => {
    const header = parseSafetensorsHeader(handBuilt({ t: { dtype: 'F32', shape: [1], data_offsets: [0, 4] } }, new Uint8Array(4)), 'x');
    expect(header.entries.get('t')).toEqual({ dtype: 'F32', shape: [1], begin: 0, end: 4 });
  });
});

describe('parseSafetensorsHeader byte ranges', () => {
  const data = new Uint8Array(16);
  it('refuses tensors that share bytes, naming both', () => {
    const header = { a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, b: { dtype: 'F32', shape: [4], data_offsets: [4, 20] } };
    expect(() => parseSafetensorsHeader(handBuilt(header, new Uint8Array(20)), 'model.safetensors')).toThrow(/^model\.safetensors: tensors "a" and "b" share bytes/);
  });
  it('refuses a hole in the data and bytes after the last tensor', () => {
    const hole = { a: { dtype: 'F32', shape: [1], data_offsets: [0, 4] }, b: { dtype: 'F32', shape: [2], data_offsets: [8, 16] } };
    expect(() => parseSafetensorsHeader(handBuilt(hole, data), 'h.safetensors')).toThrow(/^h\.safetensors: bytes 4…8 of the data belong to no tensor/);
    const tail = { a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] } };
    expect(() => parseSafetensorsHeader(handBuilt(tail, data), 't.safetensors')).toThrow(/^t\.safetensors: the tensors cover 8 of the 16 data bytes/);
  });
});

describe('readSafetensorsCheckpoint', () => {
  const one = (name: string, value: number): Uint8Array => encodeSafetensors(new Map([[name, { shape: [1], values: new Float32Array([value]) }]]));

  it('reads the shards an index names, and records where each tensor came from', async () => {
    const files = memoryFiles({
      'm/model.safetensors.index.json': { metadata: { total_size: 8 }, weight_map: { a: 'model-00001-of-00002.safetensors', b: 'model-00002-of-00002.safetensors' } },
      'm/model-00001-of-00002.safetensors': one('a', 1),
      'm/model-00002-of-00002.safetensors': one('b', 2),
    });
    const checkpoint = await readSafetensorsCheckpoint(files, 'm');
    expect([...checkpoint.tensors.entries()].map(([n, t]) => [n, t.values[0]])).toEqual([
      ['a', 1],
      ['b', 2],
    ]);
    expect(checkpoint.sources.get('b')).toBe('m/model-00002-of-00002.safetensors');
    expect(checkpoint.files).toEqual(['m/model.safetensors.index.json', 'm/model-00001-of-00002.safetensors', 'm/model-00002-of-00002.safetensors']);
  });

  it('names a shard the index lists but the drop lacks', async () => {
    const files = memoryFiles({ 'm/model.safetensors.index.json': { weight_map: { a: 'one.safetensors', b: 'two.safetensors' } }, 'm/one.safetensors': one('a', 1) });
    await expect(readSafetensorsCheckpoint(files, 'm')).rejects.toThrow(
      'm/model.safetensors.index.json: weight_map lists "two.safetensors" but no such file was dropped (got: model.safetensors.index.json, one.safetensors)',
    );
  });

  it('names a tensor the index places in a shard that does not hold it', async () => {
    const files = memoryFiles({ 'm/model.safetensors.index.json': { weight_map: { a: 'one.safetensors', c: 'one.safetensors' } }, 'm/one.safetensors': one('a', 1) });
    await expect(readSafetensorsCheckpoint(files, 'm')).rejects.toThrow('m/one.safetensors: does not hold c, which model.safetensors.index.json places in it');
  });

  it('rejects an index without weight_map', async () => {
    const files = memoryFiles({ 'm/model.safetensors.index.json': { metadata: {} } });
    await expect(readSafetensorsCheckpoint(files, 'm')).rejects.toThrow('m/model.safetensors.index.json: has no weight_map');
  });

  it('reads every .safetensors file of the folder when there is no index', async () => {
    const files = memoryFiles({ 'm/a.safetensors': one('a', 1), 'm/b.safetensors': one('b', 2), 'other/c.safetensors': one('c', 3) });
    const checkpoint = await readSafetensorsCheckpoint(files, 'm');
    expect([...checkpoint.tensors.keys()]).toEqual(['a', 'b']);
  });
});

/** `handBuilt` with `__metadata__` padded so that the data starts at an odd byte offset. */
function oddlyPlaced(header: Record<string, unknown>, data: Uint8Array): Uint8Array {
  for (let pad = ''; ; pad += ' ') {
    const bytes = handBuilt({ __metadata__: { pad }, ...header }, data);
    if ((8 + Number(new DataView(bytes.buffer).getBigUint64(0, true))) % 2 === 1) return bytes;
  }
}

describe('reading without copies', () => {
  /** An InputFile over `bytes` that only reads by byte range, recording the ranges asked for. */
  function rangeFile(path: string, bytes: Uint8Array): { file: InputFile; ranges: [number, number][] } {
    const ranges: [number, number][] = [];
    const file: InputFile = {
      path,
      size: bytes.byteLength,
      bytes: () => Promise.reject(new Error(`${path} was read whole`)),
      readRangeSync: (begin, end) => {
        ranges.push([begin, end]);
        return bytes.slice(begin, end);
      },
    };
    return { file, ranges };
  }

  it('views aligned F32 data in the file bytes and copies misaligned data, with the same values', () => {
    const values = new Float32Array([1.5, -2, 3.25]);
    const aligned = encodeSafetensors(new Map([['w', { shape: [3], values }]]));
    const viewed = readSafetensors(aligned, 'a.safetensors').tensors.get('w')?.values;
    expect(viewed?.buffer).toBe(aligned.buffer);
    expect(viewed).toEqual(values);
    // A header of odd length puts the data at an odd byte offset: it cannot be viewed as float32.
    const misaligned = oddlyPlaced({ w: { dtype: 'F32', shape: [3], data_offsets: [0, 12] } }, new Uint8Array(values.buffer));
    const copied = readSafetensors(misaligned, 'm.safetensors').tensors.get('w')?.values;
    expect(copied?.buffer).not.toBe(misaligned.buffer);
    expect(copied).toEqual(values);
  });

  it('decodes F16 and BF16 at odd offsets', () => {
    const bytes = oddlyPlaced(
      { h: { dtype: 'F16', shape: [2], data_offsets: [0, 4] }, b: { dtype: 'BF16', shape: [1], data_offsets: [4, 6] } },
      new Uint8Array([...le16([0x3c00, 0xb800]), ...le16([0xc040])]),
    );
    const { tensors } = readSafetensors(bytes, 'x');
    expect(tensors.get('h')?.values).toEqual(new Float32Array([1, -0.5]));
    expect(tensors.get('b')?.values).toEqual(new Float32Array([-3]));
  });

  it('reads a file on disk by byte range: the header now, each tensor when its values are read, nothing kept', async () => {
    const bytes = encodeSafetensors(
      new Map([
        ['a', { shape: [2], values: new Float32Array([1, 2]) }],
        ['b', { shape: [1, 3], values: new Float32Array([3, 4, 5]) }],
      ]),
    );
    const { file, ranges } = rangeFile('m/model.safetensors', bytes);
    const checkpoint = await readSafetensorsCheckpoint([file], 'm');
    const dataStart = 8 + Number(new DataView(bytes.buffer).getBigUint64(0, true));
    expect(ranges).toEqual([
      [0, 8],
      [0, dataStart],
    ]);
    const b = checkpoint.tensors.get('b');
    expect(b?.shape).toEqual([1, 3]);
    expect(ranges).toHaveLength(2);
    const first = b?.values;
    const second = b?.values;
    expect(first).toEqual(new Float32Array([3, 4, 5]));
    expect(second).toEqual(first);
    expect(second?.buffer).not.toBe(first?.buffer);
    expect(ranges.slice(2)).toEqual([
      [dataStart + 8, dataStart + 20],
      [dataStart + 8, dataStart + 20],
    ]);
  });

  it('refuses a tensor of a dtype it cannot read when the checkpoint is opened, not when it is read', async () => {
    const bytes = handBuilt({ steps: { dtype: 'I64', shape: [1], data_offsets: [0, 8] } }, new Uint8Array(8));
    await expect(readSafetensorsCheckpoint([rangeFile('m/w.safetensors', bytes).file], 'm')).rejects.toThrow(UnsupportedDtypeError);
  });

  it('checks the header of a file read by range as that of a whole file', async () => {
    const bytes = handBuilt({ a: { dtype: 'F32', shape: [1], data_offsets: [0, 4] } }, new Uint8Array(4), 1000);
    await expect(readSafetensorsCheckpoint([rangeFile('m/w.safetensors', bytes).file], 'm')).rejects.toThrow('m/w.safetensors: declares a header longer than the file');
    await expect(readSafetensorsCheckpoint([rangeFile('m/w.safetensors', new Uint8Array(3)).file], 'm')).rejects.toThrow('is too short for a safetensors header');
  });
});
