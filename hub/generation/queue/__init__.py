"""The durable job queue: claim with leases, settle, retry, cancel, positions and ETA.

Every function takes the caller's session (one transaction) and flushes, never commits. The
package is split by concept (docs/jobs.md, ADR 0005); import from here:

* :mod:`.ids` — time-ordered job ids and lease tokens;
* :mod:`.refs` — the value types handed to workers, runners and sinks (``JobRef``,
  ``ImageRef``, ``Settled``);
* :mod:`.rows` — the Core tables and the shared reads;
* :mod:`.control` — pause/resume and the claim lock;
* :mod:`.claim` — the one-statement claim (caps, fair share, lease);
* :mod:`.leases` — renewals, cancel polls and progress while a job runs;
* :mod:`.settle` — succeed, retry, fail, cancel, release, reap (with the credits);
* :mod:`.snapshot` — expected order, positions and ETAs;
* :mod:`.purge` — deleting old failures and reporting their orphaned images;
* :mod:`.signals` — in-process wake-ups, owned by whoever runs the worker.
"""

from hub.generation.queue.claim import CLAIM_USER_WINDOW, claim_jobs
from hub.generation.queue.control import get_queue_control, lock_queue, set_paused
from hub.generation.queue.ids import new_job_id, new_lease_token
from hub.generation.queue.leases import cancel_requests, extend_leases, record_progress
from hub.generation.queue.purge import PurgeResult, count_old_jobs, purge_old_jobs
from hub.generation.queue.refs import ImageRef, JobRef, Outcome, Settled, job_ref
from hub.generation.queue.rows import (
    JOBS,
    QUEUE,
    QUEUE_ID,
    count_jobs,
    count_queued_by_owner,
    get_job,
)
from hub.generation.queue.settle import (
    cancel_queued,
    complete_job,
    fail_job,
    finish_canceled,
    reap_expired,
    release_job,
    request_cancel,
    retry_delay,
)
from hub.generation.queue.signals import QueueSignals
from hub.generation.queue.snapshot import (
    DEFAULT_SECONDS_PER_STEP,
    ETA_SAMPLE_JOBS,
    QueueSnapshot,
    queue_snapshot,
    seconds_per_step,
)

__all__ = [
    "CLAIM_USER_WINDOW",
    "DEFAULT_SECONDS_PER_STEP",
    "ETA_SAMPLE_JOBS",
    "JOBS",
    "QUEUE",
    "QUEUE_ID",
    "ImageRef",
    "JobRef",
    "Outcome",
    "PurgeResult",
    "QueueSignals",
    "QueueSnapshot",
    "Settled",
    "cancel_queued",
    "cancel_requests",
    "claim_jobs",
    "complete_job",
    "count_jobs",
    "count_old_jobs",
    "count_queued_by_owner",
    "extend_leases",
    "fail_job",
    "finish_canceled",
    "get_job",
    "get_queue_control",
    "job_ref",
    "lock_queue",
    "new_job_id",
    "new_lease_token",
    "purge_old_jobs",
    "queue_snapshot",
    "reap_expired",
    "record_progress",
    "release_job",
    "request_cancel",
    "retry_delay",
    "seconds_per_step",
    "set_paused",
]
