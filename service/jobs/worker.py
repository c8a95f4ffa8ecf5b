"""The worker: loads the models once, leases jobs from the store and runs them through
the pipeline, renewing its leases and sending heartbeats from a keeper thread.

It survives a bad job (logs it with the job id, records the error, goes on). A lease it
lost (the job was cancelled, or it paused past the lease and another worker took over)
stops that job at the next batch; the store refuses its late writes anyway. Signal
handlers only set a flag: the first SIGTERM lets the current jobs finish (and, past
``handback_after_s``, gives back at the next batch what is still running), a second one
gives them back at once. A job given back is queued again without counting a delivery, so
another worker (or this one, restarted) takes it at once instead of one lease later.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from service.articles import Article, ArticleOptions
from service.jobs.store.base import Job, JobStore, Lease
from service.settings import DEFAULT_SOURCE_LANG

log = logging.getLogger(__name__)

PURGE_EVERY_S = 60.0  # how often a worker forgets results past their retention
KEEPER_JOIN_S = 15.0  # longest wait for the keeper thread (a store call: 10 s busy timeout)


class StopJob(Exception):
    """Raised from the progress callback to stop a job between two batches."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason  # "lost" | "released"


@dataclass
class _Held:
    lease: Lease
    lost: bool = False
    last_progress: float = 0.0


@dataclass
class WorkerStats:
    """Counters sent with each heartbeat; the API sums them for /metrics."""

    jobs_succeeded: int = 0
    jobs_failed: int = 0
    stage_seconds: dict[str, dict[str, float]] = field(default_factory=dict)

    def observe(self, timings: dict[str, float]) -> None:
        for key, seconds in timings.items():
            stage = key.removesuffix("_s")
            slot = self.stage_seconds.setdefault(stage, {"count": 0, "sum": 0.0})
            slot["count"] += 1
            slot["sum"] += float(seconds)


def article_from_payload(job: Job) -> tuple[Article, ArticleOptions]:
    """Read the payload the API writes: ``{"article": {title, text, source_lang}, "options"}``."""
    raw = job.payload.get("article") or {}
    article = Article(
        id=job.id,
        text=str(raw.get("text") or ""),
        title=raw.get("title"),
        source_lang=str(raw.get("source_lang") or DEFAULT_SOURCE_LANG),
        format=str(raw.get("format") or "text"),  # absent from text jobs' payloads
        glossary=tuple((e["source"], e["target"]) for e in raw.get("glossary") or ()),
        do_not_translate=tuple(raw.get("do_not_translate") or ()),
    )
    opts = job.payload.get("options") or {}
    options = ArticleOptions(
        beam=opts.get("beam"),
        bullets=opts.get("bullets"),
        summary_mode=opts.get("summary_mode"),
        drop_unsupported=opts.get("drop_unsupported"),
    )
    return article, options


