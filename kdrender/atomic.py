"""The atomic, locked replacement of a folder (``golden/``) by a freshly written tree.

* One writer at a time: an exclusive ``flock`` on the repo folder itself (no lock file to
  commit or to leave behind); a second ``build`` waits for the first instead of failing.
* The new tree is written into a staging folder ``.golden.new-*`` beside the target and swapped
  in with one ``renameat2(RENAME_EXCHANGE)`` where the kernel and file system offer it, so
  readers always see the old or the new tree.  Elsewhere two renames are used (``golden/`` →
  ``.golden.old-*``, staging → ``golden/``); a process killed between them leaves the old tree
  aside, and the next writer (under the lock) puts it back before anything else.
* Leftover staging folders of killed writers are removed by the next writer.
* Folders are 0755 and files 0644 whatever the umask, so the tree is readable by others.
* SIGTERM and SIGINT while writing stop the build cleanly (staging removed, old tree kept); during
  the swap they are held until the swap and its clean-up are done.

``KDRENDER_BUILD_HOOK`` is a test hook: comma-separated ``STEP:ACTION`` items, where STEP is one
of ``locked``, ``writing`` (after the first file), ``staged``, ``between-renames`` (two-rename
path only), ``swapped``, and ACTION is ``kill`` (SIGKILL itself), ``term`` (SIGTERM itself) or
``sleepSECONDS``; the item ``no-exchange`` forces the two-rename path.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import signal
import tempfile
import threading
import time

HOOK_ENV = "KDRENDER_BUILD_HOOK"
_SIGNALS = (signal.SIGTERM, signal.SIGINT)


class Interrupted(Exception):
    """A signal stopped the write before the swap; the old tree is unchanged."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def _hook(step: str) -> None:
    spec = os.environ.get(HOOK_ENV)
    if not spec:
        return
    for item in spec.split(","):
        name, _, action = item.partition(":")
        if name != step:
            continue
        if action == "kill":
            os.kill(os.getpid(), signal.SIGKILL)
        elif action == "term":
            os.kill(os.getpid(), signal.SIGTERM)
        elif action.startswith("sleep"):  # a test hook, but still input: a bad number is ignored
            seconds = action[5:] or "1"
            if seconds.replace(".", "", 1).isdigit() and float(seconds) <= 3600:
                time.sleep(float(seconds))


def _exchange_function():
    """``renameat2(..., RENAME_EXCHANGE)`` from the C library, or None where there is none."""
    if "no-exchange" in (os.environ.get(HOOK_ENV) or "").split(","):
        return None
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        func = libc.renameat2
    except (OSError, AttributeError, ImportError):
        return None
    func.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    func.restype = ctypes.c_int

    def exchange(a: str, b: str) -> bool:
        if func(-100, os.fsencode(a), -100, os.fsencode(b), 2) == 0:  # AT_FDCWD, RENAME_EXCHANGE
            return True
        errno = ctypes.get_errno()
        if errno in (22, 38, 95):  # EINVAL, ENOSYS, EOPNOTSUPP: not offered here; use two renames
            return False
        raise OSError(errno, os.strerror(errno), a)

    return exchange


def _staging_names(root: str, folder: str) -> tuple[list[str], list[str]]:
    new, old = [], []
    for name in os.listdir(root):
        if name.startswith(f".{folder}.new-"):
            new.append(name)
        elif name.startswith(f".{folder}.old-"):
            old.append(name)
    return new, old


def recover(root: str, folder: str) -> None:
    """Undo what a killed writer left: put an old tree back if the target is missing, drop staging."""
    target = os.path.join(root, folder)
    new, old = _staging_names(root, folder)
    if old and not os.path.lexists(target):
        newest = max(old, key=lambda n: os.lstat(os.path.join(root, n)).st_mtime_ns)
        os.rename(os.path.join(root, newest), target)
        old.remove(newest)
    for name in new + old:
        path = os.path.join(root, name)
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path, ignore_errors=True)
        else:
            os.unlink(path)


