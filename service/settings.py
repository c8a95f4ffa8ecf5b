"""One settings object, built at the entry point and passed in.

Every field can be set by an environment variable with the ``PASSEUR_`` prefix
(``PASSEUR_DEVICE=cpu``) and most by a CLI flag of the same name. Nothing here reads the
environment or touches the disk at import time.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Literal, get_args

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from service.errors import ConfigError

# The choices of a setting are written once, as a Literal; the tuples are for the CLI's
# choices and for error messages.
SummaryMode = Literal["auto", "abstractive", "extractive", "none"]
SUMMARY_MODES: tuple[str, ...] = get_args(SummaryMode)
Device = Literal["auto", "cpu", "cuda"]
DEVICES: tuple[str, ...] = get_args(Device)
# "registry": each entry's own backend (``service.registry.BACKENDS``); or one for all models.
BackendSetting = Literal["registry", "transformers", "ctranslate2"]
BACKEND_SETTINGS: tuple[str, ...] = get_args(BackendSetting)
# CTranslate2 compute types; "auto" is int8 on CPU, float16 on CUDA.
ComputeType = Literal[
    "auto",
    "int8",
    "int8_float32",
    "int8_float16",
    "int8_bfloat16",
    "int16",
    "float16",
    "bfloat16",
    "float32",
]
COMPUTE_TYPES: tuple[str, ...] = get_args(ComputeType)

BULLETS_MIN, BULLETS_MAX, BULLETS_DEFAULT = 1, 10, 5  # bullets per summary
DEFAULT_SOURCE_LANG = "fr"  # the language of an article that does not say
# What source_lang "auto" can detect: the languages its thresholds were measured on
# (service/engines/langid.py).
DEFAULT_LANGUAGES: tuple[str, ...] = ("fr", "en", "de", "es", "it", "pt", "nl", "ca", "ro")

_PROJECT_MODELS = Path(__file__).resolve().parents[1] / "models"


def default_models_dir() -> Path:
    """The checkout's ``models/`` when running from a source tree, else ``./models``."""
    if (_PROJECT_MODELS / "registry.toml").is_file():
        return _PROJECT_MODELS
    return Path.cwd() / "models"


# Padded source tokens per translation batch and per summary batch, and articles a worker
# decodes together (the batch script's groups; a service worker's leases). CTranslate2 with
# several replicas cuts its calls under the budget, and its replicas decode at most that
# much at once (service.engines.ct2). A summary window holds up to 1,024 tokens and its
# cross-attention cache about 200 MB at beam 4: 4096 gives each of two replicas two windows.
# On the benchmark's 50 articles (2 cores, docs/performance.md) groups of 16 with 4096 for
# summaries took 170 s and peaked at 1,164 MB; groups of 8 with 2048, 202 s and 1,277 MB
# (one run each; 3 repeats through the service: 1,396 MB).
DEFAULT_BATCH_TOKENS = 4096
DEFAULT_SUMMARY_BATCH_TOKENS = 4096
DEFAULT_BATCH_ARTICLES = 16