class Worker:
    """One worker: ``load()`` once, then ``run(stop)`` until ``stop`` is set."""

    def __init__(
        self,
        store: JobStore,
        load_pipeline: Callable[[], Any],
        *,
        name: str | None = None,
        heartbeat_s: float = 2.0,
        idle_max_s: float = 0.5,
        progress_every_s: float = 0.5,
        claim_limit: int = 1,
        peek_every_s: float = 1.0,
        interactive_only: bool = False,
        handback_after_s: float | None = None,
    ) -> None:
        self.store = store
        self._load_pipeline = load_pipeline
        self.name = name or f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident() % 10000}"
        self.heartbeat_s = heartbeat_s
        self.idle_max_s = idle_max_s
        self.progress_every_s = progress_every_s
        self.claim_limit = claim_limit  # jobs leased at once; their sentences share batches
        self.pipeline: Any = None
        self.stats = WorkerStats()
        self.release_now = threading.Event()  # second SIGTERM: give jobs back
        self.peek_every_s = peek_every_s
        self.interactive_only = interactive_only  # leases interactive jobs only
        self.handback_after_s = handback_after_s  # stopping this long: give jobs back
        self._stop: threading.Event | None = None
        self._last_peek = 0.0
        self._nested = False
        self._held: dict[str, _Held] = {}
        self._lock = threading.Lock()
        self._keeper_stop = threading.Event()
        self._keeper: threading.Thread | None = None

    # -- life cycle -------------------------------------------------------------

    def load(self) -> None:
        """Load the models (once per process); the heartbeat says not ready until then."""
        self._start_keeper()
        self.pipeline = self._load_pipeline()
        self._heartbeat()
        log.info("worker %s ready", self.name)

    def run(self, stop: threading.Event) -> None:
        """Lease and run jobs until ``stop`` is set; back off while the queue is empty."""
        self._stop = stop
        if self.pipeline is None:
            self.load()
        idle = 0.02
        try:
            while not stop.is_set():
                leases = self.store.claim(
                    self.name, limit=self.claim_limit, interactive_only=self.interactive_only
                )
                if not leases:
                    stop.wait(idle)
                    idle = min(idle * 2, self.idle_max_s)
                    continue
                idle = 0.02
                # A job delivered before may be the one that killed a worker: it runs alone,
                # with no other lease held, so it cannot take healthy jobs down with it.
                suspects = [lease for lease in leases if lease.job.deliveries > 1]
                if suspects:
                    for lease in leases:
                        if lease is not suspects[0]:
                            self.store.release(lease.job.id, lease.token)
                    leases = suspects[:1]
                self.execute(leases)
        finally:
            self.stop_keeper()
            self._heartbeat(ready=False)

    # -- jobs -------------------------------------------------------------------

    def execute(self, leases: list[Lease]) -> None:
        """Run leased jobs to a terminal state, or give them back; never raises. Jobs of one
        priority run together (their sentences share batches), interactive ones first."""
        held = [_Held(lease) for lease in leases]
        with self._lock:
            for h in held:
                self._held[h.lease.job.id] = h
        try:
            # Interactive jobs first, in a batch of their own: someone waits on each, and in
            # one batch with the batch jobs leased beside them they would wait for them all.
            for priority in sorted({h.lease.job.priority for h in held}):
                self._execute([h for h in held if h.lease.job.priority == priority])
        except Exception:  # noqa: BLE001 - the worker outlives any one batch of jobs
            log.exception("unexpected error while running jobs %s", [h.lease.job.id for h in held])
            for h in held:
                error = {"code": "internal_error", "message": "the worker failed unexpectedly"}
                self.store.fail(h.lease.job.id, h.lease.token, error, transient=True)
        finally:
            with self._lock:
                for h in held:
                    self._held.pop(h.lease.job.id, None)

    def _progress(self, held: _Held) -> Callable[[str, int, int], None]:
        job, token = held.lease.job, held.lease.token

        def progress(stage: str, done: int, total: int) -> None:
            if self.release_now.is_set():
                raise StopJob("released")
            if held.lost:
                raise StopJob("lost")
            now = time.monotonic()
            if now - held.last_progress >= self.progress_every_s or done == total:
                held.last_progress = now
                if not self.store.set_progress(job.id, token, stage, done, total):
                    held.lost = True
                    raise StopJob("lost")
            self._serve_interactive()

        return progress

    def _serve_interactive(self) -> None:
        """Between two batches of long work, run a waiting interactive job at once.

        An interactive request (``/v1/translate``) is first in the queue, but without this it
        would wait for the whole batch of jobs in hand. At most once per ``peek_every_s``,
        and never nested twice; only interactive jobs are claimed, and one delivered before
        goes back to the queue (it runs with no other lease held).
        """
        now = time.monotonic()
        if self._nested or self.interactive_only or now - self._last_peek < self.peek_every_s:
            return
        self._last_peek = now
        leases = self.store.claim(self.name, limit=1, interactive_only=True)
        if not leases:
            return
        lease = leases[0]
        if lease.job.deliveries > 1:
            self.store.release(lease.job.id, lease.token)
            return
        log.info("job %s: interactive, run between two batches", lease.job.id)
        self._nested = True
        try:
            self.execute([lease])
        finally:
            self._nested = False

    def _execute(self, held: list[_Held]) -> None:
        items = []
        for h in held:
            article, options = article_from_payload(h.lease.job)
            items.append((article, options, self._progress(h)))
            log.info("job %s: started (delivery %d)", h.lease.job.id, h.lease.job.deliveries)
        try:
            outcomes = self.pipeline.run_jobs(items)
        except Exception as exc:  # noqa: BLE001 - a model failure affects the whole batch
            log.exception("jobs %s: error, will retry with backoff", [h.lease.job.id for h in held])
            error = {"code": "internal_error", "message": f"{type(exc).__name__}: {exc}"}
            for h in held:
                self.store.fail(h.lease.job.id, h.lease.token, error, transient=True)
                self.stats.jobs_failed += 1
            return
        for h, outcome in zip(held, outcomes, strict=True):
            self._record(h, outcome)

    def _record(self, held: _Held, outcome: Any) -> None:
        job, token = held.lease.job, held.lease.token
        if isinstance(outcome, StopJob):
            self._stopped(job, token, outcome.reason)
        elif isinstance(outcome, BaseException):
            log.error("job %s: %s, will retry with backoff", job.id, outcome)
            error = {"code": "internal_error", "message": f"{type(outcome).__name__}: {outcome}"}
            self.store.fail(job.id, token, error, transient=True)
            self.stats.jobs_failed += 1
        elif outcome.error:
            # Input errors (empty, too long, unsupported language): retrying cannot help.
            self.store.fail(job.id, token, outcome.error, transient=False)
            self.stats.jobs_failed += 1
            log.warning("job %s failed: %s", job.id, outcome.error.get("message"))
        elif self.store.complete(job.id, token, outcome.to_dict()):
            self.stats.jobs_succeeded += 1
            self.stats.observe(outcome.timings)
            log.info("job %s: succeeded in %.2f s", job.id, outcome.timings.get("total_s", 0.0))
        else:
            log.warning("job %s: result discarded, the lease was lost meanwhile", job.id)

    def _stopped(self, job: Job, token: str, reason: str) -> None:
        if reason == "released":
            self.store.release(job.id, token)
            log.info("job %s: given back to the queue (shutting down)", job.id)
        elif self.store.finish_cancelled(job.id, token):
            log.info("job %s: cancelled while running", job.id)
        else:
            log.warning("job %s: lease lost, another worker owns it now", job.id)

    # -- keeper: leases and heartbeats ------------------------------------------

    def _start_keeper(self) -> None:
        self._keeper = threading.Thread(target=self._keep, name=f"keeper-{self.name}", daemon=True)
        self._keeper.start()

    def stop_keeper(self) -> None:
        """Stop the keeper thread and wait for it: the store is closed once :meth:`run`
        returns, and closing SQLite connections while the keeper writes a heartbeat on one
        crashed the process (SIGSEGV on SIGTERM, seen in the fault suite)."""
        self._keeper_stop.set()
        if self._keeper is not None and self._keeper is not threading.current_thread():
            # A store call blocks for its busy timeout at most; then the thread is left.
            self._keeper.join(KEEPER_JOIN_S)
            if self._keeper.is_alive():
                log.warning("worker %s: the keeper thread did not stop in time", self.name)

    def _keep(self) -> None:
        renew_every = max(0.2, self.store.options.lease_s / 3)
        last_renew = last_beat = last_purge = 0.0
        stopping_since: float | None = None
        while not self._keeper_stop.wait(0.2):
            now = time.monotonic()
            if self._stop is not None and self._stop.is_set() and stopping_since is None:
                stopping_since = now
            if (
                stopping_since is not None
                and self.handback_after_s is not None
                and now - stopping_since >= self.handback_after_s
                and not self.release_now.is_set()
            ):
                log.info("worker %s: still busy while stopping, giving jobs back", self.name)
                self.release_now.set()
            if now - last_renew >= renew_every:
                last_renew = now
                with self._lock:
                    held = list(self._held.values())
                for h in held:
                    if not h.lost and not self.store.renew(h.lease.job.id, h.lease.token):
                        h.lost = True
            if now - last_beat >= self.heartbeat_s:
                last_beat = now
                self._heartbeat()
            if now - last_purge >= PURGE_EVERY_S:
                last_purge = now
                self._purge()

    def _purge(self) -> None:
        """Forget finished jobs past their retention (the API then answers 410)."""
        try:
            purged = self.store.purge_expired()
        except Exception:  # noqa: BLE001 - a store hiccup must not kill the keeper
            log.exception("purging expired jobs failed")
            return
        if purged:
            log.info("purged %d expired job(s)", purged)

    def _heartbeat(self, ready: bool | None = None) -> None:
        # Job counts first, tokens after: the tokens a heartbeat reports cover at least the
        # jobs it counts (a job is counted only once all its decoding is done).
        succeeded, failed = self.stats.jobs_succeeded, self.stats.jobs_failed
        pipeline = self.pipeline
        models: dict[str, Any] = {}
        translated = summarised = 0
        if pipeline is not None:
            models = {
                "translation": {lang: b.model.info() for lang, b in pipeline.translators.items()},
            }
            translated = sum(_tokens_generated(b) for b in pipeline.translators.values())
            summariser = getattr(pipeline, "summariser", None)
            summarised = _tokens_generated(getattr(summariser, "backend", None))
        info = {
            "ready": pipeline is not None if ready is None else ready,
            "pid": os.getpid(),
            "models": models,
            "jobs_running": len(self._held),
            "stats": {
                "jobs_succeeded": succeeded,
                "jobs_failed": failed,
                "tokens_translated": translated,
                "tokens_summarised": summarised,
                "stage_seconds": self.stats.stage_seconds,
            },
        }
        try:
            self.store.heartbeat(self.name, info)
        except Exception:  # noqa: BLE001 - a store hiccup must not kill the keeper
            log.exception("heartbeat failed")


def _tokens_generated(backend: Any) -> int:
    """A backend's count of the tokens it generated; 0 for none, or one that keeps none."""
    return int(getattr(backend, "tokens_generated", 0) or 0)
