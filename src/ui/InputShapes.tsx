import { useEffect, useState } from 'react';
import type { GraphInputSpec } from '../kinds/graph-model/inputs';
import { setInputShapes } from '../store/actions';
import { selectBusy, useLopper } from '../store/state';

/** Where an input's size came from, in words. */
function origin(spec: GraphInputSpec): string {
  if (spec.source === 'option') return 'set here or by the dataset';
  if (spec.defaulted !== undefined) return `default: ${spec.defaulted}`;
  return spec.source === 'signature' ? 'from the signature' : 'from the placeholder';
}

/** Indices (after the batch) of the dimensions the model leaves dynamic. */
const dynamicDims = (spec: GraphInputSpec): number[] => spec.shape.flatMap((_, i) => (i > 0 && (spec.declared === undefined || (spec.declared[i] ?? -1) < 0) ? [i] : []));

const draftOf = (inputs: readonly GraphInputSpec[]): Record<string, string[]> =>
  Object.fromEntries(inputs.map((spec) => [spec.signatureKey ?? spec.name, spec.shape.slice(1).map((d) => String(d ?? 1))]));

/**
 * A GraphModel's inputs with their resolved shapes and where each size came from; the dimensions
 * the model leaves dynamic (e.g. an image's height and width) are editable and applied together,
 * which rebuilds the model and measures it (and the plan) again.
 */
export function InputShapes({ inputs }: { inputs: GraphInputSpec[] }) {
  const busy = useLopper(selectBusy);
  const [draft, setDraft] = useState(() => draftOf(inputs));
  useEffect(() => setDraft(draftOf(inputs)), [inputs]);
  const editable = inputs.filter((spec) => dynamicDims(spec).length > 0);
  const parsed = Object.fromEntries(Object.entries(draft).map(([name, dims]) => [name, dims.map(Number)]));
  const valid = Object.values(parsed).every((dims) => dims.every((d) => Number.isInteger(d) && d >= 1));
  const changed = inputs.some((spec) => {
    const key = spec.signatureKey ?? spec.name;
    return spec.shape.slice(1).some((d, i) => parsed[key]?.[i] !== d);
  });
  const apply = (): void => {
    const shapes: Record<string, number[]> = {};
    for (const spec of editable) shapes[spec.signatureKey ?? spec.name] = parsed[spec.signatureKey ?? spec.name];
    void setInputShapes(shapes);
  };
  return (
    <div className="input-shapes" data-testid="model-inputs">
      <h3>Inputs</h3>
      <table className="input-table">
        <thead>
          <tr>
            <th scope="col">Input</th>
            <th scope="col">Type</th>
            <th scope="col">Shape (batch × …)</th>
          </tr>
        </thead>
        <tbody>
          {inputs.map((spec) => {
            const key = spec.signatureKey ?? spec.name;
            const dynamic = new Set(dynamicDims(spec));
            return (
              <tr key={key} data-testid="model-input" data-name={key}>
                <th scope="row" className="mono">
                  {key}
                </th>
                <td>{spec.dtype}</td>
                <td>
                  <span className="shape-dims">
                    <span title="batch">{spec.fixedBatch ?? 'N'}</span>
                    {spec.shape.slice(1).map((d, i) =>
                      dynamic.has(i + 1) ? (
                        <input
                          key={i}
                          type="number"
                          min={1}
                          step={1}
                          className="dim-input"
                          aria-label={`${key} dimension ${i + 1}`}
                          data-testid={`input-dim-${i + 1}`}
                          value={draft[key]?.[i] ?? String(d)}
                          onChange={(event) => setDraft((prev) => ({ ...prev, [key]: (prev[key] ?? []).map((v, j) => (j === i ? event.target.value : v)) }))}
                        />
                      ) : (
                        <span key={i} title="fixed by the model">
                          {d}
                        </span>
                      ),
                    )}
                  </span>
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
      <ul className="input-origins">
        {inputs.map((spec) => (
          <li key={spec.signatureKey ?? spec.name} className="hint" data-testid="input-origin" data-name={spec.signatureKey ?? spec.name}>
            {inputs.length > 1 ? `${spec.signatureKey ?? spec.name}: ` : ''}
            {origin(spec)}
            {spec.valueNote !== undefined && `; ${spec.valueNote}`}
          </li>
        ))}
      </ul>
      {editable.length > 0 && (
        <p className="input-actions">
          <button type="button" className="button secondary" data-testid="apply-input-shapes" disabled={busy || !valid || !changed} onClick={apply}>
            Apply sizes
          </button>{' '}
          <button
            type="button"
            className="button secondary"
            data-testid="reset-input-shapes"
            disabled={busy || !inputs.some((s) => s.source === 'option')}
            onClick={() => void setInputShapes({})}
          >
            Defaults
          </button>
          {!valid && <span className="hint"> Each size is a whole number ≥ 1.</span>}
        </p>
      )}
      {editable.length > 0 && <p className="hint">Dynamic sizes (editable) set the synthetic inputs, FLOPs and activations; a dropped dataset sets them from its samples.</p>}
    </div>
  );
}
