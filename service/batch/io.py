"""The batch script's inputs and outputs: files, folders, JSONL and stdin in; one JSON
record (or a Markdown section) per article out, durable line by line so ``--resume`` can
pick up after a crash."""

from __future__ import annotations

import io
import json
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from service.articles import Article, ArticleResult, check_text
from service.errors import InputError, InvalidText, UnreadableInput
from service.settings import DEFAULT_SOURCE_LANG
from service.text.terms import MAX_TERMS, term_problem

INPUT_SUFFIXES = (".txt", ".jsonl")
# A file's format by its suffix (docs/documents.md); anything else is plain text.
DOCUMENT_SUFFIXES = {".md": "markdown", ".markdown": "markdown", ".html": "html", ".htm": "html"}


@dataclass
class InputItem:
    """An article to run, or the error that stops it before the pipeline."""

    id: str
    source_lang: str
    article: Article | None = None
    error: dict[str, Any] | None = None

    def failed_result(self) -> ArticleResult:
        """The record of an item that never reached the pipeline (``article`` is None)."""
        return ArticleResult.failed(self.id, self.source_lang, self.error or {})


def expand_paths(paths: Iterable[str], input_format: str | None = None) -> list[Path | None]:
    """Files to read in order; ``None`` stands for stdin. Folders are walked recursively
    for ``.txt`` and ``.jsonl`` files, and for the Markdown or HTML files of
    ``input_format`` when it is given. A missing path raises ``FileNotFoundError``."""
    suffixes = INPUT_SUFFIXES + tuple(k for k, v in DOCUMENT_SUFFIXES.items() if v == input_format)
    out: list[Path | None] = []
    for raw in paths:
        if raw == "-":
            out.append(None)
            continue
        path = Path(raw)
        if path.is_dir():
            out.extend(sorted(p for p in path.rglob("*") if p.is_file() and p.suffix in suffixes))
        elif path.is_file():
            out.append(path)
        else:
            raise FileNotFoundError(f"no such file or folder: {raw}")
    return out


def count_articles(files: list[Path | None]) -> int | None:
    """Articles to expect, for the progress bar (None when reading stdin)."""
    total = 0
    for f in files:
        if f is None:
            return None
        if f.suffix == ".jsonl":
            with f.open("rb") as fh:
                total += sum(1 for line in fh if line.strip())
        else:
            total += 1
    return total


def _decode(data: bytes, where: str) -> str:
    if b"\x00" in data:
        raise UnreadableInput(
            f"{where} looks binary (it contains NUL bytes); give a UTF-8 text file"
        )
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UnreadableInput(
            f"{where} is not UTF-8 (byte 0x{data[exc.start]:02x} at offset {exc.start}); "
            "convert it first, e.g. `iconv -f latin1 -t utf-8`"
        ) from exc


def _jsonl_item(line: str, where: str, fallback_id: str, default_lang: str) -> InputItem:
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as exc:
        err: InputError = UnreadableInput(
            f"{where}: not valid JSON ({exc.msg} at column {exc.colno})"
        )
        return InputItem(fallback_id, default_lang, error=err.to_dict())
    if not isinstance(obj, dict):
        err = InputError(f"{where}: expected a JSON object with id, title, text")
        return InputItem(fallback_id, default_lang, error=err.to_dict())
    article_id = str(obj.get("id") or fallback_id)
    lang = obj.get("source_lang") or default_lang
    text, title = obj.get("text"), obj.get("title")
    if not isinstance(text, str) or not isinstance(lang, str) or not isinstance(title, str | None):
        err = InputError(f"{where}: `text` (and `title`, `source_lang` when given) must be strings")
        lang = _encodable(str(lang), default_lang)
        return InputItem(_encodable(article_id, fallback_id), lang, error=err.to_dict())
    fields = {"id": article_id, "source_lang": lang, "title": title, "text": text}
    try:
        for name, value in fields.items():
            if value is not None:
                check_text(value, name)  # a lone surrogate would also stop the writer
    except InvalidText as exc:
        err = InvalidText(f"{where}: {exc.message}", **exc.details)
        article_id, lang = _encodable(article_id, fallback_id), _encodable(lang, default_lang)
        return InputItem(article_id, lang, error=err.to_dict())
    try:
        glossary, keep = _jsonl_terms(obj, where)
    except InputError as exc:
        article_id, lang = _encodable(article_id, fallback_id), _encodable(lang, default_lang)
        return InputItem(article_id, lang, error=exc.to_dict())
    article = Article(article_id, text, title, lang, glossary=glossary, do_not_translate=keep)
    return InputItem(article_id, lang, article)


def _jsonl_terms(
    obj: dict[str, Any], where: str
) -> tuple[tuple[tuple[str, str], ...], tuple[str, ...]]:
    """A JSONL record's ``glossary`` (``[{"source", "target"}]``) and ``do_not_translate``
    (``[str]``), held to the API's limits; a bad entry is an :class:`InputError` naming it."""
    raw_glossary, raw_keep = obj.get("glossary") or [], obj.get("do_not_translate") or []
    if not isinstance(raw_glossary, list) or not isinstance(raw_keep, list):
        raise InputError(f"{where}: `glossary` and `do_not_translate` must be lists")
    for name, terms in (("glossary", raw_glossary), ("do_not_translate", raw_keep)):
        if len(terms) > MAX_TERMS:
            raise InputError(f"{where}: {len(terms)} {name} terms, over the limit of {MAX_TERMS}")
    glossary: list[tuple[str, str]] = []
    for i, entry in enumerate(raw_glossary):
        raw = [entry.get(k) for k in ("source", "target")] if isinstance(entry, dict) else []
        if len(raw) != 2 or not all(isinstance(v, str) for v in raw):
            raise InputError(f'{where}: glossary[{i}] must be {{"source": str, "target": str}}')
        pair = [str(v) for v in raw]
        for name, value in zip(("source", "target"), pair, strict=True):
            if problem := term_problem(value):
                raise InputError(f"{where}: glossary[{i}].{name} {problem}")
        glossary.append((pair[0].strip(), pair[1].strip()))
    for i, term in enumerate(raw_keep):
        problem = term_problem(term) if isinstance(term, str) else "is not a string"
        if problem:
            raise InputError(f"{where}: do_not_translate[{i}] {problem}")
    return tuple(glossary), tuple(t.strip() for t in raw_keep)


