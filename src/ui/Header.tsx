import { useEffect, useState } from 'react';
import { openDemo, switchBackend } from '../store/actions';
import { loadDemoIndex } from '../store/actions';
import { useLopper } from '../store/state';
import type { DemoEntry } from '../worker/demo';
import { BACKENDS, type BackendName } from '../worker/protocol';

const selectBackend = (s: ReturnType<typeof useLopper.getState>) => s.backend;
const selectPending = (s: ReturnType<typeof useLopper.getState>) => s.backendPending;
const selectDemo = (s: ReturnType<typeof useLopper.getState>) => s.demoName;

function ModelPicker() {
  const [demos, setDemos] = useState<DemoEntry[]>([]);
  const demoName = useLopper(selectDemo);
  useEffect(() => {
    void loadDemoIndex().then(setDemos);
  }, []);
  return (
    <label className="field">
      <span>Demo model</span>
      <select data-testid="model-picker" value={demoName ?? ''} onChange={(e) => e.target.value && void openDemo(e.target.value)}>
        {demoName === null && <option value="">(your model)</option>}
        {demos.map((demo) => (
          <option key={demo.name} value={demo.name} title={demo.description}>
            {demo.title}
          </option>
        ))}
      </select>
    </label>
  );
}

function BackendControls() {
  const backend = useLopper(selectBackend);
  const pending = useLopper(selectPending);
  const available = backend?.available ?? [...BACKENDS];
  const threads = backend?.name === 'wasm' && backend.wasmThreads ? ` · ${backend.wasmThreads} threads` : '';
  return (
    <div className="backend">
      <span
        className={`badge backend-${backend?.name ?? 'none'}`}
        data-testid="backend-badge"
        title={backend?.reason ?? 'Starting…'}
        tabIndex={0}
        aria-label={`Compute backend: ${backend?.name ?? 'starting'}. ${backend?.reason ?? ''}`}
      >
        {pending ? `→ ${pending}…` : (backend?.name ?? 'starting…')}
        {threads}
      </span>
      <label className="field">
        <span className="visually-hidden">Compute backend</span>
        <select
          data-testid="backend-select"
          value={backend?.name ?? ''}
          disabled={!backend || pending !== null}
          onChange={(e) => void switchBackend(e.target.value as BackendName)}
        >
          {!backend && <option value="">…</option>}
          {BACKENDS.map((name) => (
            <option key={name} value={name} disabled={!available.includes(name)}>
              {name}
            </option>
          ))}
        </select>
      </label>
    </div>
  );
}

export function Header() {
  return (
    <header className="header">
      <h1 className="brand">
        <span aria-hidden="true">✂︎</span> Lopper
      </h1>
      <ModelPicker />
      <div className="spacer" />
      <BackendControls />
    </header>
  );
}
