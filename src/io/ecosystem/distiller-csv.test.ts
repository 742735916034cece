import { describe, expect, it } from 'vitest';
import { distillerSensitivityCsv, SENSITIVITY_CSV } from './distiller-csv';
import type { EcosystemSweep } from './types';

const sweep: EcosystemSweep = {
  criterion: 'magnitude',
  granularity: 'unstructured',
  metric: 'accuracy',
  sparsities: [0, 0.5, 0.95],
  layers: ['conv1', 'dense,1'],
  values: [
    [0.982, 0.9, 0.5],
    [0.982, null, 0.125],
  ],
  dense: 0.982,
};

describe('Distiller sensitivity.csv', () => {
  it("writes Distiller's header and rows, accuracy as top1 percent", () => {
    const { files } = distillerSensitivityCsv('layers-model', sweep);
    expect(files.map((f) => f.path)).toEqual([SENSITIVITY_CSV]);
    expect(files[0].text).toBe(
      ['parameter,sparsity,top1,top5,loss', 'conv1,0.0,98.2,,', 'conv1,0.5,90.0,,', 'conv1,0.95,50.0,,', '"dense,1",0.0,98.2,,', '"dense,1",0.95,12.5,,', ''].join('\r\n'),
    );
  });

  it('fills loss for a loss sweep and names transformer parameters by their state_dict key', () => {
    const loss = distillerSensitivityCsv('hf-transformer', { ...sweep, metric: 'loss', layers: ['model.layers.0.mlp.up_proj'], values: [[2.5, 3, 1e-5]] });
    expect(loss.files[0].text.split('\r\n').slice(1, 4)).toEqual([
      'model.layers.0.mlp.up_proj.weight,0.0,,,2.5',
      'model.layers.0.mlp.up_proj.weight,0.5,,,3.0',
      'model.layers.0.mlp.up_proj.weight,0.95,,,1e-05',
    ]);
  });

  it('writes nothing for divergence and delta sweeps, or without a sweep', () => {
    for (const s of [
      { ...sweep, metric: 'js' as const },
      { ...sweep, metric: 'kl' as const },
      { ...sweep, delta: true },
    ]) {
      const part = distillerSensitivityCsv('graph-model', s);
      expect(part.files).toEqual([]);
      expect(part.notes.length).toBe(1);
    }
    expect(distillerSensitivityCsv('graph-model', undefined)).toEqual({ files: [], notes: [] });
  });
});
