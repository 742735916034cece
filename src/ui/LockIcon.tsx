/** A padlock, closed when `locked`; decorative (the control beside it carries the name). */
export function LockIcon({ locked }: { locked: boolean }) {
  return (
    <svg className={locked ? 'lock-icon locked' : 'lock-icon'} width="12" height="14" viewBox="0 0 12 14" aria-hidden="true" focusable="false">
      <rect x="1" y="6" width="10" height="7.5" rx="1.5" fill="currentColor" />
      <path d={locked ? 'M3 6V4a3 3 0 0 1 6 0v2' : 'M3 6V4a3 3 0 0 1 6 0'} fill="none" stroke="currentColor" strokeWidth="1.6" transform={locked ? undefined : 'translate(4 -1)'} />
    </svg>
  );
}