def _file_name_text(name: str) -> str:
    """``name`` as text UTF-8 can encode: the bytes of a file name that are not UTF-8 (which
    Python keeps as lone surrogates) become U+FFFD, as a terminal would show them."""
    try:
        raw = name.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:  # a surrogate no file system made
        raw = name.encode("utf-8", "replace")
    return raw.decode("utf-8", "replace")


def _is_encodable(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _encodable(value: str, fallback: str) -> str:
    """``value``, or ``fallback`` when UTF-8 cannot encode it (the record must be written)."""
    return value if _is_encodable(value) else fallback


def _items_from_text(
    data: bytes, path_id: str, where: str, jsonl: bool, lang: str, fmt: str = "text"
) -> Iterator[InputItem]:
    try:
        text = _decode(data, where)
    except InputError as exc:
        yield InputItem(path_id, lang, error=exc.to_dict())
        return
    if not jsonl:
        yield InputItem(path_id, lang, Article(path_id, text, None, lang, format=fmt))
        return
    for lineno, line in enumerate(io.StringIO(text), start=1):
        if line.strip():
            yield _jsonl_item(line, f"{where} line {lineno}", f"{path_id}-{lineno}", lang)


def iter_inputs(
    files: list[Path | None],
    stdin: IO[bytes],
    default_lang: str = DEFAULT_SOURCE_LANG,
    input_format: str | None = None,
) -> Iterator[InputItem]:
    """Every article of ``files`` in order; unreadable ones come as items with an error.

    A file's format is ``input_format`` when given, else its suffix's
    (:data:`DOCUMENT_SUFFIXES`), else text; a JSONL record is text."""
    for f in files:
        if f is None:
            data = stdin.read()
            looks_jsonl = input_format in (None, "text") and data.lstrip().startswith(b"{")
            fmt = input_format or "text"
            yield from _items_from_text(data, "stdin", "stdin", looks_jsonl, default_lang, fmt)
            continue
        # A file name that is not UTF-8 becomes the id and the place of the records.
        path_id, where = _file_name_text(f.stem), _file_name_text(str(f))
        try:
            data = f.read_bytes()
        except OSError as exc:
            err = UnreadableInput(f"{where}: cannot read ({exc.strerror})")
            yield InputItem(path_id, default_lang, error=err.to_dict())
            continue
        jsonl = f.suffix == ".jsonl" and input_format in (None, "text")
        fmt = input_format or DOCUMENT_SUFFIXES.get(f.suffix.lower(), "text")
        yield from _items_from_text(data, path_id, where, jsonl, default_lang, fmt)


def done_ids(out: Path) -> set[str]:
    """Ids already recorded in ``out``. A torn last line (a crash mid-write) is cut off
    so the file stays valid JSONL."""
    if not out.exists():
        return set()
    ids: set[str] = set()
    good_bytes = 0
    with out.open("rb") as fh:
        for line in fh:
            try:
                ids.add(str(json.loads(line)["id"]))
            except (ValueError, KeyError, TypeError):
                break
            good_bytes += len(line)
    if good_bytes < out.stat().st_size:
        with out.open("r+b") as fh:
            fh.truncate(good_bytes)
    return ids


class JsonlWriter:
    """One JSON record per line, flushed and fsynced per article."""

    def __init__(self, fh: IO[str], *, durable: bool = False) -> None:
        self.fh = fh
        self.durable = durable  # fsync each record: a file that --resume will read

    def write(self, result: ArticleResult) -> None:
        self.fh.write(json.dumps(result.to_dict(), ensure_ascii=False) + "\n")
        self.fh.flush()
        if self.durable:
            os.fsync(self.fh.fileno())


class MarkdownWriter(JsonlWriter):
    """A readable report: source beside translation, bullets, flags."""

    def write(self, result: ArticleResult) -> None:
        self.fh.write(render_markdown(result))
        self.fh.flush()


def render_markdown(result: ArticleResult) -> str:
    lines = [f"## {result.id}", ""]
    if result.error:
        lines += [f"**Failed** (`{result.error['code']}`): {result.error['message']}", "", ""]
        return "\n".join(lines)
    if result.title:
        lines += [f"**{result.title.translation}**", f"*{result.title.source}*", ""]
    if result.bullets:
        lines += ["Summary:", ""]
        lines += [
            f"- {b.text} (sentences {', '.join(str(i) for i in b.sentences)})"
            for b in result.bullets
        ]
        lines.append("")
    for para in result.paragraphs:
        lines += [para.translation, "", f"> {para.source}", ""]
    if result.flags:
        lines += ["Flags:", ""]
        for flag in result.flags:
            where = "" if flag.sentence is None else f" (sentence {flag.sentence})"
            lines.append(f"- `{flag.code}`{where}: {flag.detail}")
        lines.append("")
    models = ", ".join(
        f"{k}: {v['name']}@{v['revision'][:12]}" for k, v in result.models.items() if v
    )
    lines += [f"*Models: {models}*", "", ""]
    return "\n".join(lines)
