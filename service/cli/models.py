"""``passeur models``: list the registry, pull models at their pinned revisions (and
convert them for CTranslate2), pin an entry to the hub's current commit."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from service.cli.common import EXIT_OK, EXIT_SOME_FAILED, add_compute_flags, settings_from
from service.errors import PasseurError, UnknownModel


def add_parser(sub: argparse._SubParsersAction) -> None:
    models = sub.add_parser("models", help="the model registry and cache").add_subparsers(
        dest="models_command", required=True
    )
    ls = models.add_parser(
        "list",
        help="registry entries and whether each is in the cache, then what translates each "
        "language (pair, fallback or refused)",
    )
    ls.set_defaults(func=cmd_models_list)
    pl = models.add_parser("pull", help="download models at their pinned revisions")
    pl.add_argument("names", nargs="*", help="registry names (default: all)")
    pl.add_argument("--force", action="store_true", help="download again even if cached")
    add_compute_flags(
        pl,
        device=False,
        threads_help=None,
        backend_help="convert for this backend after pulling "
        "(default: PASSEUR_BACKEND, else each entry's)",
    )
    pl.set_defaults(func=cmd_models_pull)
    pn = models.add_parser("pin", help="record the hub's current commit as an entry's revision")
    pn.add_argument("names", nargs="+", help="registry names")
    pn.set_defaults(func=cmd_models_pin)


def cmd_models_list(args: argparse.Namespace) -> int:
    from service.wiring import load_registry

    settings = settings_from()
    registry = load_registry(settings)
    rows = [("name", "task", "pair", "hub id @ revision", "cached")]
    for name in registry.names():
        e = registry.entries[name]
        rows.append(
            (
                name,
                e.task,
                e.pair,
                f"{e.hub_id}@{e.revision[:12] if e.pinned else '(unpinned)'}",
                "yes" if registry.is_cached(e) else "no",
            )
        )
    _print_table(rows)
    print(f"cache folder: {registry.cache_dir}")
    print()
    print(fallback_line(registry, settings))
    _print_table(language_routes(registry, settings))
    return EXIT_OK


def language_routes(registry, settings) -> list[tuple[str, ...]]:
    """One row per language detection can name (and per pair): what would translate it
    into English: its pair's model, the fallback (PASSEUR_FALLBACK_MODEL), or refused."""
    from service.engines.langid import supported_languages
    from service.registry import TARGET_LANG, fallback_entry, translation_sources

    overrides = settings.translation_overrides()
    pairs = translation_sources(registry, overrides)
    fallback = fallback_entry(registry, settings)
    rows: list[tuple[str, ...]] = [("language", "route", "model")]
    for lang in sorted({*supported_languages(), *pairs}):
        if lang == TARGET_LANG:
            rows.append((lang, "kept", "(already English)"))
        elif lang in pairs:
            spec = overrides.get(lang) or registry.for_pair("translation", lang, TARGET_LANG).name
            rows.append((lang, "pair", spec))
        elif fallback is not None and fallback.covers(lang):
            rows.append((lang, "fallback", fallback.name))
        else:
            rows.append((lang, "refused", "(no model; unsupported_language)"))
    return rows


def fallback_line(registry, settings) -> str:
    """Which fallback model serves the languages without a pair, or why none does."""
    from service.registry import NO_FALLBACK, fallback_entry, no_fallback_note

    entry = fallback_entry(registry, settings)
    if entry is not None:
        return f"fallback model (PASSEUR_FALLBACK_MODEL): {entry.name} ({entry.hub_id})"
    if settings.fallback_model.strip().lower() == NO_FALLBACK:
        return (
            "no fallback model (PASSEUR_FALLBACK_MODEL=none): languages without a pair are refused"
        )
    return no_fallback_note(registry, settings.fallback_model.strip())


def _print_table(rows: Sequence[tuple[str, ...]]) -> None:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())


