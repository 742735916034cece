import { dismissError } from '../store/actions';
import { useLopper, type LopperState } from '../store/state';

const selectError = (s: LopperState) => s.error;

export function ErrorBanner() {
  const error = useLopper(selectError);
  if (!error) return null;
  return (
    <div className="error-banner" role="alert" data-testid="error-message" data-file={error.file ?? ''}>
      <strong>Could not do that.</strong> <span className="error-text">{error.message}</span>
      <span className="hint"> The open model is unchanged.</span>
      <button type="button" className="button small" onClick={dismissError} aria-label="Dismiss the error">
        Dismiss
      </button>
    </div>
  );
}
