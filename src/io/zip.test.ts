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

describe('expandZips', () => {
  it('passes other files through in order', async () => {
    const zip = zipSync({ 'a.txt': bytes('a') });
    const files = await expandZips([inputFileFromBytes('x.json', bytes('{}')), inputFileFromBytes('z.ZIP', zip)]);
    expect(files.map((f) => f.path)).toEqual(['x.json', 'z/a.txt']);
  });
});
