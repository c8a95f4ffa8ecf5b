"""compose.yaml (Docker cannot run on our CI): every command is one `passeur` accepts,
Redis keeps the durability the README promises, and the worker health check works."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import yaml
from conftest import ROOT

from service.cli import build_parser
from service.jobs.store import StoreOptions, open_store

COMPOSE = yaml.safe_load((ROOT / "compose.yaml").read_text(encoding="utf-8"))
SERVICES = COMPOSE["services"]
PASSEUR = ["api-1", "api-2", "worker", "worker-interactive", "worker-gpu"]


def test_redis_fsyncs_every_write_to_its_aof() -> None:
    command = SERVICES["redis"]["command"]
    assert command[command.index("--appendonly") + 1] == "yes"
    assert command[command.index("--appendfsync") + 1] == "always"
    assert SERVICES["redis"]["healthcheck"]["test"][-1] == "ping"


@pytest.mark.parametrize("name", PASSEUR)
def test_services_run_passeur_on_the_redis_store(name: str) -> None:
    service = SERVICES[name]
    args = build_parser().parse_args(service["command"])  # the image's entrypoint is passeur
    assert args.command in ("serve", "worker")
    assert service["environment"]["PASSEUR_STORE"] == "redis://redis:6379/0"
    assert service["depends_on"]["redis"]["condition"] == "service_healthy"
    assert "models:/app/models/cache" in service["volumes"] and "healthcheck" in service


def test_api_replicas_start_no_workers_and_the_gpu_worker_is_a_profile() -> None:
    for name in ("api-1", "api-2"):
        args = build_parser().parse_args(SERVICES[name]["command"])
        assert args.workers == 0 and args.host == "0.0.0.0"
    assert SERVICES["api-1"]["ports"] != SERVICES["api-2"]["ports"]
    assert build_parser().parse_args(SERVICES["worker-interactive"]["command"]).interactive_only
    assert not build_parser().parse_args(SERVICES["worker"]["command"]).interactive_only
    gpu = SERVICES["worker-gpu"]
    assert gpu["profiles"] == ["gpu"] and gpu["build"]["args"]["BASE"] == "cuda"
    [device] = gpu["deploy"]["resources"]["reservations"]["devices"]
    assert device["driver"] == "nvidia" and device["capabilities"] == ["gpu"]


def test_worker_health_check_follows_the_heartbeat(tmp_path: Path) -> None:
    """The check passes while a worker of this host heartbeats as ready, else fails."""
    url = os.environ.get("PASSEUR_TEST_REDIS_URL", "redis://127.0.0.1:6390/0")
    import redis

    try:
        redis.Redis.from_url(url, socket_connect_timeout=0.5).ping()
    except redis.ConnectionError:
        pytest.skip(f"no Redis at {url} (set PASSEUR_TEST_REDIS_URL)")
    prefix = f"passeur-test-{uuid.uuid4().hex[:12]}"
    store_url = f"{url}?prefix={prefix}"
    code = SERVICES["worker"]["healthcheck"]["test"][-1]
    env = {**os.environ, "PASSEUR_STORE": store_url}

    def healthy() -> bool:
        run = subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT, timeout=60)
        return run.returncode == 0

    store = open_store(store_url, StoreOptions())
    try:
        assert not healthy()
        store.heartbeat(f"{socket.gethostname()}:1:1", {"ready": False})
        assert not healthy()  # loading its models
        store.heartbeat(f"{socket.gethostname()}:1:1", {"ready": True})
        assert healthy()
    finally:
        store.close()
        client = redis.Redis.from_url(url)
        keys = list(client.scan_iter(match=f"{{{prefix}}}*"))
        if keys:
            client.delete(*keys)
