"""Waiting for a job, with a progress bar from tqdm.auto (a widget in
Jupyter, a terminal bar elsewhere), and the reconnect backoff shared by every
stream and wait (sync and rrmdyn.aio)."""

import time
from typing import IO, Any, Callable, Optional

from . import errors
from .datatypes import JobStatus

INITIAL_BACKOFF = 0.1
MAX_BACKOFF = 5.0


class Reconnect:
    """The retry budget of one stream or wait (as rrm::Client): after a
    retryable failure (rrmdyn.contract) wait `delay()` seconds (0.1 s doubling
    to 5 s) and try again, until `retry_seconds` pass without progress, when
    `failed()` raises Unavailable."""

    def __init__(self, retry_seconds: float) -> None:
        self.retry_seconds = retry_seconds
        self.backoff = INITIAL_BACKOFF
        self.failing_since: Optional[float] = None

    def progressed(self) -> None:
        self.failing_since = None
        self.backoff = INITIAL_BACKOFF

    def failed(self, error: errors.RrmError, what: str) -> float:
        """The seconds to wait before retrying after `error`; raises `error`
        itself when it is not retryable, Unavailable once the budget is spent."""
        if not error.retryable:
            raise error
        now = time.monotonic()
        if self.failing_since is None:
            self.failing_since = now
        if now - self.failing_since > self.retry_seconds:
            raise errors.Unavailable("%s: no progress for %.0f s after %s" % (what, self.retry_seconds, error))
        delay = self.backoff
        self.backoff = min(self.backoff * 2, MAX_BACKOFF)
        return delay


class Bar:
    """One job's progress bar (records stored of total), drawn by tqdm.auto."""

    def __init__(self, job_id: str, enabled: bool, file: Optional[IO[str]] = None) -> None:
        self.job_id = job_id
        self.enabled = enabled
        self.file = file
        self._bar: Any = None

    def show(self, status: JobStatus) -> None:
        if not self.enabled:
            return
        if self._bar is None:
            from tqdm.auto import tqdm
            self._bar = tqdm(total=status.total_records, desc=self.job_id, unit="rec", file=self.file,
                             initial=status.records_stored, dynamic_ncols=True)
        if self._bar.total != status.total_records:
            self._bar.total = status.total_records
        self._bar.set_postfix_str(status.state.short, refresh=False)
        self._bar.update(status.records_stored - self._bar.n)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None


class Waiter:
    """The rule of waiting for a job, shared by Job.wait, ShardedJob.wait and
    rrmdyn.aio's Job.wait (which do the polling and sleeping): after each
    answer `next_delay(status)` is None once the job has finished, else the
    seconds until the next poll; a server restart is waited out (Reconnect);
    DeadlineExceeded after `timeout` seconds. A tqdm.auto bar shows progress."""

    def __init__(self, job_id: str, *, progress: bool = True, poll_seconds: float = 0.5,
                 timeout: Optional[float] = None, retry_seconds: float = 60.0, file: Optional[IO[str]] = None) -> None:
        self.job_id = job_id
        self.poll_seconds = poll_seconds
        self.timeout = timeout
        self.start = time.monotonic()
        self.reconnect = Reconnect(retry_seconds)
        self.bar = Bar(job_id, progress, file)

    def next_delay(self, status: Optional[JobStatus], error: Optional[errors.RrmError] = None) -> Optional[float]:
        """After a poll that answered `status` or failed with `error`."""
        if status is not None:
            self.reconnect.progressed()
            self.bar.show(status)
            if status.finished:
                return None
            delay = self.poll_seconds
        else:
            assert error is not None
            delay = self.reconnect.failed(error, "job %s" % self.job_id)
        if self.timeout is not None and time.monotonic() - self.start > self.timeout:
            raise errors.DeadlineExceeded("job %s not finished after %.0f s" % (self.job_id, self.timeout))
        return delay

    def close(self) -> None:
        self.bar.close()


def wait_until_finished(job_id: str, get_status: Callable[[], JobStatus], **waiting: Any) -> JobStatus:
    """Polls `get_status` until the job has finished; returns its final status
    (`waiting`: Waiter's keyword arguments)."""
    waiter = Waiter(job_id, **waiting)
    try:
        while True:
            answer: Optional[JobStatus] = None
            try:
                answer = get_status()
            except errors.RrmError as error:
                delay = waiter.next_delay(None, error)
            else:
                delay = waiter.next_delay(answer)
            if delay is None:
                assert answer is not None
                return answer
            time.sleep(delay)
    finally:
        waiter.close()
