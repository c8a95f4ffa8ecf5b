"""The rules `service.text.segmentation` applies: sentence ends, and spans no cut may enter.

`is_sentence_end` decides whether a match of `END_PUNCTUATION` ends a sentence;
`rules_for(lang)` supplies the words before a period that do not. French uses the
curated lists below. Other languages start from the Moses non-breaking-prefix list
shipped with `sentence_splitter`, plus a few English, German and Spanish additions; a
language without a list gets the English titles. The rest finds what every language
shares: URLs and e-mail addresses, quoted passages, list items flattened into a line,
and (French) intertitles glued to their paragraph by scraping.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib import resources

import regex

__all__ = [
    "END_PUNCTUATION",
    "LIST_ITEM",
    "LanguageRules",
    "glued_heading_starts",
    "inline_item_starts",
    "is_sentence_end",
    "may_end_sentence",
    "protected_spans",
    "quoted_spans",
    "rules_for",
]

# Abbreviations never end a sentence, whatever follows ("Mme", "c.-à-d", "cf").
_FR_ALWAYS = """
M MM Mme Mmes Mlle Mlles Mgr Dr Drs Pr Me St Ste Sts Gal Cdt Lt Col Sgt Vve
c.-à-d c-à-d cf p ex env av apr bd boul coll dir éd fig hab ibid id inf loc op
pp réf sq sqq suiv sup suppl tél trad vs cit ann anc approx resp
Mr Mrs Ms Jr Sr
"""
# Abbreviations only before a number. Some are also words that end sentences ("l'art.",
# "un vol.", "ils étaient sept."); after a month, a capital starts a new sentence far more
# often than it continues this one ("le 3 janv. 2020" vs "fin janv. Le lendemain").
_FR_NUMERIC = "art vol no chap janv févr fév avr juil sept oct nov déc"

_EN_ALWAYS = """
Mr Mrs Ms Mx Dr Drs Prof Sr Jr St Mt Gen Gov Sen Rep Lt Col Capt Sgt Rev Hon Messrs
e.g i.e cf vs al approx
"""
_EN_NUMERIC = "No Nos Art Nr pp p Vol vol Fig fig Jan Feb Mar Apr Jun Jul Aug Sep Sept Oct Nov Dec"

_DE_ALWAYS = """
Dr Prof Hr Fr Frl Str St z.B z.T d.h u.a u.U o.ä u.ä bzw ca vgl ggf evtl inkl sog
Mio Mrd Jh Chr v.Chr n.Chr Abs Bd Hrsg Tel
"""
_DE_NUMERIC = "Nr Art"

# "EE. UU." and "FF. AA." double a capital for a plural; "a. C." is before Christ.
_ES_ALWAYS = "EE UU FF AA SS MM Sr Sra Srta Sres Dña Ud Uds Vd Vds pág núm"

# Moses lists treat these as non-breaking, but they end sentences far more often than
# they sit before a capitalised word mid-sentence ("etc. Le marché", "Apple Inc. The").
_SENTENCE_FINAL_OK = frozenset(["etc", "usw", "usf", "Inc", "Corp", "Co", "Ltd", "Bros"])

# A name particle may follow an initial ("M. Le Pen", "J. de La Fontaine"), so only
# pronouns and conjunctions count as proof that a new sentence starts after "X.".
_FR_STARTERS = """
Il Elle Ils Elles On Nous Vous Je J' C' Ce Cette Cet Ces Mais Et Or Donc Puis Pourtant
Cependant Ainsi Selon Dans Pour Par Sur Avec Après Avant Depuis En Les Un Une Lors Alors
Leur Leurs Son Sa Ses Notre Nos Votre Vos Cela Ceci Aucun Aucune Tout Tous Toute Toutes
"""
_EN_STARTERS = """
The It He She They We You This That These Those But And In On At After Before Since
However Meanwhile His Her Their Its Our There Then When While If So Yet
"""
_DE_STARTERS = """
Der Die Das Er Sie Es Wir Ihr Ich Aber Und Im Am Nach Vor Seit Dies Diese Dieser
Damit Dann Doch Auch Ein Eine Sein Seine Ihre
"""

_ROMAN = regex.compile(r"[IVXLC]+|[ivxlc]+")


@dataclass(frozen=True)
class LanguageRules:
    """What a language's sentence splitter needs to know beyond punctuation."""

    lang: str
    always: frozenset[str]  # abbreviation before the period: never a sentence end
    numeric: frozenset[str]  # abbreviation only when a number follows ("art. 3")
    starters: frozenset[str]  # words proving a sentence starts after an initial


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


def _with_capitals(words: frozenset[str]) -> frozenset[str]:
    """Add the sentence-initial form of lower-case abbreviations ("cf" -> "Cf")."""
    return words | {w[0].upper() + w[1:] for w in words if w[0].islower()}


