"""Jobs: long work with an id, a status, progress and a result. `models` is what callers see; `queue` is the
PostgreSQL queue (procrastinate, imported only where used); the service is services/jobs.py."""

from prompt_alchemy.jobs.models import FINAL_STATUSES, JobInfo, JobItemInfo, JobProgress, job_status

__all__ = ["FINAL_STATUSES", "JobInfo", "JobItemInfo", "JobProgress", "job_status"]
