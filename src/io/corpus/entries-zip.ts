import { baseFiles, text, withDeclaredSize, zeroBombZip, zip, type FileMap } from './bytes';
import type { CorpusEntry } from './types';

const SEQUENTIAL = 'e2e/fixtures/two-shards';

function inFolder(folder: string, files: FileMap): FileMap {
  return Object.fromEntries(Object.entries(files).map(([name, bytes]) => [`${folder}/${name}`, bytes]));
}

/** The model zipped `levels` times, each archive holding the next one. */
function nested(levels: number): Uint8Array {
  let archive = zip(inFolder('two-shards', baseFiles(SEQUENTIAL)));
  for (let level = levels - 1; level >= 1; level--) archive = zip({ [`level${level + 1}.zip`]: archive });
  return archive;
}

function zipEntry(name: string, cls: string, archive: () => Uint8Array, expect: CorpusEntry['expect']): CorpusEntry {
  return { name, class: cls, kind: 'zip', files: () => ({ [`${name}.zip`]: archive() }), model: `${name}.zip`, command: 'inspect', expect };
}

export function zipEntries(): CorpusEntry[] {
  return [
    zipEntry('zip-traversal', 'zip path traversal', () => zip({ ...inFolder('two-shards', baseFiles(SEQUENTIAL)), '../evil.json': text('{}') }), {
      kind: 'error',
      file: 'zip-traversal.zip',
      message: /holds "\.\.\/evil\.json", a path outside the archive/,
    }),
    zipEntry('zip-bomb-declared', 'zip bomb (declared size)', () => withDeclaredSize(zip({ 'bomb/model.json': text('{}') }), 0xf000_0000), {
      kind: 'error',
      file: 'zip-bomb-declared.zip',
      message: /would inflate to more than Lopper opens at once \(expected at most 2147483648 bytes of files, got 4026531840 bytes declared\)/,
    }),
    zipEntry('zip-bomb', 'zip bomb (inflates past the cap)', () => zeroBombZip('bomb/model.json', 36), {
      kind: 'error',
      file: 'zip-bomb.zip',
      message: /would inflate to more than Lopper opens at once \(expected at most 2147483648 bytes of files, got 2415919104 bytes declared\)/,
    }),
    zipEntry('zip-lying-size', 'zip whose headers declare less than the data inflates to', () => withDeclaredSize(zip(inFolder('two-shards', baseFiles(SEQUENTIAL))), 10), {
      kind: 'error',
      file: 'zip-lying-size.zip',
      message: /holds "two-shards\/[^"]+", whose data inflates past the size its header declares \(expected at most 10 bytes, got more than 10 bytes\)/,
    }),
    zipEntry('zip-nested-3', 'nested zips (three levels)', () => nested(3), { kind: 'opens' }),
    zipEntry('zip-nested-too-deep', 'nested zips (too deep)', () => nested(6), {
      kind: 'error',
      file: 'zip-nested-too-deep/level2/level3/level4/level5.zip',
      message: /is a zip nested 5 levels deep \(expected at most 4 levels of zips in zips\)/,
    }),
    zipEntry('zip-corrupt', 'not a zip', () => text('PK\u0003\u0004 this is not a zip archive'), {
      kind: 'error',
      file: 'zip-corrupt.zip',
      message: /is not a readable zip archive/,
    }),
  ];
}
