"""Where checkpoints go outside the database: a sink is anything that can keep numbered documents and
never overwrite one.

The default is a folder (``QMS_CHECKPOINT_DIR``), one file per checkpoint. Another store (an S3-compatible
bucket with object lock, an HTTP or syslog collector) is a class with the same three methods, named by its
dotted path in ``QMS_CHECKPOINT_SINK``; it is built with no arguments and reads its own settings.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

from django.conf import settings
from django.utils.module_loading import import_string

FILE_PATTERN = re.compile(r"^checkpoint-(\d{12})\.json$")


class CheckpointExists(Exception):
    """The sink already holds a checkpoint with this sequence number (it is never overwritten)."""


class CheckpointSink(Protocol):
    def put(self, *, sequence: int, data: bytes) -> str:
        """Store a new checkpoint; return where it is. Raise ``CheckpointExists`` rather than overwrite."""

    def get(self, *, sequence: int) -> bytes | None:
        """The checkpoint with this sequence number, or ``None``."""

    def documents(self) -> Iterator[tuple[str, bytes]]:
        """Every checkpoint held, as (name, bytes), in sequence order."""


def checkpoint_file_name(sequence: int) -> str:
    return f"checkpoint-{sequence:012d}.json"


class FolderSink:
    """One file per checkpoint in a folder, written whole (temporary file, fsync, hard link) or not at all."""

    def __init__(self, path: Path | str | None = None):
        self.path = Path(path or settings.QMS_CHECKPOINT_DIR)

    def put(self, *, sequence: int, data: bytes) -> str:
        self.path.mkdir(parents=True, exist_ok=True)
        target = self.path / checkpoint_file_name(sequence)
        fd, tmp = tempfile.mkstemp(dir=self.path, prefix=".incoming-")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.chmod(tmp, 0o444)
            try:
                os.link(tmp, target)  # fails if the name exists: no overwrite, no half-written file
            except FileExistsError as exc:
                raise CheckpointExists(f"{target} exists") from exc
        finally:
            os.unlink(tmp)
        dir_fd = os.open(self.path, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
        return str(target)

    def get(self, *, sequence: int) -> bytes | None:
        try:
            return (self.path / checkpoint_file_name(sequence)).read_bytes()
        except FileNotFoundError:
            return None

    def documents(self) -> Iterator[tuple[str, bytes]]:
        if not self.path.is_dir():
            return
        for entry in sorted(self.path.iterdir()):
            if FILE_PATTERN.match(entry.name):
                yield entry.name, entry.read_bytes()


def checkpoint_sink() -> CheckpointSink:
    return import_string(settings.QMS_CHECKPOINT_SINK)()
