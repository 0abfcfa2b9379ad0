"""Bad-row reporting for the data loaders.

Every malformed record becomes a `DataError` that names the file, where in it (1-based line for
JSONL, 0-based element index for JSON arrays) and the offending field. With on_error="skip" the
loaders record the error in a `SkipLog` instead of raising, so callers can report how much was
dropped and why.
"""

from __future__ import annotations

from dataclasses import dataclass, field

ON_ERROR_CHOICES = ("raise", "skip")
MAX_SKIP_REASONS = 5  # examples kept per log: enough to diagnose, small enough for an artifact


class DataError(ValueError):
    """A data file, record or field that cannot be used; the message says where and why."""

    def __init__(self, message: str, *, path: str | None = None, where: str | None = None,
                 field: str | None = None):
        parts = [p for p in (path, where, f"field '{field}'" if field else None) if p]
        super().__init__(f"{', '.join(parts)}: {message}" if parts else message)
        self.path = path
        self.where = where
        self.field = field


def line_location(line_no: int) -> str:
    return f"line {line_no}"


def element_location(index: int) -> str:
    return f"element {index} (0-based index in the JSON array)"


def check_on_error(on_error: str) -> str:
    if on_error not in ON_ERROR_CHOICES:
        raise ValueError(f"on_error must be one of {ON_ERROR_CHOICES}, got {on_error!r}")
    return on_error


@dataclass
class SkipLog:
    """Counts rows dropped under on_error='skip' and keeps the first few reasons."""

    skipped: int = 0
    reasons: list[str] = field(default_factory=list)

    def add(self, error: DataError) -> None:
        self.skipped += 1
        if len(self.reasons) < MAX_SKIP_REASONS:
            self.reasons.append(str(error))
