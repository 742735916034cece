import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { GENERATED_BY, LOPPER_VERSION } from './version';

describe('LOPPER_VERSION', () => {
  it('is the version in package.json', async () => {
    const pkg = JSON.parse(await readFile(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };
    expect(LOPPER_VERSION).toBe(pkg.version);
    expect(GENERATED_BY).toBe(`Lopper ${pkg.version}`);
  });
});
