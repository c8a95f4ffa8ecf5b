"""The model registry: ``models/registry.toml`` plus one resolver.

A model is named the same way everywhere: a logical name from the registry, a hub id
(optionally ``hub_id@revision``), or a local folder. Resolution never touches the
network; only :func:`service.hub.pull` downloads.
"""

from __future__ import annotations

import hashlib
import logging
import re
import threading
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from service.errors import (
    ConfigError,
    ModelNotAvailable,
    UnknownModel,
    UnsupportedLanguage,
)

if TYPE_CHECKING:
    from service.settings import Settings

log = logging.getLogger(__name__)

Task = Literal["translation", "summarisation"]
TASKS: tuple[str, ...] = ("translation", "summarisation")
BACKENDS: tuple[str, ...] = ("transformers", "ctranslate2")
COMPLETE_MARKER = ".passeur-complete"
TARGET_LANG = "en"  # every translation goes to English; summaries are written in it
MULTILINGUAL = "mul"  # the ``source`` of an entry that translates many languages
NO_FALLBACK = "none"  # the fallback setting that refuses languages without a pair
REVISION_PATTERN = re.compile(r"^[0-9a-f]{40}$")


@dataclass(frozen=True)
class ModelEntry:
    """One registry entry: the facts about a model, as written in the TOML file."""

    name: str
    task: Task
    source: str
    target: str
    hub_id: str
    revision: str
    backend: str = "transformers"
    licence: str = ""
    files: tuple[str, ...] = ()
    weights: tuple[str, ...] = ("model.safetensors", "pytorch_model.bin")
    generation: dict[str, Any] = field(default_factory=dict)
    # A multilingual entry (source "mul"): the ISO 639-1 codes it translates, and the
    # model's own code for those it names differently (M2M100 says "no" for Bokmål).
    languages: tuple[str, ...] = ()
    model_codes: dict[str, str] = field(default_factory=dict)

    @property
    def pair(self) -> str:
        return f"{self.source}-{self.target}"

    @property
    def multilingual(self) -> bool:
        return self.source == MULTILINGUAL

    def covers(self, lang: str) -> bool:
        """Whether this entry translates ``lang`` (its own source, or one of its languages)."""
        return lang in self.languages if self.multilingual else lang == self.source

    @property
    def pinned(self) -> bool:
        return bool(self.revision)


@dataclass(frozen=True)
class ResolvedModel:
    """A model ready to load: where its files are and how to decode with it."""

    name: str
    task: str
    revision: str
    path: Path
    hub_id: str | None = None
    entry: ModelEntry | None = None
    generation: dict[str, Any] = field(default_factory=dict)
    backend: str = "transformers"

    @property
    def is_local(self) -> bool:
        return self.entry is None

    def info(self) -> dict[str, str]:
        return {"name": self.name, "revision": self.revision}


def _entry_from_toml(name: str, raw: dict[str, Any], path: Path) -> ModelEntry:
    where = f"{path} [models.{name}]"
    missing = [k for k in ("task", "source", "target", "hub_id") if k not in raw]
    if missing:
        raise ConfigError(f"{where} lacks {', '.join(missing)}")
    if raw["task"] not in TASKS:
        raise ConfigError(f"{where}: task must be one of {', '.join(TASKS)}, not {raw['task']!r}")
    revision = str(raw.get("revision", ""))
    if revision and not REVISION_PATTERN.match(revision):
        raise ConfigError(
            f"{where}: revision must be a full 40-hex commit hash (or absent until "
            f"`passeur models pin {name}` records one)"
        )
    backend = raw.get("backend", "transformers")
    if backend not in BACKENDS:
        raise ConfigError(f"{where}: backend must be one of {', '.join(BACKENDS)}")
    languages = tuple(raw.get("languages", ()))
    if (raw["source"] == MULTILINGUAL) != bool(languages):
        raise ConfigError(
            f"{where}: a multilingual entry (source = {MULTILINGUAL!r}) lists the source "
            "languages it covers in `languages`, and only such an entry does"
        )
    return ModelEntry(
        name=name,
        task=raw["task"],
        source=raw["source"],
        target=raw["target"],
        hub_id=raw["hub_id"],
        revision=revision,
        backend=backend,
        licence=raw.get("licence", ""),
        files=tuple(raw.get("files", ())),
        weights=tuple(raw.get("weights", ("model.safetensors", "pytorch_model.bin"))),
        generation=dict(raw.get("generation", {})),
        languages=languages,
        model_codes=dict(raw.get("model_codes", {})),
    )


