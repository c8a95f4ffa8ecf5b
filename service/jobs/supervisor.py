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
    dies, with backoff."""

    def __init__(self, envs: list[dict[str, str]], command: list[str] | None = None) -> None:
        self.count = len(envs)
        self.envs = envs
        self.command = command or [sys.executable, "-m", "service.cli", "worker"]
        self.procs: list[subprocess.Popen[bytes] | None] = [None] * self.count
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="supervisor", daemon=True)

    def _spawn(self, i: int) -> None:
        self.procs[i] = subprocess.Popen(
            self.command, env=self.envs[i], preexec_fn=_die_with_parent
        )  # noqa: PLW1509
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
