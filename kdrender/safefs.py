"""Reading files that anyone with commit rights can write: regular files only, never through a
folder link, never more than a budget allows.

Used by ``load`` (catalog/, clusters/, kdrender.yaml) and ``compare`` (golden/).  A symlink,
FIFO, socket or device is reported without being opened for reading (a FIFO would block, a
device or ``/proc`` file would leak what it holds into a diff or a message).
"""

from __future__ import annotations

import os
import stat


class Refused(Exception):
    """A file or folder that is not read; ``reason`` completes "<path> ..."."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def kind_of(mode: int) -> str:
    """What a non-regular file is, in words."""
    if stat.S_ISLNK(mode):
        return "a symbolic link"
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISDIR(mode):
        return "a folder"
    return "not a regular file"


def read_regular(path: str, max_bytes: int, follow: bool = False, setting: str = "limits.fileBytes") -> bytes:
    """The bytes of the regular file ``path``, at most ``max_bytes`` of them (``setting`` names
    where the limit is set, for the message).

    ``follow=False`` refuses a symlink as the last path component (the caller has checked the
    folders).  The file is opened non-blocking and checked with ``fstat`` before a byte is read,
    so a FIFO or device swapped in after a check is refused too.
    """
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)
    if not follow:
        try:
            info = os.lstat(path)
        except OSError as exc:
            raise Refused(f"cannot be read: {exc.strerror}") from None
        if not stat.S_ISREG(info.st_mode):
            raise Refused(f"is {kind_of(info.st_mode)}, not a regular file (not read)")
        flags |= getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        raise Refused(f"cannot be read: {exc.strerror}") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise Refused(f"is {kind_of(info.st_mode)}, not a regular file (not read)")
        if info.st_size > max_bytes:
            raise Refused(f"is {info.st_size} bytes, more than the limit of {max_bytes}{_setting(setting)}")
        chunks, size = [], 0
        while True:
            chunk = os.read(fd, min(1 << 20, max_bytes + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
            if size > max_bytes:  # grew while being read
                raise Refused(f"is more than the limit of {max_bytes} bytes{_setting(setting)}")
        return b"".join(chunks)
    except OSError as exc:
        raise Refused(f"cannot be read: {exc.strerror}") from None
    finally:
        os.close(fd)


def _setting(name: str) -> str:
    return f" ({name})" if name else ""


def walk(root: str, folder: str, hidden: bool = False, skip=()) -> tuple[list[str], list[tuple[str, str]]]:
    """Repo-relative paths of the files below ``root/folder`` (sorted), and ``(path, reason)`` for
    every entry that cannot be walked: a folder that cannot be read, a symlink to a folder (not
    followed).  Symlinks to files are listed (the reader decides); so are FIFOs and devices, which
    the reader refuses.  Names starting with "." are left out unless ``hidden``; ``skip`` holds
    repo-relative folders not to enter (a set, for many)."""
    files: list[str] = []
    refused: list[tuple[str, str]] = []
    start = os.path.normpath(folder).replace(os.sep, "/")
    start = "" if start == "." else start
    base = os.path.join(root, start) if start else root
    try:
        info = os.lstat(base)
    except FileNotFoundError:
        return files, refused
    except OSError as exc:
        return files, [(start or ".", f"cannot be read: {exc.strerror}")]
    if stat.S_ISLNK(info.st_mode):
        if os.path.isdir(base):
            return files, [(start, "is a symbolic link to a folder; kdrender does not follow folder links")]
        return files, refused
    if not stat.S_ISDIR(info.st_mode):
        return files, refused
    pending = [start]
    while pending:
        rel_dir = pending.pop()
        try:
            with os.scandir(os.path.join(root, rel_dir) if rel_dir else root) as entries:
                entries = sorted(entries, key=lambda e: e.name)
        except OSError as exc:
            refused.append((rel_dir or ".", f"is a folder that cannot be read: {exc.strerror}"))
            continue
        for entry in entries:
            if entry.name.startswith(".") and not hidden:
                continue
            rel = f"{rel_dir}/{entry.name}" if rel_dir else entry.name
            try:
                is_link = entry.is_symlink()
                is_dir = entry.is_dir(follow_symlinks=not is_link)
                if is_link and os.path.isdir(entry.path):
                    refused.append((rel, "is a symbolic link to a folder; kdrender does not follow folder links"))
                    continue
            except OSError as exc:
                refused.append((rel, f"cannot be read: {exc.strerror}"))
                continue
            if is_dir:
                if rel not in skip:
                    pending.append(rel)
            else:
                files.append(rel)
    return sorted(files), sorted(refused)
