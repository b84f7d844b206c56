"""``generate``'s output cache: the same inputs give the same output, so send it again unrendered.

Argo CD starts ``generate`` for every Application on every refresh, and a commit that changes one
cluster file re-runs every Application of the repo.  When nothing ``generate`` depends on has
changed, its previous output is sent as it was, without parsing, validating or rendering
anything (and without importing PyYAML).

What makes this safe:

* The entry is found by a hash of the kdrender code and its dependencies (path, size and mtime of
  every file of the package, the listing of the folder that holds the dependencies), the Python
  version, the working folder, the repo root and the whole environment (less Argo CD's
  revision variables, which name the commit, not its content).
* While a run that missed renders, every file-system look-up it makes inside the repo is recorded
  (``open``, ``os.open``, ``stat``/``lstat``, ``readlink``, ``scandir``/``listdir``, so also
  ``os.walk``, ``glob`` and ``realpath``): whichever code reads the repo, its reads are seen.  The
  entry stores, for every path touched (relative to the repo root, which Argo CD unpacks into a new
  folder for every request), what it was when first touched: a regular file's SHA-256, a folder's
  sorted listing, a symlink's target, or that it was missing.  If any path is different at the end
  of the run (changed while the run read it), nothing is stored.
* A later run uses the entry only if every recorded path is still exactly that.
* Only successful runs are stored (stdout and the notices on stderr); any problem renders again.
* Entries live in a private folder (``$KDRENDER_CACHE_DIR``, else ``~/.cache/kdrender``; ours and
  not writable by others, else no cache), are written atomically, and are ignored when malformed.
  ``KDRENDER_OUTPUT_CACHE=off`` disables the cache.
"""

from __future__ import annotations

import json
import os
import stat
import sys

from .digest import sha256  # the builtin SHA-256: no OpenSSL to load on the fast path

# names of the commit, not its content (leaving them out lets unchanged Applications hit across
# commits), and what a shell sets about itself (the working folder is in the key on its own)
VOLATILE = ("ARGOCD_APP_REVISION", "ARGOCD_APP_REVISION_SHORT", "ARGOCD_APP_REVISION_SHORT_8",
            "ARGOCD_APP_SOURCE_TARGET_REVISION", "_", "PWD", "OLDPWD", "SHLVL")
MAX_OUTPUT = 16 << 20  # larger outputs are not stored (bounded memory)
# more cluster files than this in one run: nothing is recorded or stored (their output is about
# MAX_OUTPUT or more, and recording would keep every file read and index them on one core)
MAX_FILES = 512
_PACKAGE = os.path.dirname(os.path.abspath(__file__))


def _code_key() -> list:
    parts = [sys.version, os.path.realpath(sys.executable), sys.prefix, _PACKAGE]
    start = len(_PACKAGE) + 1
    for dirpath, dirnames, filenames in os.walk(_PACKAGE):
        dirnames[:] = sorted(d for d in dirnames if d != "__pycache__")
        for name in sorted(filenames):
            path = os.path.join(dirpath, name)
            info = os.stat(path)
            parts.append(f"{path[start:]}:{info.st_size}:{info.st_mtime_ns}")
    for module in ("yaml", "jsonschema"):
        found = _module_dir(module)
        if found:
            parts.append(f"{module}:{found}:{sorted(os.listdir(os.path.dirname(found)))}")
    return parts


def _module_dir(name: str) -> str | None:
    for entry in sys.path:
        candidate = os.path.join(entry or ".", name)
        if os.path.isdir(candidate):
            return os.path.abspath(candidate)
    return None


def fingerprint(root: str, rel: str) -> str:
    """What ``root/rel`` is now: file content hash, folder listing, link target, or missing.

    Nothing is followed: a folder on the way that is not a real folder gives "via", and the path
    itself is looked at with ``lstat`` and opened with ``O_NOFOLLOW``, so no file outside the repo
    is ever read.
    """
    parts = [] if rel == "." else rel.split("/")
    path = root
    for part in parts[:-1]:
        path = os.path.join(path, part)
        try:
            if not stat.S_ISDIR(os.lstat(path).st_mode):
                return "via"
        except OSError:
            return "via"
    path = os.path.join(root, *parts)
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return "missing"
    except OSError as exc:
        return f"error:{exc.errno}"
    mode = info.st_mode
    try:
        if stat.S_ISLNK(mode):
            return "link:" + os.readlink(path)
        if stat.S_ISDIR(mode):
            fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
            try:
                return "dir:" + "\0".join(sorted(os.listdir(fd)))
            finally:
                os.close(fd)
        if stat.S_ISREG(mode):
            digest = sha256()
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | getattr(os, "O_NONBLOCK", 0))
            with os.fdopen(fd, "rb") as fh:
                if not stat.S_ISREG(os.fstat(fd).st_mode):
                    return "changed"
                for block in iter(lambda: fh.read(1 << 20), b""):
                    digest.update(block)
            return "file:" + digest.hexdigest()
    except OSError as exc:
        return f"error:{exc.errno}"
    return f"other:{stat.S_IFMT(mode)}"


_RECORDING = False  # an OutputCache records what this process reads
_CURRENT = None  # the OutputCache that records


def recording() -> bool:
    """Whether this process's reads are being recorded (a forked child's would not be)."""
    return _RECORDING


