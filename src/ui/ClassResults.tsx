import { classAccuracy } from '../core/metrics/accuracy';
import type { ClassCounts } from '../core/types';
import { useLopper, type LopperState } from '../store/state';
import { formatPercent } from './format';

const selectEvaluation = (s: LopperState) => s.evaluation;
const selectDense = (s: LopperState) => s.denseEvaluation;

/** The most classes listed and drawn as a matrix; a larger classifier lists the classes the plan hurts most. */
const MAX_LISTED = 100;
const MAX_MATRIX = 30;

const show = (x: number | null): string => (x === null ? '—' : formatPercent(x));

function PerClassTable({ plan, dense }: { plan: ClassCounts; dense: ClassCounts | undefined }) {
  const planned = classAccuracy(plan);
  const denseAccuracy = dense ? classAccuracy(dense) : planned.map(() => null);
  const drop = (c: number) => (denseAccuracy[c] ?? 0) - (planned[c] ?? 0);
  const classes = planned.map((_, c) => c);
  const listed = classes.length > MAX_LISTED ? [...classes].sort((a, b) => drop(b) - drop(a) || a - b).slice(0, MAX_LISTED) : classes;
  return (
    <div className="table-scroll class-table" tabIndex={0} role="region" aria-label="Accuracy per class">
      <table data-testid="per-class-accuracy">
        <caption>
          Accuracy per class, plan against dense
          {listed.length < classes.length ? ` (the ${listed.length} classes of ${classes.length} with the largest drop)` : ''}
        </caption>
        <thead>
          <tr>
            <th scope="col">Class</th>
            <th scope="col" className="num">
              Samples
            </th>
            <th scope="col" className="num">
              Dense
            </th>
            <th scope="col" className="num">
              Plan
            </th>
            <th scope="col" className="num">
              Change
            </th>
          </tr>
        </thead>
        <tbody>
          {listed.map((c) => {
            const change = planned[c] !== null && denseAccuracy[c] !== null ? (planned[c] as number) - (denseAccuracy[c] as number) : null;
            return (
              <tr key={c} data-class={c} data-dense={denseAccuracy[c] ?? ''} data-plan={planned[c] ?? ''}>
                <th scope="row">{c}</th>
                <td className="num">{plan.total[c]}</td>
                <td className="num">{show(denseAccuracy[c])}</td>
                <td className="num">{show(planned[c])}</td>
                <td className={change !== null && change < 0 ? 'num worse' : 'num'}>{change === null ? '—' : `${change > 0 ? '+' : ''}${(change * 100).toFixed(1)} pt`}</td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </div>
  );
}

function ConfusionMatrix({ confusion }: { confusion: number[][] }) {
  const classes = confusion.length;
  return (
    <div className="table-scroll confusion" tabIndex={0} role="region" aria-label="Confusion matrix">
      <table data-testid="confusion-matrix" className="matrix">
        <caption>Confusion matrix of the plan: rows are the true class, columns the predicted one; darker = a larger share of the row</caption>
        <thead>
          <tr>
            <th scope="col">
              <span className="visually-hidden">true class</span>
              <span aria-hidden="true">true ↓ · predicted →</span>
            </th>
            {confusion.map((_, p) => (
              <th key={p} scope="col" className="num">
                {p}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          {confusion.map((row, t) => {
            const total = row.reduce((a, b) => a + b, 0);
            return (
              <tr key={t}>
                <th scope="row">{t}</th>
                {row.map((count, p) => {
                  const share = total === 0 ? 0 : count / total;
                  return (
                    <td
                      key={p}
                      className={p === t ? 'num diagonal' : 'num'}
                      data-true={t}
                      data-predicted={p}
                      title={`true ${t}, predicted ${p}: ${count} of ${total}`}
                      style={{ background: `color-mix(in srgb, var(--accent) ${Math.round(share * 45)}%, transparent)` }}
                    >
                      {count}
                    </td>
                  );
                })}
              </tr>
            );
          })}
        </tbody>
      </table>
      {classes > MAX_MATRIX && <p className="hint">{classes} classes: scroll the matrix sideways.</p>}
    </div>
  );
}

/** Per-class accuracy (plan and dense) and the plan's confusion matrix, for a classifier on labelled data. */
export function ClassResults() {
  const evaluation = useLopper(selectEvaluation);
  const dense = useLopper(selectDense);
  const plan = evaluation?.perClass;
  if (!plan) return null;
  const confusion = plan.confusion;
  return (
    <details className="class-results" open={plan.total.length <= MAX_MATRIX}>
      <summary>Per class ({plan.total.length} classes)</summary>
      <div className="class-body">
        <PerClassTable plan={plan} dense={dense?.perClass} />
        {confusion ? <ConfusionMatrix confusion={confusion} /> : <p className="hint">No confusion matrix above 100 classes.</p>}
      </div>
    </details>
  );
}
