"""Domain errors, one hierarchy; `app/errors.py` maps each to one HTTP status.

AuroraError
├── FAQValidationError      the FAQ file has problems (all listed, with line numbers)
├── IndexUnavailableError   no index, or one that cannot be used (rebuild it)
│   ├── IndexNotFoundError      nothing at the index path
│   ├── IndexCorruptError       files missing, unreadable or inconsistent
│   ├── IndexFormatError        written by another version: format or calibration features differ
│   └── EncoderMismatchError    built with another encoder than the one configured
├── QueryError              a question that cannot be answered as sent (names the field)
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
    """No usable index at `path`: the remedy is to rebuild it. The core does not know how its
    caller builds indexes; the service and the scripts add the command to the message."""

    def __init__(self, path: object, message: str) -> None:
        self.path = path
        super().__init__(message)


class IndexNotFoundError(IndexUnavailableError):
    pass


class IndexCorruptError(IndexUnavailableError):
    pass


class IndexFormatError(IndexUnavailableError):
    pass


class EncoderMismatchError(IndexUnavailableError):
    def __init__(self, path: object, built_with: str, configured: str) -> None:
        self.built_with = built_with
        self.configured = configured
        super().__init__(path, f"index at {path} was built with encoder {built_with!r} but "
                               f"{configured!r} is configured")


class QueryError(AuroraError):
    """A question the engine cannot take as sent.

    `problem` is a template around `{name}`, the field's name, and `details`: the core says
    `text is empty`, the service names the parameter a client sent (`query 'q' is empty`).
    """

    def __init__(self, field: str, problem: str, **details: object) -> None:
        self.field = field
        self.problem = problem
        self.details = details
        super().__init__(self.worded(field))

    def worded(self, name: str) -> str:
        return self.problem.format(name=name, **self.details)


class EntryNotFoundError(AuroraError):
    def __init__(self, entry_id: str) -> None:
        self.entry_id = entry_id
        super().__init__(f"no FAQ entry with id {entry_id!r}")
