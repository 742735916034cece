/**
 * Numbers written the way Python's `repr(float)` writes them (what Distiller's csv.writer puts in
 * a cell): shortest round-trip digits, fixed notation for exponents -4 … 15, `1e-05` style beyond.
 */
export function pythonFloat(x: number): string {
  if (Number.isNaN(x)) return 'nan';
  if (!Number.isFinite(x)) return x > 0 ? 'inf' : '-inf';
  if (x === 0) return Object.is(x, -0) ? '-0.0' : '0.0';
  const sign = x < 0 ? '-' : '';
  const [mantissa, exponentText] = Math.abs(x).toExponential().split('e');
  const digits = mantissa.replace('.', '');
  const exponent = Number(exponentText);
  if (exponent >= -4 && exponent < 16) {
    if (exponent < 0) return `${sign}0.${'0'.repeat(-exponent - 1)}${digits}`;
    const whole = digits.slice(0, exponent + 1).padEnd(exponent + 1, '0');
    return `${sign}${whole}.${digits.slice(exponent + 1) || '0'}`;
  }
  const fraction = digits.length > 1 ? `.${digits.slice(1)}` : '';
  return `${sign}${digits[0]}${fraction}e${exponent < 0 ? '-' : '+'}${String(Math.abs(exponent)).padStart(2, '0')}`;
}

/**
 * A float that YAML 1.1 (PyYAML) and YAML 1.2 both read as a float: Python's digits, with a `.`
 * in the mantissa of exponent forms (PyYAML reads `1e-05` as a string).
 */
export function yamlFloat(x: number): string {
  const text = pythonFloat(x);
  if (text === 'nan') return '.nan';
  if (text.endsWith('inf')) return text.replace('inf', '.inf');
  return text.replace(/^(-?\d+)e/, '$1.0e');
}
