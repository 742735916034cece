import { useEffect, useState } from 'react';
import { CRITERIA, GRANULARITIES } from '../core/criteria/types';
import { ALLOCATIONS } from '../core/plan';
import { unavailableChoice } from '../core/pipeline/capabilities';
import {
  applyDare,
  loadBaseModel,
  loadChannelGroups,
  searchDareRescale,
  setDareParameters,
  redo,
  removeSnapshot,
  restoreSnapshot,
  saveSnapshot,
  setAllocation,
  setAllocationOption,
  setCriterion,
  setGranularity,
  undo,
} from '../store/plan-actions';
import type { GroupPreview } from '../core/structure';
import { useLopper, type LopperState, type Snapshot } from '../store/state';
import { collectPickedFiles } from '../io/browser-files';
import { formatBytes, formatCount, formatMs, formatNumber, formatPercent } from './format';
import { Choice } from './Choice';
import { speedNote, type SpeedNote } from '../io/ecosystem/notes';
import { UnitTable } from './UnitTable';
import { ClassResults } from './ClassResults';

const selectPlan = (s: LopperState) => s.plan;
const selectResult = (s: LopperState) => s.planResult;
const selectModel = (s: LopperState) => s.model;
const selectDense = (s: LopperState) => s.denseEvaluation;
const selectSnapshots = (s: LopperState) => s.snapshots;
const selectOptions = (s: LopperState) => s.allocationOptions;
const selectDelta = (s: LopperState) => s.delta;
const selectDemo = (s: LopperState) => s.demoName;

function isTextEntry(target: EventTarget | null): boolean {
  if (!(target instanceof HTMLElement)) return false;
  if (target instanceof HTMLTextAreaElement) return true;
  return target instanceof HTMLInputElement && ['text', 'number', 'search'].includes(target.type);
}

/** Ctrl/⌘+Z undoes a plan change, Ctrl/⌘+Shift+Z or Ctrl+Y redoes it. */
function useUndoKeys(): void {
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if (!(e.ctrlKey || e.metaKey) || isTextEntry(e.target)) return;
      const key = e.key.toLowerCase();
      if (key === 'z' && !e.shiftKey) {
        e.preventDefault();
        undo();
      } else if ((key === 'z' && e.shiftKey) || key === 'y') {
        e.preventDefault();
        redo();
      }
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, []);
}

function Controls() {
  const plan = useLopper(selectPlan);
  const options = useLopper(selectOptions);
  const result = useLopper(selectResult);
  const model = useLopper(selectModel);
  const why = (what: 'criterion' | 'granularity' | 'allocation', option: string): string | undefined =>
    model ? unavailableChoice(model.capabilities, what, option, plan) : undefined;
  return (
    <div className="plan-controls">
      <Choice label="Allocation" testId="plan-allocation" value={plan.allocation} options={ALLOCATIONS} onChange={setAllocation} unavailable={(o) => why('allocation', o)} />
      <Choice
        label="Criterion"
        testId="plan-criterion"
        ariaLabel="Plan criterion"
        value={plan.criterion}
        options={CRITERIA}
        onChange={setCriterion}
        unavailable={(o) => why('criterion', o)}
      />
      <Choice
        label="Granularity"
        testId="plan-granularity"
        ariaLabel="Plan granularity"
        value={plan.granularity}
        options={GRANULARITIES}
        onChange={setGranularity}
        unavailable={(o) => why('granularity', o)}
      />
      {model && <SpeedHint note={speedNote(plan.granularity, model.format)} pruned={(result?.overall ?? 0) > 0} />}
      {plan.allocation === 'owl' && (
        <>
          <label className="field">
            <span>λ</span>
            <input type="number" step={0.01} min={0} max={0.5} value={options.lambda} onChange={(e) => setAllocationOption({ lambda: Number(e.target.value) })} />
          </label>
          <label className="field">
            <span>M</span>
            <input type="number" step={0.5} min={1} value={options.outlierThreshold} onChange={(e) => setAllocationOption({ outlierThreshold: Number(e.target.value) })} />
          </label>
        </>
      )}
      {plan.allocation === 'ecoflap' && (
        <label className="field">
          <span>ε</span>
          <input type="number" step={0.0001} min={0} value={options.epsilon} onChange={(e) => setAllocationOption({ epsilon: Number(e.target.value) })} />
        </label>
      )}
    </div>
  );
}

/** Whether the chosen granularity makes the export faster where it is deployed, beside the choice. */
function SpeedHint({ note, pruned }: { note: SpeedNote; pruned: boolean }) {
  if (note.faster || !pruned) return <small className="hint speed-note">{note.text}</small>;
  return (
    <p className="warning" role="note" data-testid="speed-warning">
      {note.text}
    </p>
  );
}

