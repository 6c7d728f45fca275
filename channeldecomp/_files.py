"""Writing output files whole or not at all."""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path

__all__ = ["atomic_path"]


@contextlib.contextmanager
def atomic_path(path):
    """Yield a temporary path beside ``path``; on success rename it to ``path``.

    The caller writes the whole file to the temporary path (which does not exist yet, so the
    writer creates it with the usual permissions). When the block ends without an error, the
    file replaces ``path`` in one rename, so a reader never sees a half-written file; when it
    raises, the temporary file is removed and ``path`` is left as it was.

    Parameters
    ----------
    path : str or path-like
        The file to write. Its folder must exist.

    Yields
    ------
    temporary : pathlib.Path
        Where to write, in the same folder (a hidden name ending in ``.tmp``).

    Raises
    ------
    FileNotFoundError
        If the folder of ``path`` does not exist.

    Examples
    --------
    >>> import tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> with atomic_path(folder / "scores.csv") as temporary:
    ...     _ = temporary.write_text("run,lumi\\n")
    >>> sorted(p.name for p in folder.iterdir())
    ['scores.csv']
    """
    path = Path(path)
    if not path.parent.is_dir():
        raise FileNotFoundError(
            f"Cannot write {path}: the folder {path.parent} does not exist. Create it first."
        )
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    try:
        yield temporary
        os.replace(temporary, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            temporary.unlink()
