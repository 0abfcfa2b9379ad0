"""Bounded reading of untrusted JSONL / JSON-array data files into checked records.

Work per input is bounded: a JSONL line longer than MAX_LINE_BYTES is a bad row (read in chunks,
never held whole), JSON-array files larger than MAX_ARRAY_FILE_BYTES are refused, and every text
field is capped at MAX_FIELD_CHARS. Problems inside one record are bad rows (the on_error policy
applies); a file that cannot be read at all (missing, not JSON, not an array) always raises.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, TypeVar

from aprm.data.errors import DataError, SkipLog, check_on_error, element_location, line_location

MAX_LINE_BYTES = 1_000_000
MAX_ARRAY_FILE_BYTES = 64_000_000  # the largest real file (omnimath) is 2.8 MB
MAX_FIELD_CHARS = 1_000_000
MAX_LIST_ITEMS = 10_000
_DRAIN_CHUNK = 1 << 20

T = TypeVar("T")


@dataclass(frozen=True)
class Record:
    """One JSON object from a data file plus its location, with typed, checked field access."""

    data: Any
    path: str
    where: str
    position: int  # 1-based line number (JSONL) or 0-based element index (JSON array)

    def error(self, field: str | None, message: str) -> DataError:
        return DataError(message, path=self.path, where=self.where, field=field)

    def get(self, field: str) -> Any:
        """The field's raw value; a DataError naming it when missing."""
        if field not in self.data:
            raise self.error(field, "missing field")
        return self.data[field]

    def text(self, field: str, *, allow_empty: bool = False) -> str:
        value = self.get(field)
        return self._check_text(field, value, allow_empty)

    def _check_text(self, field: str, value: Any, allow_empty: bool) -> str:
        if not isinstance(value, str):
            raise self.error(field, f"expected a string, got {type(value).__name__}")
        if len(value) > MAX_FIELD_CHARS:
            raise self.error(field, f"text longer than {MAX_FIELD_CHARS} characters")
        if not allow_empty and not value.strip():
            raise self.error(field, "empty string")
        return value

    def integer(self, field: str) -> int:
        value = self.get(field)
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.error(field, f"expected an integer, got {type(value).__name__}")
        return value

    def boolean(self, field: str) -> bool:
        value = self.get(field)
        if not isinstance(value, bool):
            raise self.error(field, f"expected true/false, got {type(value).__name__}")
        return value

    def real(self, field: str) -> float:
        value = self.get(field)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self.error(field, f"expected a number, got {type(value).__name__}")
        if not math.isfinite(value):
            raise self.error(field, f"expected a finite number, got {value!r}")
        return value

    def text_list(self, field: str) -> list[str]:
        value = self.get(field)
        if not isinstance(value, list) or not value:
            raise self.error(field, "expected a non-empty list of strings")
        if len(value) > MAX_LIST_ITEMS:
            raise self.error(field, f"more than {MAX_LIST_ITEMS} items")
        return [self._check_text(f"{field}[{i}]", item, False) for i, item in enumerate(value)]


def require_file(path: str | os.PathLike, config_keys: str) -> Path:
    """Return `path` as a Path if it is a file; otherwise say which config key to set."""
    file = Path(path)
    if not file.is_file():
        raise DataError(f"data file not found: {file} (set {config_keys} to its location)",
                        path=str(file))
    return file


def iter_jsonl(path: Path) -> Iterator[Record | DataError]:
    """Yield one Record per non-blank line (line numbers are 1-based), or the DataError for it."""
    name = str(path)
    with open(path, "rb") as fh:
        line_no = 0
        while True:
            raw = fh.readline(MAX_LINE_BYTES + 1)
            if not raw:
                return
            line_no += 1
            where = line_location(line_no)
            if len(raw) > MAX_LINE_BYTES and not raw.endswith(b"\n"):
                _drain_line(fh)
                yield DataError(f"line longer than {MAX_LINE_BYTES} bytes", path=name, where=where)
                continue
            if not raw.strip():
                continue
            yield _decode_object(raw, name, where, line_no)


def _drain_line(fh) -> None:
    """Skip the rest of an oversized line without holding it in memory."""
    while True:
        chunk = fh.readline(_DRAIN_CHUNK)
        if not chunk or chunk.endswith(b"\n"):
            return


def _decode_object(raw: bytes, name: str, where: str, line_no: int) -> Record | DataError:
    try:
        data = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        return DataError(f"not valid UTF-8 ({exc.reason})", path=name, where=where)
    except json.JSONDecodeError as exc:
        return DataError(f"invalid JSON ({exc.msg} at column {exc.colno})", path=name, where=where)
    except RecursionError:
        return DataError("invalid JSON (nested too deeply)", path=name, where=where)
    if not isinstance(data, dict):
        return DataError(f"expected a JSON object, got {type(data).__name__}", path=name,
                         where=where)
    return Record(data, name, where, line_no)


def iter_json_array(path: Path) -> Iterator[Record | DataError]:
    """Yield one Record per element of a JSON array file, or the DataError for that element."""
    name = str(path)
    size = path.stat().st_size
    if size > MAX_ARRAY_FILE_BYTES:
        raise DataError(f"file is {size} bytes, over the {MAX_ARRAY_FILE_BYTES}-byte limit",
                        path=name)
    try:
        data = json.loads(path.read_bytes().decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise DataError(f"not valid UTF-8 ({exc.reason})", path=name) from exc
    except json.JSONDecodeError as exc:
        raise DataError(f"invalid JSON ({exc.msg})", path=name,
                        where=f"line {exc.lineno} column {exc.colno}") from exc
    except RecursionError as exc:
        raise DataError("invalid JSON (nested too deeply)", path=name) from exc
    if not isinstance(data, list):
        raise DataError(f"expected a JSON array, got {type(data).__name__}", path=name)
    for index, item in enumerate(data):
        where = element_location(index)
        if isinstance(item, dict):
            yield Record(item, name, where, index)
        else:
            yield DataError(f"expected a JSON object, got {type(item).__name__}", path=name,
                            where=where)


def collect(records: Iterator[Record | DataError], convert: Callable[[Record], T],
            on_error: str, skips: SkipLog | None) -> list[T]:
    """Convert every record, raising or skipping (into `skips`) on the first bad one."""
    check_on_error(on_error)
    log = skips if skips is not None else SkipLog()
    out: list[T] = []
    for record in records:
        try:
            if isinstance(record, DataError):
                raise record
            out.append(convert(record))
        except DataError as exc:
            if on_error == "raise":
                raise
            log.add(exc)
    return out