/** DARE / DAREx-q against a base model of the same architecture (the fine-tuned model is the open one). */
function Delta() {
  const delta = useLopper(selectDelta);
  const plan = useLopper(selectPlan);
  const demo = useLopper(selectDemo);
  const suggestedBase = demo === 'digits-cnn-inverted' ? 'digits-cnn' : null;
  const on = plan.dare !== undefined;
  return (
    <details className="delta" open={on || delta.base !== null || suggestedBase !== null}>
      <summary>Delta pruning (DARE) against a base model</summary>
      <div className="plan-controls">
        {suggestedBase && (
          <button type="button" className="button small secondary" data-testid="dare-load-demo-base" onClick={() => void loadBaseModel({ demo: suggestedBase })}>
            Load base: {suggestedBase}
          </button>
        )}
        <label className="button small secondary">
          Base model files…
          <input
            type="file"
            multiple
            className="visually-hidden"
            data-testid="dare-base-input"
            onChange={(e) => {
              if (e.target.files?.length) void loadBaseModel({ files: collectPickedFiles(e.target.files) });
              e.target.value = '';
            }}
          />
        </label>
        <span className="hint" data-testid="dare-base">
          {delta.base ? `base ${delta.base.name}: ${delta.base.changedUnits.length} units differ` : 'no base model loaded'}
        </span>
        <label className="field">
          <span>p (drop)</span>
          <input
            type="range"
            data-testid="dare-p"
            min={0}
            max={0.99}
            step={0.01}
            value={delta.p}
            onChange={(e) => setDareParameters(Number(e.target.value), 1 - Number(e.target.value))}
          />
          <output>{formatPercent(delta.p)}</output>
        </label>
        <label className="field">
          <span>q (rescale 1/q)</span>
          <input
            type="number"
            data-testid="dare-q"
            min={0.01}
            max={1}
            step={0.01}
            value={Number(delta.q.toFixed(4))}
            onChange={(e) => setDareParameters(delta.p, Number(e.target.value))}
          />
        </label>
        <button type="button" className="button small secondary" data-testid="dare-search" disabled={!delta.base} onClick={() => void searchDareRescale()}>
          Search q (DAREx-q)
        </button>
        <label className="field">
          <input type="checkbox" data-testid="dare-apply" disabled={!delta.base} checked={on} onChange={(e) => applyDare(e.target.checked)} />
          <span>Apply DARE to the plan</span>
        </label>
      </div>
      {delta.search && (
        <p className="hint" data-testid="dare-search-result">
          DAREx-q: best q = {delta.search.q.toFixed(3)} (loss {formatNumber(delta.search.value)}); tried{' '}
          {delta.search.curve.map((point) => `${point.q.toFixed(2)}→${formatNumber(point.value)}`).join(', ')}
        </p>
      )}
    </details>
  );
}

/** What shrinks together when the granularity is channels: shown before anything is applied. */
function ChannelGroups() {
  const plan = useLopper(selectPlan);
  const model = useLopper(selectModel);
  const [groups, setGroups] = useState<GroupPreview[] | null>(null);
  const channels = plan.granularity === 'channels';
  useEffect(() => {
    setGroups(null);
    if (channels && model) void loadChannelGroups().then(setGroups);
  }, [channels, model]);
  if (!channels) return null;
  if (!groups) return <p className="hint">Reading channel groups…</p>;
  return (
    <details className="groups" open data-testid="channel-groups">
      <summary>{groups.length} channel groups: whole neurons and filters go, with every coupled weight</summary>
      <ul tabIndex={0} aria-label="Channel groups">
        {groups.map((g) => (
          <li key={g.id} data-shrinkable={String(g.shrinkable)}>
            <strong>{g.producers.join(' + ')}</strong> · {g.channels} channels · {formatCount(g.paramsPerChannel)} parameters per channel
            {g.couplings.length > 0 ? ` · coupled by ${g.couplings.join(', ')}` : ''}
            {g.consumers.length > 0 ? ` · also cuts ${g.consumers.join(', ')}` : ''}
            {!g.shrinkable && <span className="field-error"> · cannot shrink: {g.reason}</span>}
          </li>
        ))}
      </ul>
    </details>
  );
}