def files_to_read(count: int) -> None:
    """The run reads ``count`` cluster files (kdrender/index.py): past :data:`MAX_FILES` nothing
    is recorded or kept for the cache."""
    if _RECORDING and _CURRENT is not None and count > MAX_FILES:
        _CURRENT.abandon()


class OutputCache:
    MAX_OUTPUT = MAX_OUTPUT
    MAX_FILES = MAX_FILES

    def __init__(self, folder: str, key: str, root: str):
        self.path = os.path.join(folder, key)
        self.root = os.path.abspath(root)
        self.roots = {self.root, os.path.realpath(root)}
        self.touched: dict = {}  # repo-relative path -> fingerprint when first touched
        self._saved: dict = {}
        self._busy = False
        self._fork_hook = False
        self.abandoned = False
        self.on_abandon: list = []  # functions called when the output will not be stored

    @classmethod
    def open(cls, environ, root: str, cwd: str) -> "OutputCache | None":
        if (environ.get("KDRENDER_OUTPUT_CACHE") or "").lower() in ("off", "0", "false", "no"):
            return None
        from .cachedir import private_folder

        folder = private_folder(environ, "output")
        if folder is None:
            return None
        # Argo CD unpacks every request into a new folder: the key holds the working folder relative
        # to the repo root, and entries hold repo-relative paths
        env = sorted((k, v) for k, v in environ.items() if k not in VOLATILE)
        where = os.path.relpath(os.path.abspath(cwd), os.path.abspath(root))
        key = sha256(json.dumps([_code_key(), where, env]).encode()).hexdigest()
        return cls(folder, key, root)

    # -- the fast path -----------------------------------------------------------------------
    def lookup(self) -> tuple[str, str] | None:
        """``(stdout, stderr)`` of the stored run when every path it touched is unchanged."""
        try:
            with open(self.path, encoding="utf-8") as fh:
                entry = json.load(fh)
            touched, out, err = entry["touched"], entry["stdout"], entry["stderr"]
            if not (isinstance(touched, dict) and touched and isinstance(out, str) and isinstance(err, str)):
                return None
        except (OSError, ValueError, KeyError, TypeError):
            return None
        for rel in sorted(touched):  # folders before what is in them
            if not isinstance(rel, str) or rel.startswith("/") or ".." in rel.split("/") or "" in rel.split("/"):
                return None
            if fingerprint(self.root, rel) != touched[rel]:
                return None
        return out, err

    # -- recording a miss --------------------------------------------------------------------
    def _note(self, path) -> None:
        if self._busy or isinstance(path, int):
            return
        try:
            full = os.path.abspath(os.fsdecode(path))
        except (TypeError, ValueError):
            return
        for root in self.roots:
            if full == root or full.startswith(root + os.sep):
                rel = full[len(root) + 1:].replace(os.sep, "/") or "."  # abspath: normalized already
                if rel not in self.touched:
                    self._busy = True  # fingerprint() looks up the path itself
                    try:
                        self.touched[rel] = fingerprint(root, rel)
                    finally:
                        self._busy = False
                return

    def __enter__(self):
        import builtins
        import io

        note = self._note

        def wrap(func):
            def recorded(*args, **kwargs):
                note(args[0] if args else kwargs.get("path", kwargs.get("file", ".")))
                return func(*args, **kwargs)
            return recorded

        global _RECORDING, _CURRENT
        _RECORDING, _CURRENT = True, self
        targets = [(builtins, "open"), (io, "open"), (os, "open"), (os, "stat"), (os, "lstat"), (os, "readlink"),
                   (os, "scandir"), (os, "listdir")]
        self._saved = {(mod, name): getattr(mod, name) for mod, name in targets}
        for (mod, name), func in self._saved.items():
            setattr(mod, name, wrap(func))
        if not self._fork_hook:  # a forked child (a render worker) does not record: see stop_recording
            os.register_at_fork(after_in_child=self.stop_recording)
            self._fork_hook = True
        return self

    def __exit__(self, *exc):
        self.stop_recording()

    def stop_recording(self) -> None:
        """Put the file-system functions back; also done in every child forked while recording (a
        render worker of kdrender/stream.py, whose reads the parent would never see: rendering works
        from the loaded model and reads nothing of the repo, see tests/test_stream.py)."""
        for (mod, name), func in self._saved.items():
            setattr(mod, name, func)
        self._saved = {}
        global _RECORDING, _CURRENT
        _RECORDING, _CURRENT = False, None

    def abandon(self) -> None:
        """The output will not be stored (too large): stop recording what the run reads."""
        self.abandoned = True
        self.stop_recording()
        self.touched = {}
        for hook in self.on_abandon:
            hook()

    def store(self, out: str, err: str) -> None:
        if self.abandoned or not self.touched:  # nothing seen: the recording did not work, nothing is proven
            return
        # every path as it was when the run first touched it, and still so now: a path that changed
        # during the run may have been read in either state
        for rel, was in self.touched.items():
            if fingerprint(self.root, rel) != was:
                return
        tmp = f"{self.path}.{os.getpid()}.tmp"
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump({"touched": self.touched, "stdout": out, "stderr": err}, fh)
            os.replace(tmp, self.path)
        except OSError:
            try:
                os.unlink(tmp)
            except OSError:
                pass
