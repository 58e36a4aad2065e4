"""JSON Lines reading and writing for agentloop records.

Reading validates every line against the record type and stops at the first
bad one with an error naming the file, the line and the field; nothing is
skipped. Writing appends one record per line and flushes it, so a crash loses
at most the record being written.

Example:
    >>> write_jsonl(path, trajectories)
    >>> read_jsonl(path, Trajectory)
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel, ValidationError

from agentloop.atomic import write_atomic

R = TypeVar("R", bound=BaseModel)


class JsonlError(ValueError):
    """A line of a JSONL file that is not a valid record."""

    def __init__(self, path: Path, line: int, detail: str):
        self.path, self.line, self.detail = path, line, detail
        super().__init__(f"{path}:{line}: {detail}")


def _describe(error: ValidationError) -> str:
    parts = []
    for item in error.errors():
        field = ".".join(str(p) for p in item["loc"]) or "(record)"
        parts.append(f"field {field!r}: {item['msg']}")
    return "; ".join(parts)


def iter_jsonl(path: str | os.PathLike, record: type[R]) -> Iterator[R]:
    """Yield the records of `path`, raising `JsonlError` at the first bad line."""
    path = Path(path)
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                raise JsonlError(path, number, "empty line")
            try:
                data = json.loads(line)
            except json.JSONDecodeError as error:
                raise JsonlError(path, number, f"not JSON ({error.msg})") from None
            try:
                yield record.model_validate(data)
            except ValidationError as error:
                raise JsonlError(path, number, _describe(error)) from None


def read_jsonl(path: str | os.PathLike, record: type[R]) -> list[R]:
    """All records of `path` as `record` instances."""
    return list(iter_jsonl(path, record))


class JsonlWriter:
    """Appends records to a JSONL file, one flushed line each.

    Example:
        >>> with JsonlWriter("out.jsonl") as out:
        ...     out.write(trajectory)
    """

    def __init__(self, path: str | os.PathLike, append: bool = True):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._handle = self.path.open("a" if append else "w", encoding="utf-8")

    def write(self, record: BaseModel) -> None:
        self._handle.write(record.model_dump_json() + "\n")
        self._handle.flush()

    def close(self) -> None:
        self._handle.close()

    def __enter__(self) -> JsonlWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def write_jsonl(path: str | os.PathLike, records: Iterable[BaseModel]) -> Path:
    """Write `records` to `path` atomically (temporary file, then rename)."""
    return write_atomic(path, "".join(record.model_dump_json() + "\n" for record in records))
