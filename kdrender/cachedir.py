"""kdrender's private cache folders: ``$KDRENDER_CACHE_DIR``, else ``$XDG_CACHE_HOME/kdrender``, else
``~/.cache/kdrender``.  A folder that cannot be made, is not ours, is a symlink or is writable by
others is not used (None): a cache another user could write is a way to inject output."""

from __future__ import annotations

import os
import stat


def private_folder(environ, name: str) -> str | None:
    base = environ.get("KDRENDER_CACHE_DIR") or os.path.join(
        environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "kdrender")
    folder = os.path.join(base, name)
    try:
        os.makedirs(folder, mode=0o700, exist_ok=True)
        info = os.lstat(folder)
    except OSError:
        return None
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid() or info.st_mode & 0o022:
        return None
    return folder
