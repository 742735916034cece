import { continueOnBackend, dismissError, dismissRecovery } from '../store/actions';
import { useLopper, type LopperState } from '../store/state';
import { BACKENDS } from '../worker/protocol';

const selectError = (s: LopperState) => s.error;
const selectRecovery = (s: LopperState) => s.recovery;
const selectBackend = (s: LopperState) => s.backend;

const HEADINGS = {
  restoring: 'The compute worker stopped; restoring your session…',
  restored: 'The compute worker stopped and was restarted.',
  failed: 'The compute worker stopped and the model could not be reopened.',
  stopped: 'The compute worker keeps stopping.',
} as const;

/** What happened to the worker and what was restored; stays until dismissed, and offers another backend. */
function RecoveryNotice() {
  const recovery = useLopper(selectRecovery);
  const backend = useLopper(selectBackend);
  if (!recovery) return null;
  const others = BACKENDS.filter((name) => (recovery.status === 'stopped' || name !== backend?.name) && (backend?.available ?? BACKENDS).includes(name));
  const busy = recovery.status === 'restoring';
  return (
    <div className="error-banner recovery-notice" role="alert" data-testid="recovery-notice" data-status={recovery.status}>
      <strong>{HEADINGS[recovery.status]}</strong> <span className="error-text">Why: {recovery.reason}.</span> <span data-testid="recovery-detail">{recovery.detail}</span>
      {!busy && others.length > 0 && (
        <span className="recovery-actions">
          {' '}
          Continue on{' '}
          {others.map((name, i) => (
            <span key={name}>
              {i > 0 && ' '}
              <button type="button" className="button small" data-testid="recovery-backend" data-backend={name} onClick={() => void continueOnBackend(name)}>
                {name}
              </button>
            </span>
          ))}
        </span>
      )}
      <button type="button" className="button small" data-testid="recovery-dismiss" onClick={dismissRecovery} aria-label="Dismiss the notice about the worker restart">
        Dismiss
      </button>
    </div>
  );
}

export function ErrorBanner() {
  const error = useLopper(selectError);
  return (
    <>
      <RecoveryNotice />
      {error && (
        <div className="error-banner" role="alert" data-testid="error-message" data-file={error.file ?? ''}>
          <strong>Could not do that.</strong> <span className="error-text">{error.message}</span>
          <span className="hint"> The open model is unchanged.</span>
          <button type="button" className="button small" onClick={dismissError} aria-label="Dismiss the error">
            Dismiss
          </button>
        </div>
      )}
    </>
  );
}
