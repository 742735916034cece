import { useEffect, useState } from 'react';
import { cancelJob } from '../store/actions';
import { useLopper, type JobState, type LopperState } from '../store/state';
import { formatMs } from './format';

const selectJobs = (s: LopperState) => s.jobs;
const selectNotice = (s: LopperState) => s.notice;

function eta(job: JobState, now: number): string {
  if (job.total <= 0 || job.done <= 0) return '';
  const elapsed = now - job.startedAt;
  const remaining = (elapsed / job.done) * (job.total - job.done);
  return ` · about ${formatMs(remaining)} left`;
}

function JobRow({ job }: { job: JobState }) {
  const [now, setNow] = useState(() => performance.now());
  useEffect(() => {
    const timer = setInterval(() => setNow(performance.now()), 500);
    return () => clearInterval(timer);
  }, []);
  return (
    <div className="job" data-testid="job">
      <span className="job-label">{job.label}</span>
      <progress max={job.total || undefined} value={job.total ? job.done : undefined} aria-label={job.label} />
      <span className="job-count">
        {job.total > 0 ? `${job.done}/${job.total}` : ''}
        {eta(job, now)}
      </span>
      {job.cancellable && (
        <button type="button" className="button small" onClick={() => cancelJob(job.id)}>
          Cancel
        </button>
      )}
    </div>
  );
}

export function JobBar() {
  const jobs = useLopper(selectJobs);
  const notice = useLopper(selectNotice);
  return (
    <footer className="jobbar" aria-live="polite" aria-label="Background work">
      {jobs.length === 0 ? <span className="hint">{notice ?? 'Idle'}</span> : jobs.map((job) => <JobRow key={job.id} job={job} />)}
    </footer>
  );
}
