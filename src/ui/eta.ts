import { useEffect, useRef, useState } from 'react';
import { formatMs } from './format';

/** What an ETA shows once the estimate is spent but the work goes on. */
export const FINISHING = 'finishing…';

export interface EtaState {
  /** The remaining time shown last, and when. */
  shown: number;
  at: number;
}

/**
 * The next remaining time to show: the rate so far predicts `raw`, but the number shown only
 * counts down (a slower step does not make it rise); null when there is nothing to estimate yet.
 */
export function steadyRemaining(previous: EtaState | null, done: number, total: number, startedAt: number, now: number): EtaState | null {
  if (total <= 0 || done <= 0 || done >= total) return null;
  const raw = ((now - startedAt) / done) * (total - done);
  if (!previous) return { shown: raw, at: now };
  const counted = previous.shown - (now - previous.at);
  return { shown: Math.min(raw, counted), at: now };
}

export function etaText(state: EtaState | null): string {
  if (!state) return '';
  return state.shown < 500 ? ` · ${FINISHING}` : ` · about ${formatMs(state.shown)} left`;
}

/** A counting-down ETA for work that reports `done` of `total` since `startedAt`, refreshed twice a second while `running`. */
export function useSteadyEta(done: number, total: number, startedAt: number, running: boolean): string {
  const state = useRef<EtaState | null>(null);
  const [, tick] = useState(0);
  useEffect(() => {
    state.current = null;
  }, [startedAt]);
  useEffect(() => {
    if (!running) return;
    const timer = setInterval(() => tick((n) => n + 1), 500);
    return () => clearInterval(timer);
  }, [running]);
  if (!running) return '';
  state.current = steadyRemaining(state.current, done, total, startedAt, performance.now());
  return etaText(state.current);
}