def _entries(registry, names: list[str]) -> list:
    entries = []
    for name in names:
        entry = registry.lookup(name)
        if entry is None:
            raise UnknownModel(
                f"unknown model {name!r}; registry names: {', '.join(registry.names())}"
            )
        entries.append(entry)
    return entries


def _quiet_hub_client() -> None:
    """Silence the hub client's retry warnings (each printed twice: by its own handler and
    by ours). The hub has been asked once first (:func:`~service.hub.hub_problem`),
    and a download that still fails is reported once, by the command."""
    logging.getLogger("huggingface_hub.utils._http").setLevel(logging.ERROR)


def cmd_models_pull(args: argparse.Namespace) -> int:
    from service.engines.build import prepare_backend
    from service.hub import check_hub, pull
    from service.wiring import load_registry

    settings = settings_from()
    registry = load_registry(settings)
    if args.names:
        entries = _entries(registry, args.names)
    else:
        every = [registry.entries[name] for name in registry.names()]
        entries = [e for e in every if e.pinned]
        unpinned = {
            kind: [e.name for e in every if not e.pinned and e.multilingual == multilingual]
            for kind, multilingual in (
                ("optional language pairs", False),
                ("multilingual fallbacks, for languages without a pair", True),
            )
        }
        said = [f"{', '.join(names)} ({kind})" for kind, names in unpinned.items() if names]
        if said:
            print(
                f"not pulled: {'; '.join(said)}: their revision is not pinned yet; to add "
                "one: `passeur models pin NAME`, then `passeur models pull NAME`"
            )
    to_download = [e for e in entries if e.pinned and (args.force or not registry.is_cached(e))]
    if to_download:
        _quiet_hub_client()
        check_hub(registry, to_download)  # fails in seconds, saying what to do instead
    failed = 0
    for entry in entries:
        try:
            report = pull(registry, entry, force=args.force)
        except PasseurError as exc:
            print(f"failed {entry.name}: {exc.message}", file=sys.stderr)
            failed += 1
            continue
        except Exception as exc:  # noqa: BLE001 - network errors come in many types
            print(f"failed {entry.name}: {type(exc).__name__}: {exc}", file=sys.stderr)
            failed += 1
            continue
        if report.skipped:
            print(f"skipped {entry.name}: already in {report.path} (--force to download again)")
        else:
            print(f"pulled {entry.name}: {', '.join(report.downloaded)} -> {report.path}")
        try:
            path, now = prepare_backend(
                registry.resolve(entry.name, entry.task),
                registry.cache_dir,
                backend=args.backend or settings.backend,
                compute_type=args.compute_type or settings.compute_type,
                force=args.force,
            )
        except PasseurError as exc:
            print(f"failed to convert {entry.name}: {exc.message}", file=sys.stderr)
            failed += 1
            continue
        if path is not None:
            done = "converted" if now else "skipped conversion of"
            print(f"{done} {entry.name} for CTranslate2 -> {path}")
    return EXIT_SOME_FAILED if failed else EXIT_OK


def cmd_models_pin(args: argparse.Namespace) -> int:
    from service.hub import HubUnreachable, hub_endpoint, hub_problem, pin
    from service.wiring import load_registry

    settings = settings_from()
    registry = load_registry(settings)
    entries = _entries(registry, args.names)
    _quiet_hub_client()
    reason = hub_problem()
    if reason:
        raise HubUnreachable(
            f"the Hugging Face hub is not reachable from this machine: {reason} (asked "
            f"{hub_endpoint()}). Pin on a machine that reaches it (`passeur models pin "
            f"{' '.join(args.names)}`) and copy the revision lines it writes into "
            f"{settings.registry_path} here"
        )
    for entry in entries:
        sha = pin(settings.registry_path, entry)
        print(f"pinned {entry.name} to {entry.hub_id}@{sha} in {settings.registry_path}")
    return EXIT_OK
