"""Where model artifacts and training sets live: a storage interface and its local implementation.

Artifacts are immutable once written (a new training is a new model id), so a replica may cache
what it loaded forever. Each write goes to a temporary name first and is renamed into place, so a
reader never sees half a file. Production with several hosts needs a shared store: the same three
methods over S3 (``put_object``/``get_object``) or a shared volume. Only the local one exists here;
``AI_MODEL_DIR`` on a volume every replica mounts is the supported multi-replica setup for now.
"""

import hashlib
import os
import tempfile
from pathlib import Path
from typing import Protocol


class ArtifactStore(Protocol):
    def put(self, key: str, data: bytes) -> str:
        """Store ``data`` under ``key``; return its SHA-256 hex digest."""
        ...

    def get(self, key: str) -> bytes: ...

    def exists(self, key: str) -> bool: ...


class LocalArtifactStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if not path.is_relative_to(self.root.resolve()):
            raise ValueError(f"artifact key outside the store: {key!r}")
        return path

    def put(self, key: str, data: bytes) -> str:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return hashlib.sha256(data).hexdigest()

    def get(self, key: str) -> bytes:
        return self._path(key).read_bytes()

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()