class Registry:
    """The entries of one registry file and the cache folder they are pulled into."""

    def __init__(self, entries: list[ModelEntry], cache_dir: Path) -> None:
        self.entries = {e.name: e for e in entries}
        self.cache_dir = cache_dir

    @classmethod
    def load(cls, path: Path, cache_dir: Path) -> Registry:
        if not path.is_file():
            raise ConfigError(
                f"model registry {path} not found; set PASSEUR_MODELS_DIR to the folder "
                "holding registry.toml or PASSEUR_REGISTRY to the file"
            )
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"model registry {path} is not valid TOML: {exc}") from exc
        models = data.get("models", {})
        return cls([_entry_from_toml(n, raw, path) for n, raw in models.items()], cache_dir)

    @classmethod
    def load_cached(cls, path: Path, cache_dir: Path) -> Registry:
        """:meth:`load`, parsed again only when the file changes (its mtime, size or inode):
        for a long-lived process that consults the registry on every request."""
        try:
            stat = path.stat()
        except OSError:
            return cls.load(path, cache_dir)  # raises the error naming the missing file
        stamp = (stat.st_mtime_ns, stat.st_size, stat.st_ino)
        key = (path, cache_dir)
        with _cache_lock:
            hit = _cache.get(key)
        if hit is not None and hit[0] == stamp:
            return hit[1]
        # Parsed outside the lock; a file changed between stat() and here is stored under
        # the old stamp, so the next call sees a new stamp and parses again.
        registry = cls.load(path, cache_dir)
        with _cache_lock:
            _cache[key] = (stamp, registry)
        return registry

    def names(self) -> list[str]:
        return sorted(self.entries)

    def pairs(self, task: str = "translation") -> list[str]:
        return sorted(
            {e.pair for e in self.entries.values() if e.task == task and not e.multilingual}
        )

    def sources(self, target: str = TARGET_LANG, task: str = "translation") -> list[str]:
        """The source languages with a dedicated ``task`` entry into ``target`` (a pair;
        multilingual entries are fallbacks, see :func:`fallback_entry`)."""
        return sorted(
            {
                e.source
                for e in self.entries.values()
                if e.task == task and e.target == target and not e.multilingual
            }
        )

    def multilingual(self, target: str = TARGET_LANG) -> list[str]:
        """The names of the multilingual translation entries into ``target``."""
        return sorted(
            e.name
            for e in self.entries.values()
            if e.task == "translation" and e.target == target and e.multilingual
        )

    def for_pair(self, task: str, source: str, target: str) -> ModelEntry:
        """The first dedicated entry for this task and language pair (file order)."""
        for entry in self.entries.values():
            if (
                entry.task == task
                and entry.source == source
                and entry.target == target
                and not entry.multilingual
            ):
                return entry
        raise UnsupportedLanguage(
            f"no {task} model for {source}->{target}; supported: "
            f"{', '.join(self.pairs(task)) or 'none'}",
            supported=self.pairs(task),
        )

    def lookup(self, spec: str) -> ModelEntry | None:
        """An entry by logical name, hub id or ``hub_id@revision``."""
        if spec in self.entries:
            return self.entries[spec]
        hub_id, _, revision = spec.partition("@")
        for entry in self.entries.values():
            if entry.hub_id == hub_id and revision in ("", entry.revision):
                return entry
        return None

    def cache_path(self, entry: ModelEntry) -> Path:
        return self.cache_dir / entry.name / (entry.revision or "unpinned")

    def is_cached(self, entry: ModelEntry) -> bool:
        return entry.pinned and (self.cache_path(entry) / COMPLETE_MARKER).is_file()

    def resolve(self, spec: str, task: str) -> ResolvedModel:
        """Resolve a logical name, a hub id or a local folder; no network, no loading.

        Raises :class:`UnknownModel` (listing the valid names) or, for a registry model
        that is not in the cache, :class:`ModelNotAvailable` naming the pull command.
        """
        folder = Path(spec).expanduser()
        if folder.is_dir():
            return _resolve_folder(folder, task)
        entry = self.lookup(spec)
        if entry is None:
            path_like = spec.startswith((".", "/", "~")) or spec.count("/") > 1
            hint = "no such folder" if path_like else "not a registry name, hub id or folder"
            raise UnknownModel(
                f"unknown model {spec!r} ({hint}); registry names: {', '.join(self.names())}. "
                "A hub id must be added to models/registry.toml with a pinned revision.",
                valid=self.names(),
            )
        if entry.task != task:
            raise ConfigError(f"model {entry.name} is a {entry.task} model, not {task}")
        path = self.cache_path(entry)
        if not entry.pinned:
            raise ModelNotAvailable(
                f"model {entry.name} ({entry.hub_id}) has no pinned revision yet; on a machine "
                f"with access to the Hugging Face hub run `passeur models pin {entry.name}` "
                f"(records the current commit in the registry), then `passeur models pull "
                f"{entry.name}`",
                model=entry.name,
                cache_dir=str(self.cache_dir),
            )
        if not self.is_cached(entry):
            raise ModelNotAvailable(
                f"model {entry.name} ({entry.hub_id}@{entry.revision[:12]}) is not in the cache "
                f"folder {self.cache_dir}; download it with `passeur models pull {entry.name}` "
                "on a machine with access to the Hugging Face hub (serving never downloads), "
                "or pass a local folder with --translation-model/--summary-model DIR",
                model=entry.name,
                cache_dir=str(self.cache_dir),
            )
        return ResolvedModel(
            name=entry.name,
            task=task,
            revision=entry.revision,
            path=path,
            hub_id=entry.hub_id,
            entry=entry,
            generation=dict(entry.generation),
            backend=entry.backend,
        )