def _moses_prefixes(lang: str) -> tuple[set[str], set[str]]:
    """Read `sentence_splitter`'s prefix list for `lang` as (always, numeric-only) sets."""
    always: set[str] = set()
    numeric: set[str] = set()
    path = resources.files("sentence_splitter") / "non_breaking_prefixes" / f"{lang}.txt"
    if not regex.fullmatch(r"[a-z]{2}", lang) or not path.is_file():
        return always, numeric
    for line in path.read_text(encoding="utf-8-sig").splitlines():
        word = line.split("#", 1)[0].strip()
        # Single letters are handled by the initials rule, which looks at the next word.
        if not word or (len(word) == 1 and word.isalpha()) or word in _SENTENCE_FINAL_OK:
            continue
        if lang != "de" and _ROMAN.fullmatch(word):
            continue  # "Elizabeth II." ends sentences; only German writes ordinals "II."
        (numeric if "#NUMERIC_ONLY#" in line else always).add(word)
    return always, numeric


@cache
def rules_for(lang: str) -> LanguageRules:
    """Return the segmentation rules for an ISO 639-1 code; unknown codes get generic rules."""
    lang = lang.lower().split("-")[0].split("_")[0]
    if lang == "fr":
        return LanguageRules(
            lang,
            _with_capitals(_words(_FR_ALWAYS)),
            _with_capitals(_words(_FR_NUMERIC)),
            _words(_FR_STARTERS),
        )
    always, numeric = _moses_prefixes(lang)
    starters: frozenset[str] = frozenset()
    if lang == "de":
        always.update(_DE_ALWAYS.split())
        numeric.update(_DE_NUMERIC.split())
        starters = _words(_DE_STARTERS)
    elif lang == "es":
        always.update(_ES_ALWAYS.split())
    elif lang == "en" or not always:
        # English is also the generic fallback: its titles appear in every language's news.
        always.update(_EN_ALWAYS.split())
        numeric.update(_EN_NUMERIC.split())
        starters = _words(_EN_STARTERS) if lang == "en" else frozenset()
    return LanguageRules(
        lang,
        _with_capitals(frozenset(always - numeric)),
        _with_capitals(frozenset(numeric)),
        starters,
    )


# Where an address may be: scanning for these first keeps the cost off ordinary words.
_SEEDS = regex.compile(r"(?:https?|ftp)://|www\.|@|\.(?=[\p{L}\p{N}])")
_CHUNK_EDGE = regex.compile(r"[\s<>«»\"“”()\[\]]")
# Punctuation at the end of an address belongs to the sentence ("voir lemonde.fr.").
_TRAILING = ".,;:!?'’"
_EMAIL = regex.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
# Bare domain names and dotted product names: "lemonde.fr", "Node.js", "Booking.com/x".
_DOMAIN = regex.compile(
    r"[\p{L}\p{N}-]+(?:\.[\p{L}\p{N}-]+)*\.(?:fr|com|org|net|info|io|eu|be|ch|ca|uk|de"
    r"|es|it|gouv|edu|gov|tv|js|ts|py|NET|html?|php)(?:/\S*)?"
)


def protected_spans(text: str) -> list[tuple[int, int]]:
    """Spans of URLs, e-mail addresses and domain names, which no cut may enter."""
    spans: list[tuple[int, int]] = []
    for seed in _SEEDS.finditer(text):
        if spans and seed.start() < spans[-1][1]:
            continue
        left = seed.start()
        while left > 0 and not _CHUNK_EDGE.match(text, left - 1):
            left -= 1
        right_edge = _CHUNK_EDGE.search(text, seed.end())
        right = right_edge.start() if right_edge else len(text)
        while right > left and text[right - 1] in _TRAILING:
            right -= 1
        chunk = text[left:right]
        if seed.group() == "@":
            ok = _EMAIL.fullmatch(chunk) is not None
        elif seed.group() == ".":
            ok = _DOMAIN.fullmatch(chunk) is not None
        else:
            ok = True
        if ok:
            spans.append((left, right))
    return spans