/** What the plan does to the model, metric by metric, against the dense model. */
function Details() {
  const result = useLopper(selectResult);
  const model = useLopper(selectModel);
  const dense = useLopper(selectDense);
  if (!model) return null;
  if (!result) return <p className="hint">Move the target, a group or unit slider, or click a heatmap cell: the plan is applied in the worker and the model measured again.</p>;
  const e = result.evaluation;
  const row = (label: string, value: number | undefined, denseValue: number | undefined, show: (v: number) => string) =>
    value === undefined ? null : (
      <>
        <dt>{label}</dt>
        <dd>
          {show(value)} (dense {denseValue !== undefined ? show(denseValue) : '—'})
        </dd>
      </>
    );
  return (
    <div className="plan-live">
      <dl className="facts" aria-label="The plan against the dense model">
        {row('Accuracy', e.accuracy, dense?.accuracy, formatPercent)}
        {row('Loss', e.loss, dense?.loss, formatNumber)}
        {row('Perplexity', e.perplexity, dense?.perplexity, formatNumber)}
        {row('JS divergence vs dense', e.divergence, 0, formatNumber)}
        {e.batchSize !== undefined && row(`One batch of ${e.batchSize}`, e.latencyMs, dense?.latencyMs, formatMs)}
        <dt>Parameters</dt>
        <dd>
          {formatCount(result.params)} stored of {formatCount(model.totalParams)} · {formatCount(Math.round(model.totalParams - model.prunableParams * result.overall))} non-zero
        </dd>
      </dl>
      {result.skipped.length > 0 && <p className="hint">Left dense: {result.skipped.map((s) => `${s.unit} (${s.reason})`).join('; ')}</p>}
    </div>
  );
}

function Snapshots() {
  const snapshots = useLopper(selectSnapshots);
  const model = useLopper(selectModel);
  const [name, setName] = useState('');
  const headline = (s: Snapshot) => {
    const e = s.result?.evaluation;
    if (!e) return '—';
    if (e.accuracy !== undefined) return formatPercent(e.accuracy);
    if (e.perplexity !== undefined) return formatNumber(e.perplexity);
    return formatNumber(e.divergence ?? NaN);
  };
  return (
    <div className="snapshots">
      <form
        className="buttons"
        onSubmit={(e) => {
          e.preventDefault();
          saveSnapshot(name);
          setName('');
        }}
      >
        <label className="field">
          <span>Snapshot</span>
          <input type="text" value={name} placeholder="name" onChange={(e) => setName(e.target.value)} />
        </label>
        <button type="submit" className="button small secondary" data-testid="snapshot-save">
          Save snapshot
        </button>
      </form>
      {snapshots.length > 0 && model && (
        <table data-testid="snapshot-table">
          <thead>
            <tr>
              <th scope="col">Unit</th>
              {snapshots.map((s, i) => (
                <th scope="col" key={i} className="num">
                  {s.name}{' '}
                  <button type="button" className="link" onClick={() => restoreSnapshot(i)}>
                    restore
                  </button>{' '}
                  <button type="button" className="link" onClick={() => removeSnapshot(i)} aria-label={`Delete ${s.name}`}>
                    ×
                  </button>
                </th>
              ))}
            </tr>
          </thead>
          <tbody>
            {model.units.map((unit) => (
              <tr key={unit}>
                <th scope="row">{unit}</th>
                {snapshots.map((s, i) => (
                  <td key={i} className="num">
                    {formatPercent(s.plan.sparsity[unit] ?? 0)}
                  </td>
                ))}
              </tr>
            ))}
            <tr>
              <th scope="row">Sparsity</th>
              {snapshots.map((s, i) => (
                <td key={i} className="num">
                  {s.result ? formatPercent(s.result.overall) : '—'}
                </td>
              ))}
            </tr>
            <tr>
              <th scope="row">Metric</th>
              {snapshots.map((s, i) => (
                <td key={i} className="num">
                  {headline(s)}
                </td>
              ))}
            </tr>
            <tr>
              <th scope="row">gzipped</th>
              {snapshots.map((s, i) => (
                <td key={i} className="num">
                  {s.result?.sizes.gzipBytes !== undefined ? formatBytes(s.result.sizes.gzipBytes) : '—'}
                </td>
              ))}
            </tr>
          </tbody>
        </table>
      )}
    </div>
  );
}

export function PlanPanel() {
  const model = useLopper(selectModel);
  useUndoKeys();
  if (!model) return null;
  return (
    <section className="panel plan" aria-labelledby="plan-title">
      <h2 id="plan-title">Plan</h2>
      <Controls />
      <Details />
      <ClassResults />
      <UnitTable />
      <ChannelGroups />
      {model.capabilities.delta ? (
        <Delta />
      ) : (
        <p className="hint" data-testid="delta-unavailable">
          Delta pruning (DARE): {model.capabilities.unavailable['delta'] ?? 'not available for this model'}
        </p>
      )}
      <Snapshots />
    </section>
  );
}