_cache: dict[tuple[Path, Path], tuple[tuple[int, int, int], Registry]] = {}
_cache_lock = threading.Lock()
# (default fallback setting, registry names) already logged as having no fallback
_no_default_fallback: set[tuple[str, tuple[str, ...]]] = set()


def load_registry(settings: Settings, *, cached: bool = False) -> Registry:
    """The registry file the settings name, with their model cache folder. ``cached``: the
    one parsed before while the file is unchanged (see :meth:`Registry.load_cached`)."""
    if cached:
        return Registry.load_cached(settings.registry_path, settings.model_cache)
    return Registry.load(settings.registry_path, settings.model_cache)


def translation_sources(
    registry: Registry, overrides: Iterable[str] = (), target: str = TARGET_LANG
) -> list[str]:
    """The source languages translated into ``target``: the registry's entries for it and
    the languages given a model in the settings (``Settings.translation_overrides()``).

    The one statement of which pairs the service supports, for the API (at submission) and
    the worker's translators alike.
    """
    return sorted({*registry.sources(target), *overrides})


def fallback_entry(registry: Registry, settings: Settings) -> ModelEntry | None:
    """The multilingual entry ``settings.fallback_model`` names (``PASSEUR_FALLBACK_MODEL``),
    or None for ``none``.

    Left at its default, a registry without that entry (the tests' and the benchmark's
    empty one, a deployment's own file) simply has no fallback: said once in the log, and
    by ``passeur models list``. Set explicitly, a name that is not a multilingual entry
    raises :class:`ConfigError` listing the ones there are.
    """
    setting = settings.fallback_model.strip()
    if setting.lower() == NO_FALLBACK:
        return None
    entry = registry.lookup(setting)
    if entry is not None and entry.multilingual and entry.target == TARGET_LANG:
        return entry
    if "fallback_model" not in settings.model_fields_set:
        key = (setting, tuple(registry.names()))
        with _cache_lock:
            first = key not in _no_default_fallback
            _no_default_fallback.add(key)
        if first:
            log.info("%s", no_fallback_note(registry, setting))
        return None
    raise ConfigError(
        f"fallback model {setting!r} is not a multilingual translation entry of the "
        f"registry; use one of {', '.join([*registry.multilingual(), NO_FALLBACK])} "
        "(PASSEUR_FALLBACK_MODEL)"
    )


def no_fallback_note(registry: Registry, setting: str) -> str:
    """Why the default fallback is off: for the log and ``passeur models list``."""
    others = registry.multilingual()
    hint = (
        f"set PASSEUR_FALLBACK_MODEL to one of {', '.join(others)}"
        if others
        else ('add a multilingual entry (source = "mul") to the registry')
    )
    return (
        f"no fallback model: the registry has no multilingual entry {setting!r} (the default), "
        f"so languages without a pair are refused; {hint}"
    )


def supported_sources(settings: Settings) -> list[str]:
    """The ``source_lang`` values an article may name: the languages translated into
    :data:`TARGET_LANG` by a pair or by the fallback model, and that language itself
    (summarised as it is). Reads the registry file only when it has changed."""
    registry = load_registry(settings, cached=True)
    fallback = fallback_entry(registry, settings)
    return sorted(
        {
            *translation_sources(registry, settings.translation_overrides()),
            *(fallback.languages if fallback else ()),
            TARGET_LANG,
        }
    )


def _resolve_folder(folder: Path, task: str) -> ResolvedModel:
    if not (folder / "config.json").is_file():
        raise UnknownModel(f"{folder} is a folder but holds no config.json: not a model folder")
    # A local folder has no hub revision; a fingerprint of its config and weights' size
    # and date tells two versions of it apart in the results.
    fingerprint = hashlib.sha256()
    for f in sorted(folder.iterdir()):
        if f.is_file():
            stat = f.stat()
            fingerprint.update(f"{f.name}:{stat.st_size}:{int(stat.st_mtime)};".encode())
    revision = "local:" + fingerprint.hexdigest()[:12]
    return ResolvedModel(name=str(folder.resolve()), task=task, revision=revision, path=folder)
