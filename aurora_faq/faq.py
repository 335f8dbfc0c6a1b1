"""The public FAQ format (`data/faq.jsonl` and every set in shared/eval): load and validate.

One JSON object a line:
  {"id", "category"?, "question": {lang: text}, "answer": {lang: text},
   "alternates"?: {lang: [text, ...]}, "tags"?: [..], "url"?: str, "note"?: str}
An entry may be in one language or both; `lang` keys are `ja` and `en`.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import FAQValidationError, Problem
from .text import LANGS, has_content

MAX_QUESTION_CHARS = 1000  # question and each alternate
MAX_ANSWER_CHARS = 20000
MAX_ID_CHARS = 200
_KNOWN_KEYS = {"id", "category", "question", "answer", "alternates", "tags", "url", "note"}


@dataclass(frozen=True)
class Entry:
    id: str
    question: dict[str, str]
    answer: dict[str, str]
    alternates: dict[str, list[str]] = field(default_factory=dict)
    category: str = ""
    tags: tuple[str, ...] = ()
    url: str | None = None
    note: str | None = None

    @property
    def langs(self) -> list[str]:
        return [lang for lang in LANGS if lang in self.question]

    def phrasings(self) -> list[tuple[str, str]]:
        """Every way the entry is asked: (lang, text), the question first."""
        out = [(lang, self.question[lang]) for lang in self.langs]
        for lang in LANGS:
            out.extend((lang, alt) for alt in self.alternates.get(lang, []))
        return out

    def in_lang(self, lang: str) -> str:
        """The language to show this entry in: the asked one if it has it."""
        return lang if lang in self.question else self.langs[0]

    def to_json(self) -> dict[str, Any]:
        d: dict[str, Any] = {"id": self.id, "category": self.category,
                             "question": self.question, "answer": self.answer,
                             "alternates": self.alternates}
        if self.tags:
            d["tags"] = list(self.tags)
        for key in ("url", "note"):
            if getattr(self, key):
                d[key] = getattr(self, key)
        return d


def _check_lang_map(obj: Any, name: str, limit: int, problems: list[str]) -> dict[str, str]:
    if not isinstance(obj, dict) or not obj:
        problems.append(f"'{name}' must be an object of language → text, e.g. {{\"ja\": \"...\"}}")
        return {}
    out = {}
    for lang, text in obj.items():
        if lang not in LANGS:
            problems.append(f"'{name}' has unknown language key {lang!r} (use {', '.join(LANGS)})")
        elif not isinstance(text, str) or not has_content(text):
            problems.append(f"'{name}.{lang}' is missing or empty")
        elif len(text) > limit:
            problems.append(f"'{name}.{lang}' is {len(text)} characters (at most {limit})")
        else:
            out[lang] = text
    return out


def _parse_entry(obj: Any) -> tuple[Entry | None, list[str]]:
    problems: list[str] = []
    if not isinstance(obj, dict):
        return None, ["each line must be a JSON object"]
    for key in sorted(set(obj) - _KNOWN_KEYS):
        problems.append(f"unknown field {key!r} (known: {', '.join(sorted(_KNOWN_KEYS))})")
    entry_id = obj.get("id")
    if not isinstance(entry_id, str | int) or not str(entry_id).strip():
        problems.append("'id' is missing or empty")
    elif len(str(entry_id)) > MAX_ID_CHARS:
        problems.append(f"'id' is longer than {MAX_ID_CHARS} characters")
    question = _check_lang_map(obj.get("question"), "question", MAX_QUESTION_CHARS, problems)
    answer = _check_lang_map(obj.get("answer"), "answer", MAX_ANSWER_CHARS, problems)
    if question and answer and set(question) != set(answer):
        problems.append("'question' and 'answer' must have the same languages")
    alternates: dict[str, list[str]] = {}
    raw_alts = obj.get("alternates", {})
    if not isinstance(raw_alts, dict):
        problems.append("'alternates' must be an object of language → list of texts")
    else:
        for lang, alts in raw_alts.items():
            if lang not in LANGS:
                problems.append(f"'alternates' has unknown language key {lang!r}")
                continue
            if not isinstance(alts, list):
                problems.append(f"'alternates.{lang}' must be a list of texts")
                continue
            for i, alt in enumerate(alts):
                if not isinstance(alt, str):
                    problems.append(f"'alternates.{lang}[{i}]' must be a string")
                elif len(alt) > MAX_QUESTION_CHARS:
                    problems.append(
                        f"'alternates.{lang}[{i}]' is {len(alt)} characters (at most {MAX_QUESTION_CHARS})"
                    )
            # An empty alternate is dropped, not refused: public sets (BANKING77) carry a few.
            alternates[lang] = [a for a in alts if isinstance(a, str) and has_content(a)]
    category = obj.get("category", "")
    if not isinstance(category, str):
        problems.append("'category' must be a string")
    tags = obj.get("tags", [])
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        problems.append("'tags' must be a list of strings")
    for key in ("url", "note"):
        if key in obj and not isinstance(obj[key], str):
            problems.append(f"'{key}' must be a string")
    if problems:
        return None, problems
    return Entry(id=str(entry_id), question=question, answer=answer, alternates=alternates,
                 category=category, tags=tuple(tags), url=obj.get("url"),
                 note=obj.get("note")), []


def parse_faq(lines: list[str], path: str = "<faq>") -> list[Entry]:
    """Parse FAQ lines; raise FAQValidationError listing every problem with its line number."""
    entries: list[Entry] = []
    problems: list[Problem] = []
    first_line: dict[str, int] = {}
    for lineno, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            problems.append(Problem(lineno, f"bad JSON: {e.msg} at column {e.colno}"))
            continue
        entry, entry_problems = _parse_entry(obj)
        problems.extend(Problem(lineno, m) for m in entry_problems)
        if entry is None:
            continue
        if entry.id in first_line:
            problems.append(Problem(lineno, f"duplicate id {entry.id!r} (first on line {first_line[entry.id]})"))
            continue
        first_line[entry.id] = lineno
        entries.append(entry)
    if not entries and not problems:
        problems.append(Problem(1, "the FAQ has no entries"))
    if problems:
        raise FAQValidationError(path, problems)
    return entries


def read_faq(path: str | Path) -> tuple[list[Entry], str]:
    """Load and validate an FAQ file. Returns (entries, sha256 of the file's bytes)."""
    raw = Path(path).read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise FAQValidationError(str(path), [Problem(raw[: e.start].count(b"\n") + 1, "not UTF-8")]) from e
    # Split on newlines only: str.splitlines() also breaks at U+2028 and friends, which JSON
    # allows raw inside strings.
    return parse_faq(text.split("\n"), str(path)), hashlib.sha256(raw).hexdigest()


@dataclass(frozen=True)
class LabelledQuery:
    id: str
    query: str
    lang: str
    relevant: tuple[str, ...]
    grades: dict[str, int] = field(default_factory=dict)
    # How it is written (polite, romaji, near-miss, ...): evaluation metadata for the per-style
    # figures, never shown to the engine.
    style: str = ""


def read_queries(path: str | Path) -> list[LabelledQuery]:
    """Load a labelled query set (`{"id","query","lang","relevant":[ids],"grades"?,"style"?}` a line)."""
    out = []
    for lineno, line in enumerate(Path(path).read_text(encoding="utf-8").split("\n"), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
            style = obj.get("style", "")
            if not isinstance(style, str):
                raise TypeError(f"'style' must be a string, got {style!r}")
            out.append(LabelledQuery(id=str(obj.get("id", lineno)), query=obj["query"],
                                     lang=obj.get("lang", ""), relevant=tuple(map(str, obj["relevant"])),
                                     grades={str(k): int(v) for k, v in obj.get("grades", {}).items()},
                                     style=style.strip()))
        except (json.JSONDecodeError, KeyError, TypeError) as e:
            raise FAQValidationError(str(path), [Problem(lineno, f"bad query line: {e}")]) from e
    return out
