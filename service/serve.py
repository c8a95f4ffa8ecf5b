"""Processes: ``passeur worker`` (one worker process) and ``passeur serve`` (the API plus
supervised worker processes on the same store).

The API process never imports torch: workers are separate processes, started with the
same settings through the environment, restarted if they die (a poison job), and sent
SIGTERM when their parent goes away, even by ``kill -9``.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from typing import Any

from service.errors import ConfigError
from service.settings import Settings

log = logging.getLogger(__name__)

_PR_SET_PDEATHSIG = 1
INTERACTIVE_IDLE_S = 0.05  # longest pause between two claims of an idle interactive worker


def _die_with_parent() -> None:  # runs in the child between fork and exec
    # Not Linux: children outlive a killed parent; a clean stop still ends them.
    with contextlib.suppress(OSError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def settings_env(settings: Settings, **extra: Any) -> dict[str, str]:
    """The environment that gives a child process these settings."""
    env = dict(os.environ)
    for name, value in {**settings.model_dump(exclude_unset=True), **extra}.items():
        if value is not None:
            env[f"PASSEUR_{name.upper()}"] = str(value)
    return env


def run_worker(settings: Settings) -> int:
    """One worker process: check the models, load them, run jobs until SIGTERM."""
    from service.runtime import load_pipeline, load_registry, plan_models
    from service.store import open_store
    from service.worker import Worker

    plan = plan_models(settings, load_registry(settings))  # a missing model fails here, fast
    if not settings.interactive_only and settings.worker_nice:
        # Batch work yields the cores to interactive workers (and to the API) at once.
        os.nice(settings.worker_nice)
    store = open_store(settings.store_url, settings.store_options())
    worker = Worker(
        store,
        lambda: load_pipeline(settings, plan),
        heartbeat_s=settings.heartbeat_s,
        claim_limit=settings.claim_limit,
        interactive_only=settings.interactive_only,
        # An interactive worker looks for work often: its jobs are someone waiting.
        idle_max_s=INTERACTIVE_IDLE_S if settings.interactive_only else 0.5,
    )
    stop = threading.Event()

    def on_signal(signum: int, frame: object) -> None:
        if stop.is_set():  # second signal: give the current job back now
            worker.release_now.set()
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    log.info("worker %s on %s", worker.name, settings.store_url)
    try:
        worker.load()
        worker.run(stop)
    finally:
        store.close()
    return 0


class Supervisor:
    """Keeps one worker process running per environment in ``envs``; restarts one that
    dies, with backoff."""

    def __init__(self, envs: list[dict[str, str]]) -> None:
        self.count = len(envs)
        self.envs = envs
        self.procs: list[subprocess.Popen[bytes] | None] = [None] * self.count
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="supervisor", daemon=True)

    def _spawn(self, i: int) -> None:
        cmd = [sys.executable, "-m", "service.cli", "worker"]
        self.procs[i] = subprocess.Popen(cmd, env=self.envs[i], preexec_fn=_die_with_parent)  # noqa: PLW1509
        log.info("started worker process %d (pid %d)", i, self.procs[i].pid)  # type: ignore[union-attr]

    def start(self) -> None:
        for i in range(self.count):
            self._spawn(i)
        self._thread.start()

    def _watch(self) -> None:
        delays = [1.0] * self.count
        while not self._stopping.wait(0.5):
            for i, proc in enumerate(self.procs):
                if proc is None or proc.poll() is None:
                    continue
                if self._stopping.is_set():
                    return
                log.error(
                    "worker process %d exited with %s; restarting in %.0f s",
                    i,
                    proc.returncode,
                    delays[i],
                )
                if self._stopping.wait(delays[i]):
                    return
                delays[i] = min(delays[i] * 2, 30.0)
                self._spawn(i)

    def stop(self, grace_s: float = 30.0) -> None:
        """SIGTERM every worker (each finishes its current job), then SIGKILL stragglers."""
        self._stopping.set()
        live = [p for p in self.procs if p is not None and p.poll() is None]
        for proc in live:
            proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + grace_s
        for proc in live:
            try:
                proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()


def worker_envs(settings: Settings) -> list[dict[str, str]]:
    """One environment per worker process of ``passeur serve``: ``workers`` general workers
    sharing the cores (niced), then ``interactive_workers`` that lease only interactive
    jobs and may use every core: they are idle until a request comes, and then it waits."""
    cores = os.cpu_count() or 1
    threads = settings.threads or max(1, cores // settings.workers)
    envs = [
        settings_env(settings, threads=threads, store=settings.store_url)
        for _ in range(settings.workers)
    ]
    envs += [
        settings_env(
            settings,
            threads=settings.threads or cores,
            store=settings.store_url,
            interactive_only=True,
        )
        for _ in range(settings.interactive_workers)
    ]
    return envs


def serve(settings: Settings) -> int:
    """The API on ``host:port`` and ``settings.workers`` worker processes on one store."""
    import uvicorn

    from service.api import create_app
    from service.runtime import load_registry, plan_models
    from service.store import open_store

    registry = load_registry(settings)
    if settings.workers and settings.store_url.startswith("memory:"):
        raise ConfigError(
            "memory:// lives in one process and workers are processes: use a sqlite:/// store "
            "(the default) or --workers 0"
        )
    if settings.workers:
        plan_models(settings, registry)  # fail before starting anything
    store = open_store(settings.store_url, settings.store_options())
    supervisor = None
    if settings.workers:
        supervisor = Supervisor(worker_envs(settings))
        supervisor.start()
    app = create_app(settings, store)
    log.info(
        "API on http://%s:%d, store %s, %d worker(s) and %d interactive worker(s)",
        settings.host,
        settings.port,
        settings.store_url,
        settings.workers,
        settings.interactive_workers if settings.workers else 0,
    )
    try:
        uvicorn.run(
            app, host=settings.host, port=settings.port, log_level=settings.log_level.lower()
        )
    finally:
        if supervisor:
            supervisor.stop()
        store.close()
    return 0
