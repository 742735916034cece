import { useEffect, useState } from 'react';
import { loadDemoIndex, newSession, openDemo, switchBackend } from '../store/actions';
import { useLopper, type LopperState } from '../store/state';
import type { DemoEntry } from '../worker/demo';
import { BACKENDS, type BackendName } from '../worker/protocol';

const selectBackend = (s: ReturnType<typeof useLopper.getState>) => s.backend;
const selectPending = (s: ReturnType<typeof useLopper.getState>) => s.backendPending;
const selectDemo = (s: ReturnType<typeof useLopper.getState>) => s.demoName;
const selectPersistence = (s: LopperState) => s.persistence;

const SESSION_LABELS = { off: 'Not saved', saving: 'Saving…', saved: 'Session saved', error: 'Not saved' } as const;

/** Whether the session is saved in this browser, and a way to start afresh (asked twice). */
function SessionControls() {
  const persistence = useLopper(selectPersistence);
  const [confirming, setConfirming] = useState(false);
  const title =
    persistence.message ??
    (persistence.status === 'off'
      ? 'This browser offers no storage for the session; a reload starts afresh.'
      : 'The open files, data, plan, history, snapshots and results are kept in this browser; a reload restores them.');
  return (
    <div className="session">
      <span
        className={`badge session-${persistence.status}`}
        data-testid="session-status"
        data-state={persistence.status}
        title={title}
        tabIndex={0}
        aria-label={`${SESSION_LABELS[persistence.status]}. ${title}`}
      >
        {SESSION_LABELS[persistence.status]}
      </span>
      {persistence.status === 'error' && (
        <span className="field-error" data-testid="session-error">
          {persistence.message}
        </span>
      )}
      {confirming ? (
        <span className="session-confirm">
          <span>Discard this session?</span>{' '}
          <button
            type="button"
            className="button small"
            data-testid="new-session-confirm"
            onClick={() => {
              setConfirming(false);
              void newSession();
            }}
          >
            Discard and start anew
          </button>{' '}
          <button type="button" className="button small secondary" onClick={() => setConfirming(false)}>
            Keep it
          </button>
        </span>
      ) : (
        <button
          type="button"
          className="button small secondary"
          data-testid="new-session"
          onClick={() => setConfirming(true)}
          title="Close the model and forget the saved plan, history, snapshots and results"
        >
          New session
        </button>
      )}
    </div>
  );
}

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
      <SessionControls />
      <BackendControls />
    </header>
  );
}