class Settings(BaseSettings):
    """Passeur configuration. See the configuration table in docs/reference.md."""

    model_config = SettingsConfigDict(env_prefix="PASSEUR_", extra="ignore")

    models_dir: Path = Field(default_factory=default_models_dir)
    registry: Path | None = None
    cache_dir: Path | None = None

    # One model for French ("DIR" or a name), or per pair: "fr-en=DIR,de-en=opus-mt-de-en".
    translation_model: str | None = None
    summary_model: str | None = None
    device: Device = "auto"
    threads: int = Field(default=0, ge=0, le=256)
    # "registry": each entry's own backend; or one backend for every model.
    backend: BackendSetting = "registry"
    compute_type: ComputeType = "auto"
    # CTranslate2 replicas per model; 0: one single-threaded replica per thread on CPU.
    inter_threads: int = Field(default=0, ge=0, le=64)

    beam: int | None = Field(default=None, ge=1, le=16)
    batch_tokens: int = Field(default=DEFAULT_BATCH_TOKENS, ge=64, le=1_000_000)
    batch_articles: int = Field(default=DEFAULT_BATCH_ARTICLES, ge=1, le=1024)
    summary_batch_tokens: int = Field(default=DEFAULT_SUMMARY_BATCH_TOKENS, ge=64, le=1_000_000)
    max_segment_tokens: int = Field(default=256, ge=16, le=4096)
    max_article_chars: int = Field(default=200_000, ge=100)

    languages: str = ",".join(DEFAULT_LANGUAGES)  # what source_lang "auto" can detect
    # The multilingual registry entry that translates a language with no pair ("none":
    # such a language is refused). See docs/languages.md.
    fallback_model: str = "opus-mt-mul-en"
    # auto: abstractive, but extractive for an article under abstractive_min_words.
    summary_mode: SummaryMode = "auto"
    bullets: int = Field(default=BULLETS_DEFAULT, ge=BULLETS_MIN, le=BULLETS_MAX)
    # In auto mode shorter articles (source words) get extractive bullets: an abstractive
    # summary would be about as long as the text.
    abstractive_min_words: int = Field(default=150, ge=0, le=100_000)
    drop_unsupported: bool = False
    # The deployment's glossary file (TSV or CSV), under each request's terms: docs/glossary.md.
    glossary: Path | None = None

    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"

    # -- the service -----------------------------------------------------------
    data_dir: Path = Path("data")
    store: str | None = None  # job store URL; default sqlite:///<data_dir>/jobs.db
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    workers: int = Field(default=1, ge=0, le=64)
    # Workers `passeur serve` adds that lease only interactive jobs (/v1/translate), at
    # normal CPU priority; the others run at `worker_nice`, so an interactive request
    # takes the cores from batch work at once.
    interactive_workers: int = Field(default=1, ge=0, le=64)
    interactive_only: bool = False  # this worker leases interactive jobs only
    worker_nice: int = Field(default=19, ge=0, le=19)  # niceness of workers that run batch jobs
    lease_s: float = Field(default=60.0, gt=0)
    # Jobs a worker leases at once, whose sentences share batches.
    claim_limit: int = Field(default=DEFAULT_BATCH_ARTICLES, ge=1, le=256)
    heartbeat_s: float = Field(default=2.0, gt=0)
    heartbeat_max_age_s: float = Field(default=15.0, gt=0)
    result_ttl_s: float = Field(default=24 * 3600.0, ge=0)
    sync_max_chars: int = Field(default=5000, ge=1)
    sync_timeout_s: float = Field(default=30.0, gt=0)
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024)
    # uvicorn closes a connection idle this long after an answer; it has no timeout for a
    # request's head or body: a reverse proxy sets those (docs/service.md, "HTTP hardening").
    keep_alive_s: int = Field(default=5, ge=1, le=300)
    max_header_bytes: int = Field(default=16 * 1024, ge=1024, le=1024 * 1024)
    api_keys: str = Field(default="", repr=False)  # comma-separated; empty: the API is open
    # -- tenants, admission and stopping (docs/service.md: Security, Operations) -----
    # Each API key is a tenant ("KEY" or "NAME:KEY"); this key sees every tenant's jobs.
    admin_key: str = Field(default="", repr=False)
    max_queued: int = Field(default=10_000, ge=0)  # queued jobs in the store (0: no bound)
    max_queued_per_tenant: int = Field(default=1_000, ge=0)  # queued jobs per key (0: none)
    rate_per_minute: int = Field(default=600, ge=0)  # submissions per key and minute (0: none)
    # /v1/translate's estimate of one interactive job's run time until it has measured some.
    sync_job_s: float = Field(default=2.0, gt=0)
    stop_grace_s: float = Field(default=30.0, ge=0)  # how long a stop waits for running jobs

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @property
    def registry_path(self) -> Path:
        return self.registry or self.models_dir / "registry.toml"

    @property
    def model_cache(self) -> Path:
        return self.cache_dir or self.models_dir / "cache"

    def translation_overrides(self) -> dict[str, str]:
        """Source language -> model spec from ``translation_model``; a plain value is French's."""
        overrides: dict[str, str] = {}
        for item in (self.translation_model or "").split(","):
            item = item.strip()
            if not item:
                continue
            pair, sep, spec = item.partition("=")
            if sep and "-" in pair and "/" not in pair:
                overrides[pair.split("-")[0].strip()] = spec.strip()
            else:
                overrides["fr"] = item
        return overrides

    @property
    def language_list(self) -> list[str]:
        return [code.strip() for code in self.languages.split(",") if code.strip()]

    @property
    def store_url(self) -> str:
        return self.store or f"sqlite:///{self.data_dir.resolve()}/jobs.db"

    @property
    def api_key_list(self) -> list[str]:
        return list(parse_api_keys(self.api_keys))

    @property
    def api_tenants(self) -> dict[str, str]:
        """API key -> the name of its tenant (see :func:`parse_api_keys`); raises
        :class:`ConfigError` for a malformed list (``passeur serve`` asks at start)."""
        return parse_api_keys(self.api_keys)

    @property
    def keys_required(self) -> bool:
        """Whether /v1 wants a key: some API key or the admin key is configured."""
        return bool(self.api_key_list or self.admin_key.strip())


ADMIN_TENANT = "admin"  # the tenant of the jobs the admin key submits
_TENANT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


def parse_api_keys(value: str) -> dict[str, str]:
    """``"k1,alice:k2,alice:k3"`` -> {key: tenant}. A named key (``NAME:KEY``) belongs to
    NAME, so a tenant keeps its jobs across a key rotation; an unnamed key is its own
    tenant, named ``key-`` and the start of its SHA-256 (stable, and not the key)."""
    tenants: dict[str, str] = {}
    entries = [item.strip() for item in value.split(",") if item.strip()]
    for n, item in enumerate(entries, 1):
        # Messages name the entry by its position: never a key, nor a part of one.
        name, sep, key = item.partition(":")
        if not sep:
            name, key = "key-" + hashlib.sha256(item.encode()).hexdigest()[:12], item
        name, key = name.strip(), key.strip()
        if not key or not _TENANT_NAME.match(name) or name == ADMIN_TENANT:
            raise ConfigError(
                f"PASSEUR_API_KEYS: entry {n} is not KEY or NAME:KEY; a NAME is 1 to 64 "
                "letters, digits, '.', '_' or '-' (and not 'admin', the admin key's tenant)"
            )
        if tenants.get(key, name) != name:
            raise ConfigError(f"PASSEUR_API_KEYS: entry {n} gives a key to a second tenant")
        tenants[key] = name
    return tenants
