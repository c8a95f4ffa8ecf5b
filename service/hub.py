"""The Hugging Face hub: asked once, with a short timeout, before anything is downloaded;
`pull` fetches an entry's inference files at its pinned revision, `pin` records the hub's
current commit. Only `passeur models pull` and `passeur models pin` come here: serving and the
batch script never touch the network.
"""

from __future__ import annotations

import json
import logging
import re
import shutil
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from service.errors import (
    ConfigError,
    ModelNotAvailable,
    PasseurError,
)
from service.files import publish_folder
from service.registry import COMPLETE_MARKER, REVISION_PATTERN, ModelEntry, Registry

log = logging.getLogger(__name__)

HUB_CHECK_TIMEOUT_S = 3.0
"""How long :func:`hub_problem` waits for the hub's answer before `models pull` gives up."""


class HubUnreachable(PasseurError):
    """``passeur models pull`` on a machine that cannot reach the Hugging Face hub."""

    code = "hub_unreachable"
    http_status = 503


def hub_endpoint() -> str:
    """The hub's address: ``HF_ENDPOINT`` (a mirror, a private hub), else huggingface.co."""
    from huggingface_hub import constants

    return str(constants.ENDPOINT).rstrip("/")


def hub_problem(*, timeout: float = HUB_CHECK_TIMEOUT_S, endpoint: str | None = None) -> str | None:
    """Why the hub at ``endpoint`` (default :func:`hub_endpoint`) cannot be used from here,
    or None when it answers within ``timeout`` seconds (any HTTP answer below 500).

    One request, no retries. It runs in a thread joined with the timeout: a name lookup
    that hangs (a DNS server configured but out of reach) is not bounded by the HTTP
    client's own timeouts."""
    from huggingface_hub import constants

    if constants.HF_HUB_OFFLINE:
        return "HF_HUB_OFFLINE is set in the environment (unset it to download)"
    url = endpoint or hub_endpoint()
    outcome: list[str | None] = []

    def ask() -> None:
        from huggingface_hub.utils import get_session

        try:
            response = get_session().head(url, timeout=timeout, follow_redirects=False)
        except Exception as exc:  # noqa: BLE001 - transport errors come in many types
            late = "Timeout" in type(exc).__name__
            outcome.append(
                f"no answer within {timeout:g} s" if late else f"{type(exc).__name__}: {exc}"
            )
            return
        bad = response.status_code >= 500
        outcome.append(f"it answered HTTP {response.status_code}" if bad else None)

    asker = threading.Thread(target=ask, name="hub-check", daemon=True)
    asker.start()
    asker.join(timeout + 0.5)
    return outcome[0] if outcome else f"no answer within {timeout:g} s"


def check_hub(registry: Registry, entries: list[ModelEntry], **check: Any) -> None:
    """Raise :class:`HubUnreachable`, saying how else to get ``entries``, when
    :func:`hub_problem` finds one: a pull stops in seconds instead of sitting through the
    hub client's retries."""
    reason = hub_problem(**check)
    if reason is None:
        return
    names = " ".join(e.name for e in entries)
    raise HubUnreachable(
        f"the Hugging Face hub is not reachable from this machine: {reason} (asked "
        f"{check.get('endpoint') or hub_endpoint()}; HF_ENDPOINT sets another address, such "
        f"as a mirror). To get the models without it: on a machine that reaches the hub, run "
        f"`passeur models pull {names}`, then copy its cache folder (models/cache) into "
        f"{registry.cache_dir} here; or translate with model folders you already have: "
        "`passeur translate ... --translation-model DIR --summary-model DIR`",
        reason=reason,
        models=[e.name for e in entries],
        cache_dir=str(registry.cache_dir),
    )


@dataclass
class PullReport:
    name: str
    path: Path
    downloaded: list[str] = field(default_factory=list)
    skipped: bool = False


def pull(registry: Registry, entry: ModelEntry, *, force: bool = False) -> PullReport:
    """Download the files inference needs for ``entry`` at its pinned revision.

    Idempotent: a complete folder is skipped unless ``force``. The files land in a
    temporary folder that is renamed into place once complete, so an interrupted pull
    never leaves a folder that looks usable.
    """
    if not entry.pinned:
        raise ConfigError(
            f"model {entry.name} has no pinned revision: "
            f"run `passeur models pin {entry.name}` first"
        )
    target = registry.cache_path(entry)
    if registry.is_cached(entry) and not force:
        return PullReport(entry.name, target, skipped=True)

    from huggingface_hub import HfApi, hf_hub_download

    api = HfApi()
    available = set(api.list_repo_files(entry.hub_id, revision=entry.revision))
    wanted = [f for f in entry.files if f in available]
    weights = next((w for w in entry.weights if w in available), None)
    if weights is None:
        raise ModelNotAvailable(
            f"{entry.hub_id}@{entry.revision} has none of the weight files "
            + ", ".join(entry.weights)
        )
    wanted.append(weights)
    partial = target.with_name(target.name + ".partial")
    partial.mkdir(parents=True, exist_ok=True)
    for filename in wanted:
        log.info("downloading %s/%s", entry.hub_id, filename)
        hf_hub_download(entry.hub_id, filename, revision=entry.revision, local_dir=partial)
    (partial / COMPLETE_MARKER).write_text(
        json.dumps({"hub_id": entry.hub_id, "revision": entry.revision, "files": wanted}) + "\n"
    )
    # Kept under a fixed name until published, so that a pull run again after an
    # interruption finds the files already downloaded.
    if not publish_folder(
        partial, target, keep_existing=lambda _: not force and registry.is_cached(entry)
    ):
        shutil.rmtree(partial, ignore_errors=True)  # a concurrent pull finished first
    return PullReport(entry.name, target, downloaded=wanted)


def pin(registry_path: Path, entry: ModelEntry) -> str:
    """Record the hub's current commit of ``entry`` as its revision in the registry file.

    Only the ``revision`` line of the entry's table changes (or is added after
    ``hub_id``); comments and layout stay as they are.
    """
    from huggingface_hub import HfApi

    sha = HfApi().model_info(entry.hub_id).sha
    if not sha or not REVISION_PATTERN.match(sha):
        raise ConfigError(f"the hub gave no commit hash for {entry.hub_id}")
    text = registry_path.read_text(encoding="utf-8")
    header = re.search(rf"^\[models\.{re.escape(entry.name)}\]\s*$", text, re.MULTILINE)
    if header is None:
        raise ConfigError(f"[models.{entry.name}] not found in {registry_path}")
    following = re.search(r"^\[", text[header.end() :], re.MULTILINE)
    end = header.end() + (following.start() if following else len(text) - header.end())
    table = text[header.end() : end]
    line = f'revision = "{sha}"'
    if re.search(r"^revision\s*=.*$", table, re.MULTILINE):
        table = re.sub(r"^revision\s*=.*$", line, table, count=1, flags=re.MULTILINE)
    else:
        table = re.sub(r"^(hub_id\s*=.*)$", rf"\1\n{line}", table, count=1, flags=re.MULTILINE)
    registry_path.write_text(text[: header.end()] + table + text[end:], encoding="utf-8")
    return sha
