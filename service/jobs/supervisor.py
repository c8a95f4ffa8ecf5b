"""Worker processes supervised by ``passeur serve``: started with the same settings through
the environment, restarted if they die (a poison job), and sent SIGTERM when their parent
goes away, even by ``kill -9``.

The API process never imports torch: workers are separate processes, each running a
command (by default ``python -m service.cli worker``).
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

from service.settings import Settings

log = logging.getLogger(__name__)

_PR_SET_PDEATHSIG = 1


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


class Supervisor:
    """Keeps one worker process running per environment in ``envs``; restarts one that
    dies, with backoff; stops them all within a grace period, and reaps every one.

    Stopping (:meth:`request_stop`, safe in a signal handler: it only counts) sends
    each worker SIGTERM: it leases nothing more, finishes the jobs in hand, and hands back
    at its next batch what it has not finished two thirds into the grace period
    (``PASSEUR_STOP_GRACE_S``, which it reads too). A second request sends a second
    SIGTERM: hand back now. Whatever still runs when the grace period ends is killed (its
    jobs come back one lease later). :meth:`stop` waits for all of it.
    """

    def __init__(
        self, envs: list[dict[str, str]], command: list[str] | None = None, grace_s: float = 30.0
    ) -> None:
        self.count = len(envs)
        self.envs = envs
        self.command = command or [sys.executable, "-m", "service.cli", "worker"]
        self.grace_s = grace_s
        self.procs: list[subprocess.Popen[bytes] | None] = [None] * self.count
        self._stop_requests = 0  # a plain count: signal handlers add to it, the thread reads it
        self._spawn_lock = threading.Lock()  # no restart slips past a stop
        self._thread = threading.Thread(target=self._watch, name="supervisor", daemon=True)

    def _spawn(self, i: int) -> None:
        with self._spawn_lock:
            if self._stop_requests:
                return
            self.procs[i] = subprocess.Popen(
                self.command, env=self.envs[i], preexec_fn=_die_with_parent
            )  # noqa: PLW1509
        log.info("started worker process %d (pid %d)", i, self.procs[i].pid)  # type: ignore[union-attr]

    def start(self) -> None:
        for i in range(self.count):
            self._spawn(i)
        self._thread.start()

    def request_stop(self) -> None:
        """Begin the stop (see the class); a second call hands jobs back at once. It only
        counts (no lock, no system call), so a signal handler may call it: the supervisor
        thread, which looks every 0.1 s, does the rest."""
        self._stop_requests += 1

    def _watch(self) -> None:
        delays = [1.0] * self.count
        restart_at: dict[int, float] = {}
        while not self._stop_requests:
            now = time.monotonic()
            for i, proc in enumerate(self.procs):
                if proc is None or proc.poll() is None:
                    continue
                if i not in restart_at:
                    log.error(
                        "worker process %d exited with %s; restarting in %.0f s",
                        i,
                        proc.returncode,
                        delays[i],
                    )
                    restart_at[i] = now + delays[i]
                elif now >= restart_at[i]:
                    del restart_at[i]
                    delays[i] = min(delays[i] * 2, 30.0)
                    self._spawn(i)
            time.sleep(0.1)
        self._stop_workers()

    def _live(self) -> list[subprocess.Popen[bytes]]:
        with self._spawn_lock:
            return [p for p in self.procs if p is not None and p.poll() is None]  # poll reaps

    def _stop_workers(self) -> None:
        deadline = time.monotonic() + self.grace_s
        signalled = 0
        live = self._live()
        log.info("stopping %d worker process(es), %.0f s grace", len(live), self.grace_s)
        while live:
            if signalled < min(self._stop_requests, 2):
                for proc in live:
                    with contextlib.suppress(ProcessLookupError):
                        proc.send_signal(signal.SIGTERM)
                signalled += 1
                if signalled == 2:
                    log.info("second stop: workers hand their jobs back now")
            if time.monotonic() >= deadline:
                for proc in live:
                    log.warning("worker pid %d still running after the grace: killed", proc.pid)
                    proc.kill()
                    proc.wait()
            time.sleep(0.05)
            live = self._live()

    def stop(self, timeout_s: float | None = None) -> None:
        """Stop every worker (see the class) and wait until each one is reaped."""
        if not self._stop_requests:
            self.request_stop()
        if self._thread.is_alive():
            self._thread.join(timeout_s if timeout_s is not None else self.grace_s + 10.0)
        for proc in self.procs:  # the thread never started, or outlived its join
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait()


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