class _Lock:
    def __init__(self, root: str, on_wait=None):
        self.root, self.on_wait, self.fd = root, on_wait, -1

    def __enter__(self):
        self.fd = os.open(self.root, os.O_RDONLY | os.O_DIRECTORY)
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if self.on_wait:
                self.on_wait()
            fcntl.flock(self.fd, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc):
        os.close(self.fd)  # releases the lock


def _write(staging: str, items) -> None:
    made = staging  # the folder of the last file: a bundle's files come one after another
    first = True
    for rel, content in items:
        path = os.path.join(staging, rel)
        parent = os.path.dirname(path)
        if parent != made:
            os.makedirs(parent, exist_ok=True)
            made = parent
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
        try:
            data = content.encode("utf-8") if isinstance(content, str) else content
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
        finally:
            os.close(fd)
        if first:
            _hook("writing")
            first = False


def replace_tree(root: str, folder: str, items, on_wait=None, beside=None) -> None:
    """Replace ``root/folder`` with exactly the ``(relative path, text or bytes)`` pairs of ``items``.

    ``items`` may be a generator (the tree is written as it is produced).  Any exception (OSError,
    :class:`Interrupted`) leaves ``root/folder`` as it was and no staging folder behind.
    ``beside`` maps names of files next to the folder (``kdrender.record``) to functions that give
    their content (a text, or its parts in order) once the tree is written; each is staged as
    ``.<folder>.new-<name>-*`` and renamed into place right after the swap, under the same lock
    with signals held.  A writer killed between the two renames leaves the new tree and the old
    file: the record then no longer matches golden/, and ``check`` renders those bundles again
    (kdrender/incremental.py).
    """
    target = os.path.join(root, folder)
    main = threading.current_thread() is threading.main_thread()
    previous = {}

    def stop(signum, frame):
        raise Interrupted(signum)

    if main:
        previous = {s: signal.signal(s, stop) for s in _SIGNALS}
    mask = os.umask(0o022)
    staging = None
    blocked = False
    staged_beside: list = []
    try:
        with _Lock(root, on_wait):
            _hook("locked")
            recover(root, folder)
            staging = tempfile.mkdtemp(prefix=f".{folder}.new-", dir=root)
            os.chmod(staging, 0o755)
            _write(staging, items)
            for name, content in sorted((beside or {}).items()):
                fd, path = tempfile.mkstemp(prefix=f".{folder}.new-{name}-", dir=root)
                staged_beside.append((path, os.path.join(root, name)))
                with os.fdopen(fd, "wb") as fh:
                    text = content()
                    for chunk in [text] if isinstance(text, str) else text:  # text, or its parts in order
                        fh.write(chunk.encode("utf-8"))
                os.chmod(path, 0o644)
            _hook("staged")
            if main:
                signal.pthread_sigmask(signal.SIG_BLOCK, _SIGNALS)
                blocked = True
            staging = _swap(root, folder, staging, target)
            for path, final in staged_beside:
                os.replace(path, final)
            staged_beside = []
            _hook("swapped")
            if staging:  # the old tree, now under a staging name
                shutil.rmtree(staging, ignore_errors=True)
                staging = None
    finally:
        if staging and os.path.isdir(staging):
            shutil.rmtree(staging, ignore_errors=True)
        for path, _ in staged_beside:
            if os.path.lexists(path):
                os.unlink(path)
        os.umask(mask)
        if main:
            for s, handler in previous.items():
                signal.signal(s, handler)
            if blocked:  # a signal held during the swap is delivered now, to the caller's handler
                signal.pthread_sigmask(signal.SIG_UNBLOCK, _SIGNALS)


def _swap(root: str, folder: str, staging: str, target: str) -> str | None:
    """Put ``staging`` in place of ``target``; returns the folder now holding the old tree, if any."""
    if not os.path.lexists(target):
        os.rename(staging, target)
        return None
    exchange = _exchange_function()
    if exchange and exchange(staging, target):
        return staging
    old = staging.replace(f".{folder}.new-", f".{folder}.old-")
    os.rename(target, old)
    _hook("between-renames")
    try:
        os.rename(staging, target)
    except OSError:
        os.rename(old, target)  # put the old tree back: a failed build must not lose golden/
        raise
    return old
