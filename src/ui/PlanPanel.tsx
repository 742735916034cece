import { unzipSync } from 'fflate';
import { useEffect, useState } from 'react';
import { CRITERIA, GRANULARITIES } from '../core/criteria/types';
import { ALLOCATIONS } from '../core/plan';
import { unavailableChoice } from '../core/pipeline/capabilities';
import {
  applyDare,
  canSaveToFolder,
  exportPlan,
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
  setExportFloat16,
  setGlobalTarget,
  setGranularity,
  setUnitSparsity,
  toggleLock,
  undo,
} from '../store/plan-actions';
import type { GroupPreview } from '../core/structure';
import { useLopper, type LopperState, type Snapshot } from '../store/state';
import { collectPickedFiles } from '../io/browser-files';
import { downloadBlob } from './download';
import { formatCount, formatMs, formatNumber, formatPercent } from './format';
import { Choice } from './Choice';

const selectPlan = (s: LopperState) => s.plan;
const selectResult = (s: LopperState) => s.planResult;
const selectModel = (s: LopperState) => s.model;
const selectDense = (s: LopperState) => s.denseEvaluation;
const selectHistory = (s: LopperState) => s.history;
const selectSnapshots = (s: LopperState) => s.snapshots;
const selectExporting = (s: LopperState) => s.exporting;
const selectOptions = (s: LopperState) => s.allocationOptions;
const selectDelta = (s: LopperState) => s.delta;
const selectDemo = (s: LopperState) => s.demoName;

const formatBytes = (bytes: number): string => (bytes < 1024 ? `${bytes} B` : bytes < 1024 ** 2 ? `${(bytes / 1024).toFixed(1)} KiB` : `${(bytes / 1024 ** 2).toFixed(2)} MiB`);

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
  const history = useLopper(selectHistory);
  const options = useLopper(selectOptions);
  const model = useLopper(selectModel);
  const why = (what: 'criterion' | 'granularity' | 'allocation', option: string): string | undefined =>
    model ? unavailableChoice(model.capabilities, what, option, plan) : undefined;
  return (
    <div className="plan-controls">
      <label className="field global">
        <span>Global sparsity</span>
        <input
          type="range"
          data-testid="global-sparsity"
          min={0}
          max={1}
          step={0.01}
          value={plan.target}
          aria-valuetext={formatPercent(plan.target)}
          onChange={(e) => setGlobalTarget(Number(e.target.value))}
        />
        <output>{formatPercent(plan.target)}</output>
      </label>
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
      <div className="buttons">
        <button type="button" className="button small secondary" data-testid="plan-undo" disabled={history.past.length === 0} onClick={undo} title="Undo (Ctrl+Z)">
          Undo
        </button>
        <button type="button" className="button small secondary" data-testid="plan-redo" disabled={history.future.length === 0} onClick={redo} title="Redo (Ctrl+Shift+Z)">
          Redo
        </button>
      </div>
    </div>
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
      <ul>
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

function Live() {
  const result = useLopper(selectResult);
  const model = useLopper(selectModel);
  const dense = useLopper(selectDense);
  const plan = useLopper(selectPlan);
  if (!model) return null;
  if (!result) return <p className="hint">Move the global slider, a layer slider or click a heatmap cell: the plan is applied in the worker and the model measured again.</p>;
  const e = result.evaluation;
  return (
    <div className="plan-live">
      <dl className="facts" data-testid="plan-live">
        <dt>Sparsity achieved</dt>
        <dd data-testid="plan-sparsity" data-value={String(result.overall)}>
          {formatPercent(result.overall)} of {formatCount(model.prunableParams)} prunable weights
        </dd>
        <dt>Parameters left</dt>
        <dd>
          {formatCount(result.params)} of {formatCount(model.totalParams)}
        </dd>
        {e.accuracy !== undefined && (
          <>
            <dt>Accuracy</dt>
            <dd>
              {formatPercent(e.accuracy)} (dense {dense?.accuracy !== undefined ? formatPercent(dense.accuracy) : '—'})
            </dd>
          </>
        )}
        {e.loss !== undefined && (
          <>
            <dt>Loss</dt>
            <dd>
              {formatNumber(e.loss)} (dense {dense?.loss !== undefined ? formatNumber(dense.loss) : '—'})
            </dd>
          </>
        )}
        {e.divergence !== undefined && (
          <>
            <dt>JS divergence vs dense</dt>
            <dd>{formatNumber(e.divergence)}</dd>
          </>
        )}
        {e.latencyMs !== undefined && (
          <>
            <dt>One batch of {e.batchSize}</dt>
            <dd>
              {formatMs(e.latencyMs)} (dense {dense?.latencyMs !== undefined ? formatMs(dense.latencyMs) : '—'})
            </dd>
          </>
        )}
        <dt>Size</dt>
        <dd data-testid="plan-sizes">
          {formatBytes(result.sizes.denseBytes)} float32 · {formatBytes(result.sizes.gzipBytes)} gzipped
          {result.sizes.shrunkBytes !== undefined ? ` · ${formatBytes(result.sizes.shrunkBytes)} shrunk` : ''}
        </dd>
      </dl>
      {plan.granularity !== 'channels' && result.overall > 0 && (
        <p className="warning" role="note">
          Unstructured and N:M zeros make the download smaller once compressed, but TF.js runs dense kernels: inference will not get faster. Use the channels granularity to shrink
          the model.
        </p>
      )}
      {result.skipped.length > 0 && <p className="hint">Left dense: {result.skipped.map((s) => `${s.unit} (${s.reason})`).join('; ')}</p>}
    </div>
  );
}

function UnitSliders() {
  const plan = useLopper(selectPlan);
  const result = useLopper(selectResult);
  const model = useLopper(selectModel);
  if (!model) return null;
  return (
    <table className="unit-sliders">
      <thead>
        <tr>
          <th scope="col">Unit</th>
          <th scope="col">Sparsity</th>
          <th scope="col" className="num">
            Planned
          </th>
          <th scope="col" className="num">
            Achieved
          </th>
          <th scope="col">Lock</th>
        </tr>
      </thead>
      <tbody>
        {model.units.map((unit) => {
          const value = plan.sparsity[unit] ?? 0;
          const locked = plan.locked.includes(unit);
          return (
            <tr key={unit}>
              <th scope="row">{unit}</th>
              <td>
                <input
                  type="range"
                  data-testid="layer-sparsity"
                  data-layer={unit}
                  min={0}
                  max={1}
                  step={0.01}
                  value={value}
                  aria-label={`Sparsity of ${unit}`}
                  aria-valuetext={formatPercent(value)}
                  onChange={(e) => setUnitSparsity(unit, Number(e.target.value))}
                />
              </td>
              <td className="num">{formatPercent(value)}</td>
              <td className="num">{result?.achieved[unit] !== undefined ? formatPercent(result.achieved[unit]) : ''}</td>
              <td>
                <input type="checkbox" data-testid="layer-lock" data-layer={unit} checked={locked} aria-label={`Lock ${unit}`} onChange={() => toggleLock(unit)} />
              </td>
            </tr>
          );
        })}
      </tbody>
    </table>
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
                  {s.result ? formatBytes(s.result.sizes.gzipBytes) : '—'}
                </td>
              ))}
            </tr>
          </tbody>
        </table>
      )}
    </div>
  );
}

