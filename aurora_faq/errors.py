"""Domain errors, one hierarchy; `app/errors.py` maps each to one HTTP status.

AuroraError
├── FAQValidationError      the FAQ file has problems (all listed, with line numbers)
├── IndexUnavailableError   no index, or one that cannot be used
│   ├── IndexNotFoundError      nothing at the index path
│   ├── IndexCorruptError       files missing, unreadable or inconsistent
│   └── EncoderMismatchError    built with another encoder than the one configured
├── QueryError              a search request that cannot be answered as sent
└── EntryNotFoundError      no FAQ entry with that id
"""

from __future__ import annotations

from dataclasses import dataclass


class AuroraError(Exception):
    """Base of every error this package raises on purpose."""


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an FAQ file."""

    line: int
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}"


class FAQValidationError(AuroraError):
    def __init__(self, path: str, problems: list[Problem]) -> None:
        self.path = path
        self.problems = problems
        listing = "\n".join(f"  {path}:{p}" for p in problems)
        super().__init__(f"{len(problems)} problem(s) in {path}:\n{listing}")


class IndexUnavailableError(AuroraError):
    """The service has no usable index; the message says how to get one."""


class IndexNotFoundError(IndexUnavailableError):
    pass


class IndexCorruptError(IndexUnavailableError):
    pass


class EncoderMismatchError(IndexUnavailableError):
    pass


class QueryError(AuroraError):
    pass


class EntryNotFoundError(AuroraError):
    def __init__(self, entry_id: str) -> None:
        self.entry_id = entry_id
        super().__init__(f"no FAQ entry with id {entry_id!r}")
