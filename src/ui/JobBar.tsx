import { cancelJob } from '../store/actions';
import { useLopper, type JobState, type LopperState } from '../store/state';
import { useSteadyEta } from './eta';

const selectJobs = (s: LopperState) => s.jobs;
const selectNotice = (s: LopperState) => s.notice;

function JobRow({ job }: { job: JobState }) {
  const eta = useSteadyEta(job.done, job.total, job.startedAt, true);
  return (
    <div className="job" data-testid="job">
      <span className="job-label">{job.label}</span>
      <progress max={job.total || undefined} value={job.total ? job.done : undefined} aria-label={job.label} />
      <span className="job-count">
        {job.total > 0 ? `${job.done}/${job.total}` : ''}
        {eta}
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
