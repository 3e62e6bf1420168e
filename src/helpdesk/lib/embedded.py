"""The embedded default's data folder: the one place the settings touch the disk.

Outside production, settings.py prepares the folder once (``EmbeddedData.prepare``) and takes
the secrets nobody set from it: a development checkout keeps the same SECRET_KEY and metrics
token across restarts without anyone choosing them. Production never calls this: every secret
comes from the environment there and nothing is written.
"""

from __future__ import annotations

import logging
import os
import secrets
from collections.abc import Iterable
from pathlib import Path

logger = logging.getLogger(__name__)


class EmbeddedData:
    """The folder where the embedded default keeps its data and generated secrets."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @classmethod
    def prepare(cls, path: Path, folders: Iterable[Path] = ()) -> EmbeddedData:
        """Create ``path`` and ``folders`` (if missing) and return the data folder."""
        for folder in (path, *folders):
            folder.mkdir(parents=True, exist_ok=True)
        return cls(path)

    def secret(self, name: str, nbytes: int) -> str:
        """Return the secret kept in the file ``name``, generating it on first use.

        The file is created with mode 0600 from the start (no moment where another user could
        read it); two processes starting together keep the first one's value.
        """
        path = self.path / name
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "w") as out:
                out.write(secrets.token_urlsafe(nbytes))
        return path.read_text().strip()
