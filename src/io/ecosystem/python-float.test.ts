import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { pythonFloat, yamlFloat } from './python-float';

describe('pythonFloat', () => {
  it("writes numbers as Python's repr does", () => {
    const cases: [number, string][] = [
      [0, '0.0'],
      [-0, '-0.0'],
      [1, '1.0'],
      [0.1, '0.1'],
      [0.1 + 0.2, '0.30000000000000004'],
      [98.2, '98.2'],
      [123456, '123456.0'],
      [0.0001, '0.0001'],
      [0.00001, '1e-05'],
      [1.5e-7, '1.5e-07'],
      [1e16, '1e+16'],
      [-2.5, '-2.5'],
      [NaN, 'nan'],
      [Infinity, 'inf'],
    ];
    for (const [x, text] of cases) expect(pythonFloat(x), String(x)).toBe(text);
  });

  it('gives YAML floats a mantissa dot so PyYAML reads them as floats', () => {
    expect([yamlFloat(0.5), yamlFloat(1e-5), yamlFloat(0), yamlFloat(NaN)]).toEqual(['0.5', '1.0e-05', '0.0', '.nan']);
    for (const x of [0.5, 1e-5, 0.30000000000000004, 3e-9]) expect(parse(yamlFloat(x))).toBe(x);
  });
});