_H = "[ \t\u00a0\u202f\u2009\u2007]"  # horizontal spaces, non-breaking ones included
# Sentence-final punctuation, then closing marks: `. »`, `.)`, `!"`. A straight quote
# directly followed by a letter opens the next sentence (`dit."Je`), so it is not taken.
# Besides the Latin marks: the ideographic and full-width ones of Chinese and Japanese
# (`。！？`, no space after them), the Arabic question mark and full stop (`؟`, `۔`) and the
# Devanagari danda (`।`), for articles routed to a multilingual model.
_WIDE_ENDS = "。！？"
END_PUNCTUATION = regex.compile(
    r"(?P<punct>[.!?…。！？؟۔।]+)(?P<close>(?:"
    + _H
    + r"?(?:[»”’)\]›」』）】]|[\"'“](?![\p{L}\p{N}])))*)"
)
_NEXT = regex.compile(r"(?P<gap>\s*)(?P<open>[«»\"“„‘‚'‹(\[¿¡—–\-]*" + _H + r"*)(?P<word>\S?)")
_NEXT_WORD = regex.compile(r"[\p{L}\p{M}]+['’]?")
# The word before a period, dots and hyphens included: "c.-à-d", "J.-L", "U.S.A", "1er".
_TOKEN = regex.compile(r"(?r)(?:[\p{L}\p{M}\p{N}°]+[.\-]+)*[\p{L}\p{M}\p{N}°]+$")
_INITIALS = regex.compile(r"\p{Lu}(?:[.\-]+\p{Lu})*")
_NUMBER_BEFORE = regex.compile(r"(?r)\d+(?:er)?" + _H + r"+$")
_ERA_BEFORE = regex.compile(r"(?r)(?:av|apr)\." + _H + r"*$")


def _capital(char: str) -> bool:
    """An upper-case letter, or a letter of a script without case (Arabic, Chinese, Thai):
    what may start a sentence."""
    return char.isupper() or (char.isalpha() and not char.islower())


def is_sentence_end(text: str, m: regex.Match[str], rules: LanguageRules) -> bool:
    """Decide whether the terminal punctuation matched by `m` ends a sentence."""
    nxt = _NEXT.match(text, m.end())  # always matches: every part is optional
    if nxt is None or not nxt["word"]:
        return False
    first = nxt["word"]
    glued = not nxt["gap"]
    punct = m["punct"]
    if any(c in _WIDE_ENDS for c in punct):
        # `。` ends a sentence (Chinese and Japanese put no space after it), unless it ends
        # a quotation the sentence goes on after: `彼は「行きます。」と言った。`
        return not (glued and any(c in "」』）】" for c in m["close"]))
    if glued and (not _capital(first) or nxt["open"].strip('"«“„')):
        return False
    if not (_capital(first) or (first.isdigit() and "…" not in punct and ".." not in punct)):
        return False
    if m.start() and text[m.start() - 1] in "([" and m["close"][:1] in (")", "]"):
        return False  # "(...)" marks an elision inside a quotation
    if punct != "." or m["close"]:
        return True
    window = text[max(0, m.start() - 40) : m.start()]
    token_match = _TOKEN.search(window)
    if token_match is None:
        return True  # `"fin".` or `45 %.`: no word before the period
    token = token_match.group()
    head, dot, tail = token.rpartition(".")
    if dot and len(head.rsplit(".", 1)[-1]) > 1 and token not in rules.always:
        token = tail.lstrip("-")  # "fin.M. Dupont" is glued: judge "M" alone
    if token in rules.always:
        return False
    if token in rules.numeric:
        return not first.isdigit()
    if len(token) == 1 and token.islower():
        # A lone lower-case letter is an abbreviation ("p.", "400 a. C."), except a unit
        # after a number ("14 h.", "Mbit/s.") when a word follows.
        before_token = window[: token_match.start()]
        if not (before_token.endswith("/") or _NUMBER_BEFORE.search(before_token)):
            return False
        word = _NEXT_WORD.match(text, nxt.start("word"))
        return word is not None and len(word.group()) > 1 and word.group() not in rules.always
    if _INITIALS.fullmatch(token):
        if token in ("J.-C", "J.C") and _ERA_BEFORE.search(window[: token_match.start()]):
            return True  # "52 av. J.-C." is a date that may end the sentence
        word = _NEXT_WORD.match(text, nxt.start("word"))
        return word is not None and word.group().replace("’", "'") in rules.starters
    return True


_NEXT_CAPITAL = regex.compile(r"\s+[«\"“„‘‚‹(\[¿¡]*" + _H + r"?[\p{Lu}\p{Lo}\p{N}]")


def may_end_sentence(text: str, m: regex.Match[str], rules: LanguageRules) -> bool:
    """A looser test than `is_sentence_end`: punctuation then a capitalised word or a number.

    Only a known abbreviation ("M. Dupont", "Mr. Smith", "art. 3") is ruled out. Initials
    and names after them count, so a segment that the splitter kept whole for safety ("le
    plan B. Marie…") shows here as holding two sentences; the translation of such a segment
    is expected to hold as many (see `service.pipeline.translate`).
    """
    if any(c in _WIDE_ENDS for c in m["punct"]):
        rest = text[m.end() :]
        quoted = any(c in "」』）】" for c in m["close"]) and rest[:1].strip()
        return bool(rest.strip()) and not quoted
    if _NEXT_CAPITAL.match(text, m.end()) is None:
        return False
    if m["punct"] != "." or m["close"]:
        return True
    token_match = _TOKEN.search(text[max(0, m.start() - 40) : m.start()])
    if token_match is None:
        return True
    token = token_match.group()
    if token in rules.always:
        return False
    return not (token in rules.numeric and text[m.end() :].lstrip()[:1].isdigit())