async function saveIntoFolder(zip: Uint8Array): Promise<void> {
  type Writable = { write(data: Blob): Promise<void>; close(): Promise<void> };
  type Directory = { getFileHandle(name: string, options: { create: boolean }): Promise<{ createWritable(): Promise<Writable> }> };
  const picker = (window as unknown as { showDirectoryPicker: () => Promise<Directory> }).showDirectoryPicker;
  const directory = await picker();
  for (const [name, bytes] of Object.entries(unzipSync(zip))) {
    const handle = await directory.getFileHandle(name, { create: true });
    const writable = await handle.createWritable();
    await writable.write(new Blob([bytes as Uint8Array<ArrayBuffer>]));
    await writable.close();
  }
}

function Export() {
  const exporting = useLopper(selectExporting);
  const model = useLopper(selectModel);
  const run = async (toFolder: boolean) => {
    const exported = await exportPlan();
    if (!exported) return;
    if (toFolder) await saveIntoFolder(exported.zip);
    else downloadBlob(exported.fileName, new Blob([exported.zip as Uint8Array<ArrayBuffer>], { type: 'application/zip' }));
  };
  const check = exporting.result?.check;
  return (
    <div className="export">
      <label className="field">
        <input type="checkbox" checked={exporting.float16} onChange={(e) => setExportFloat16(e.target.checked)} />
        <span>float16 weights</span>
      </label>
      <button type="button" className="button" data-testid="export-button" disabled={exporting.status === 'running' || !model} onClick={() => void run(false)}>
        Download .zip
      </button>
      {canSaveToFolder() && (
        <button type="button" className="button secondary" disabled={exporting.status === 'running' || !model} onClick={() => void run(true)}>
          Save into a folder…
        </button>
      )}
      {check && (
        <span className={check.ok ? 'hint' : 'field-error'} data-testid="export-check" data-ok={String(check.ok)}>
          Reloaded export: {check.metric} {formatNumber(check.reloaded)} vs {formatNumber(check.inApp)} in the app ({check.ok ? 'reproduced' : 'MISMATCH — not saved'})
        </span>
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
      <ChannelGroups />
      {model.capabilities.delta ? (
        <Delta />
      ) : (
        <p className="hint" data-testid="delta-unavailable">
          Delta pruning (DARE): {model.capabilities.unavailable['delta'] ?? 'not available for this model'}
        </p>
      )}
      <Live />
      <UnitSliders />
      <Snapshots />
      <Export />
    </section>
  );
}
