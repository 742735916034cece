import { zipSync } from 'fflate';
import { describe, expect, it } from 'vitest';
import { ArchiveError } from './errors';
import { inputFileFromBytes } from './input-file';
import { expandZip, expandZips } from './zip';

const bytes = (text: string): Uint8Array => new TextEncoder().encode(text);

describe('expandZip', () => {
  it('puts loose entries in a folder named after the zip and skips folders and __MACOSX', async () => {
    const zip = zipSync({ 'model.json': bytes('{}'), 'w.bin': bytes('1234'), 'sub/': {}, '__MACOSX/._model.json': bytes('x'), 'sub/.DS_Store': bytes('x') });
    const files = await expandZip(inputFileFromBytes('drops/my-model.zip', zip));
    expect(files.map((f) => f.path)).toEqual(['drops/my-model/model.json', 'drops/my-model/w.bin']);
    expect(files[1]?.size).toBe(4);
    expect(new TextDecoder().decode(await files[1]?.bytes())).toBe('1234');
  });

  it('keeps an archive that wraps everything in one folder as it is', async () => {
    const zip = zipSync({ inner: { 'model.json': bytes('{}'), 'w.bin': bytes('1') } });
    expect((await expandZip(inputFileFromBytes('outer.zip', zip))).map((f) => f.path)).toEqual(['inner/model.json', 'inner/w.bin']);
  });

  it('names an unreadable archive', async () => {
    const broken = expandZip(inputFileFromBytes('broken.zip', bytes('not a zip at all')));
    await expect(broken).rejects.toBeInstanceOf(ArchiveError);
    await expect(broken).rejects.toThrow(/^broken\.zip: is not a readable zip archive/);
  });
});

describe('zips in zips', () => {
  const nested = (levels: number): Uint8Array => {
    let archive = zipSync({ m: { 'model.json': bytes('{}') } });
    for (let level = levels; level >= 2; level--) archive = zipSync({ [`level${level}.zip`]: archive });
    return archive;
  };

  it('are expanded where they sit, down to the fourth level', async () => {
    expect((await expandZip(inputFileFromBytes('top.zip', nested(4)))).map((f) => f.path)).toEqual(['top/level2/level3/m/model.json']);
    const again = await expandZips(await expandZips([inputFileFromBytes('top.zip', nested(3))]));
    expect(again.map((f) => f.path)).toEqual(['top/level2/m/model.json']);
  });

  it('deeper than four levels are refused, naming the archive', async () => {
    await expect(expandZip(inputFileFromBytes('top.zip', nested(5)))).rejects.toThrow(
      'top/level2/level3/level4/level5.zip: is a zip nested 5 levels deep (expected at most 4 levels of zips in zips)',
    );
  });
});

describe('expandZips', () => {
  it('passes other files through in order', async () => {
    const zip = zipSync({ 'a.txt': bytes('a') });
    const files = await expandZips([inputFileFromBytes('x.json', bytes('{}')), inputFileFromBytes('z.ZIP', zip)]);
    expect(files.map((f) => f.path)).toEqual(['x.json', 'z/a.txt']);
  });
});

describe('expandZip refuses before inflating', () => {
  const zipOf = (files: Record<string, Uint8Array>): Uint8Array => zipSync(files);
  const asFile = (path: string, bytes: Uint8Array) => ({ path, size: bytes.length, bytes: async () => bytes });

  it('an archive whose headers declare more than the limit (a zip bomb), naming the sizes', async () => {
    const zip = zipOf({ 'model.json': new TextEncoder().encode('{}') });
    const view = new DataView(zip.buffer, zip.byteOffset, zip.byteLength);
    for (let i = 0; i + 4 <= zip.length; i++) if (view.getUint32(i, true) === 0x02014b50) view.setUint32(i + 24, 0xfffffff0, true);
    await expect(expandZip(asFile('bomb.zip', zip))).rejects.toThrow(
      /^bomb\.zip: would inflate to more than Lopper opens at once \(expected at most 2147483648 bytes of files, got 4294967280 bytes declared\)/,
    );
  });

  it('an entry whose path leaves the archive', async () => {
    const zip = zipOf({ '../outside.json': new TextEncoder().encode('{}') });
    await expect(expandZip(asFile('evil.zip', zip))).rejects.toThrow(/^evil\.zip: holds "\.\.\/outside\.json", a path outside the archive/);
  });
});