# A line that is a list item: "- x", "• x", "1. x", "2) x", "a) x".
LIST_ITEM = regex.compile(r"\s*(?:[-–—•*▪●◦‣·►▶■◆➜]\s|\(?(?:\d{1,3}[.)]|[a-zA-Z]\))\s)")

# List items flattened into one line by scraping: "transport- La SNCF", "4h • Droit",
# "(ST2S) : - Série". A spaced dash after a plain word may be a parenthesis, so not that,
# and "anti- " is a prefix awaiting its word. Each pattern starts with the mark itself,
# which keeps the scan cheap.
_GLUED_DASH_ITEM = regex.compile(
    r"-(?<=[\p{L}\p{N})\].!?»\"]-)(?<!\b(?:anti|post|pro|pré|néo|ex|sous|semi|mini|micro|multi"
    r"|inter|super|ultra|extra|contre|non|auto|co)-)(?=" + _H + r"+[\"«]?\p{Lu})"
)
_BULLET_ITEM = regex.compile(r"[•►▶■◆➜](?=\s)")
_ITEM_AFTER_COLON = regex.compile(r"[:;](?=\s+[-–•*]\s+[\"«]?\p{Lu})")


def inline_item_starts(text: str) -> list[int]:
    """Offsets where a list item flattened into running text begins (or, after `:`, may)."""
    starts = [m.start() for m in _BULLET_ITEM.finditer(text)]
    if "-" in text:
        starts += [m.start() for m in _GLUED_DASH_ITEM.finditer(text)]
        starts += [m.end() for m in _ITEM_AFTER_COLON.finditer(text)]
    return starts


_QUOTE_MARK = regex.compile(r"[«»“”„‹›\"]")
_CLOSING_OF = {"«": "»", "“": "”", "„": "“", "‹": "›"}


def quoted_spans(text: str) -> list[tuple[int, int]]:
    """(opening, closing) indices of the quoted passages of `text`, nested ones included.

    Typographic marks pair by nesting (German „…“ too). A straight quote after a space or
    an opening bracket opens (replacing an unclosed one, so one missing closer does not
    throw every later pair out of step); elsewhere it closes the open one, or, with none
    open, opens if it touches the next word (`dit."Je`).
    """
    pairs: list[tuple[int, int]] = []
    stack: list[tuple[str, int]] = []  # expected closing mark, index of the opening one
    straight: int | None = None
    for m in _QUOTE_MARK.finditer(text):
        mark, i = m.group(), m.start()
        if mark == '"':
            if i == 0 or text[i - 1].isspace() or text[i - 1] in "([«“'’\"":
                straight = i
            elif straight is not None:
                pairs.append((straight, i))
                straight = None
            elif text[i + 1 : i + 2].isalnum():
                straight = i
        elif mark == "“" and stack and stack[-1][0] == "“":
            pairs.append((stack.pop()[1], i))
        elif mark in _CLOSING_OF:
            stack.append((_CLOSING_OF[mark], i))
        else:
            for k in range(len(stack) - 1, -1, -1):
                if stack[k][0] == mark:
                    pairs.append((stack[k][1], i))
                    del stack[k:]
                    break
    return pairs


# Scraped French articles glue an intertitle to the paragraph after it, with no
# punctuation: "Violents orages en CorseDe violents orages…". A lower-case letter directly
# followed by one of these sentence openers and a space marks such a seam; brand names in
# camel case ("TikTok", "LinkedIn", "iPhone") do not continue with an opener and a space.
_FR_OPENERS = (
    "Le La Les Un Une Des Du De Par Pour Dans Selon Il Elle Ils Elles On Ce Cette Ces En Au Aux "
    "Après Alors Mais Depuis Lors Si Sur Avec Face Quant Outre Enfin Ainsi Pourtant Cependant "
    "Toutefois Néanmoins Son Sa Ses Leur Leurs À A Et Or Dès Malgré Parmi Contacté Contactée "
    "Interrogé Interrogée Lundi Mardi Mercredi Jeudi Vendredi Samedi Dimanche"
)
_FR_GLUED_HEADING = regex.compile(
    r"(?<=\p{Ll}\p{Ll})(?=(?:" + "|".join(_FR_OPENERS.split()) + r")\s|[LDC]['’]\p{L})"
)


def glued_heading_starts(text: str, lang: str) -> list[int]:
    """Offsets where a scraped intertitle ends and the next paragraph begins (French)."""
    if lang != "fr":
        return []
    return [m.start() for m in _FR_GLUED_HEADING.finditer(text)]
