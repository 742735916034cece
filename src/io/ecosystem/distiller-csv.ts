import type { ModelFormatName } from '../types';
import { pythonFloat } from './python-float';
import type { EcosystemPart, EcosystemSweep } from './types';

/**
 * `sensitivity.csv` as Distiller's `sensitivities_to_csv` writes it (distiller/sensitivity.py):
 * Python's csv.writer (`\r\n` line ends, minimal quoting), a header `parameter, sparsity, top1,
 * top5, loss`, then one row per parameter × sparsity in sweep order, numbers as Python's repr.
 * Distiller's top1/top5 are percentages and `parameter` is the state_dict key of the weight.
 * A Lopper sweep measures one metric: accuracy fills top1 (× 100), loss fills loss, and the other
 * columns stay empty. Divergence sweeps (kl, js: no labels) and delta sweeps (DARE drop rates,
 * not sparsities) have no Distiller form; cells a sweep did not compute are left out.
 */

export const SENSITIVITY_CSV = 'sensitivity.csv';

const HEADER = ['parameter', 'sparsity', 'top1', 'top5', 'loss'];

function csvField(text: string): string {
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

/** The name Distiller's column holds: a transformer unit's PyTorch parameter, the unit name otherwise. */
export function parameterName(format: ModelFormatName, unit: string): string {
  return format === 'hf-transformer' ? `${unit}.weight` : unit;
}

export function distillerSensitivityCsv(format: ModelFormatName, sweep: EcosystemSweep | undefined): EcosystemPart {
  if (sweep === undefined) return { files: [], notes: [] };
  if (sweep.delta) return { files: [], notes: ['A delta sweep varies DARE drop rates, not sparsities, so no Distiller sensitivity.csv is written.'] };
  if (sweep.metric !== 'accuracy' && sweep.metric !== 'loss') {
    return { files: [], notes: [`A ${sweep.metric} sweep measures divergence from the dense model, not top1/top5/loss on labels, so no Distiller sensitivity.csv is written.`] };
  }
  const rows = [HEADER];
  sweep.layers.forEach((unit, row) => {
    sweep.sparsities.forEach((sparsity, column) => {
      const value = sweep.values[row]?.[column];
      if (value === null || value === undefined) return;
      const top1 = sweep.metric === 'accuracy' ? pythonFloat(value * 100) : '';
      const loss = sweep.metric === 'loss' ? pythonFloat(value) : '';
      rows.push([parameterName(format, unit), pythonFloat(sparsity), top1, '', loss]);
    });
  });
  const text = rows.map((cells) => cells.map(csvField).join(',') + '\r\n').join('');
  return { files: [{ path: SENSITIVITY_CSV, text }], notes: [] };
}
