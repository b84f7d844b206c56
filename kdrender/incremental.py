"""The record of what ``build`` rendered (``kdrender.record``, beside ``golden/``), and which bundles ``check``
must render again.

The record has one line per bundle: its key (``<namespace>/<name>``), a digest of its inputs,
the Git tree id of its golden folder (what ``git ls-tree`` shows for it once committed), its
cluster file and the other files it reads (its app's file, the files of the clusters it connects
to and of their apps).  A header names the kdrender that
wrote it (version and a digest of its installed code and data, PyYAML's version) and a digest of
what every bundle reads (``kdrender.yaml``, the ``configcliFile``, the file of the
KubeDirectorConfig settings, apps defined outside ``catalog/``).  File digests are Git blob ids
(sha1 of ``"blob <size>\\0" + content``): taken from Git's index for files Git shows unchanged
(``git diff-files``: stat-clean, neither assume-unchanged nor skip-worktree), hashed for the
others.  A bundle's tree id is computed from the files build writes, so a check reads the golden
folders of a fleet as Git lists them at ``HEAD`` (one tree object a namespace), not file by file.

``check`` skips a bundle only when all of this holds:

* the record is well formed, was written by this same kdrender, and its header matches;
* the bundle's line holds the digest of its inputs now, and the tree id of its golden folder at
  ``HEAD``, where ``git status`` shows nothing of that folder changed (staged, unstaged, new or
  ignored) and Git's index flags none of its files assume-unchanged or skip-worktree;
* neither its golden files nor its line differ from the trusted revision (``HEAD``, or
  ``--base REF``): a hand edit of a golden file and of the record to match is an edit of
  committed files, so it is rendered again;
* its cluster file did not change (a changed or new file is always loaded).

Every bundle that is rendered is compared in full, and its record line must be what ``build``
writes.  Without Git (a tarball, Argo CD's checkout), or when the record is missing or broken,
``check`` checks everything, with one note.  ``--full`` checks everything.

Trust model: the record at the trusted revision is taken as ``build`` wrote it.  A commit that
forges it passes an incremental check against itself; it does not pass against the revision
before it (``--base``), nor a ``--full`` check.  CI should therefore check pull requests with
``--base <target branch>`` (``kdrender init`` writes that), and may run ``--full`` on a schedule.
"""

from __future__ import annotations

import os
import re
import stat
from array import array
from bisect import bisect_left
from collections.abc import Mapping

from hashlib import sha1, sha256
from .load import CONFIG_FILE

GOLDEN = "golden"
# beside golden/, not in it: the golden tree stays exactly the bundles (and does not change when a
# cluster file is renamed); not YAML or JSON, so neither Argo CD nor Flux would ever apply it
RECORD = "kdrender.record"
FORMAT = "kdrender-record 2"
MAX_RECORD_BYTES = 256 << 20
MAX_INPUT_BYTES = 64 << 20  # a file larger than this is not hashed: its bundles are rendered again
BATCH = 1000  # folders on one git command line
MAX_PATTERNS = 1000  # names up to which Git picks the files of those names out of golden/ (its command line)
HASHED = 4096  # hashed files a Worktree remembers (apps and connected clusters' files are asked for again)
_HEX = re.compile(r"[0-9a-f]{64}\Z")
_OID = re.compile(r"[0-9a-f]{40}\Z")  # a Git object id (SHA-1, Git's default object format)
_KEY = re.compile(r"[a-z0-9]([-a-z0-9.]*[a-z0-9])?/[A-Za-z0-9]([-A-Za-z0-9._]*[A-Za-z0-9])?\Z")
_SAFE = re.compile(r"[^\x21-\x7e]|[%,]")
# a repo-relative path of plain parts (none empty, "." or ".."), the common case of :func:`_path`
_PLAIN = re.compile(r"(?!\.\.?(/|\Z))[\w.@+=~-]+(/(?!\.\.?(/|\Z))[\w.@+=~-]+)*\Z", re.ASCII)


class RecordError(ValueError):
    """The record cannot be read; the message says where and why."""


# -- digests ---------------------------------------------------------------------------------------

def blob_id(data: bytes) -> str:
    """Git's object id of a file with this content."""
    return sha1(b"blob %d\0" % len(data) + data).hexdigest()


def tree_id(files) -> str:
    """Git's object id of a folder holding these files, ``(path, blob id)`` pairs of regular
    (non-executable) files directly in it: what Git computes when the folder is committed."""
    entries = sorted((path.rsplit("/", 1)[-1].encode("utf-8"), blob) for path, blob in files)
    body = b"".join(b"100644 %s\0%s" % (name, bytes.fromhex(blob)) for name, blob in entries)
    return sha1(b"tree %d\0" % len(body) + body).hexdigest()


def digest_lines(lines) -> str:
    return sha256("".join(f"{line}\n" for line in lines).encode("utf-8")).hexdigest()


_TOOL: list = []


def tool_digest() -> str:
    """kdrender's version, a digest of every file of the installed package (code, schemas, agent
    script, templates) and PyYAML's version: another kdrender renders everything again."""
    if _TOOL:
        return _TOOL[0]
    from . import __version__
    from .pyyaml import yaml

    package = os.path.dirname(os.path.abspath(__file__))
    lines = [f"kdrender {__version__}", f"PyYAML {getattr(yaml, '__version__', '?')} "
             f"{'libyaml' if hasattr(yaml, 'CSafeDumper') else 'python'}"]
    for folder, dirs, files in os.walk(package):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        for name in sorted(files):
            if name.endswith((".pyc", ".pyo")):
                continue
            path = os.path.join(folder, name)
            with open(path, "rb") as fh:
                lines.append(f"{os.path.relpath(path, package).replace(os.sep, '/')} {blob_id(fh.read())}")
    _TOOL.append(digest_lines(lines))
    return _TOOL[0]


def quote(path: str) -> str:
    if path.isascii() and path.isprintable() and " " not in path and "%" not in path and "," not in path:
        return path
    return _SAFE.sub(lambda m: "".join(f"%{b:02X}" for b in m.group().encode("utf-8")), path)


def unquote(text: str) -> str:
    from urllib.parse import unquote as decode

    return decode(text, errors="strict")


# -- the files of the working tree ----------------------------------------------------------------

class Worktree:
    """Blob ids of the repo's files: Git's index where Git vouches for the file, hashing otherwise.

    ``git`` is False outside a Git checkout (or without git): then every file is hashed.
    """

    def __init__(self, root: str, folders=("catalog", "clusters", GOLDEN, RECORD)):
        self.root = root
        self.index: dict = {}  # path -> blob id, for files the index shows unchanged
        self.untracked: set = set()
        self.dirty: set = set()  # tracked files whose content may differ from the index
        self.since_head: set = set()  # files that differ from HEAD (staged, changed, new)
        self.git = False
        self.prefix = ""
        self._hashed: dict = {}
        try:
            self._read_git(folders)
            self.git = True
        except _NoGit:
            self.index = {}

    def _run(self, *args: str) -> bytes:
        from .review.revision import GitError, _git

        try:
            return _git(self.root, "--literal-pathspecs", *args, binary=True)
        except GitError as exc:
            raise _NoGit(str(exc)) from None

    def _read_git(self, folders) -> None:
        if self._run("rev-parse", "--is-inside-work-tree").strip() != b"true":
            raise _NoGit("not a Git working tree")
        paths = [*folders, CONFIG_FILE]
        # one pass over the working tree: every file that differs from the index or from HEAD, and
        # every file Git does not track (ignored ones too: kdrender reads them)
        status = _split(self._run("--no-optional-locks", "status", "--porcelain=v1", "-z", "--no-renames", "-uall",
                                  "--ignored=matching", "--", *paths))
        for entry in status:
            xy, path = entry[:2], entry[3:]
            self.since_head.add(path)
            if xy in ("??", "!!"):
                self.untracked.add(path)
            elif xy[1] != " ":
                self.dirty.add(path)
        listed = [p for p in paths if p != GOLDEN]  # golden/ is read by folder: bundle_trees, golden_bundles
        for entry in _split(self._run("ls-files", "-s", "-v", "-z", "--", *listed)):
            path, blob = self._entry(entry)
            if blob is not None:
                self.index[path] = blob

    def _entry(self, entry: str) -> tuple:
        """A line of ``git ls-files -s -v``: the path, and its blob id when the index vouches for the
        file (a regular file Git shows unchanged, neither assume-unchanged nor skip-worktree)."""
        head, _, path = entry.partition("\t")  # "<tag> <mode> <blob id> <stage>"
        if head.startswith(("H 100644 ", "H 100755 ")) and head.endswith(" 0") and path not in self.dirty:
            return path, head[9:-2]
        if not head.startswith("H "):  # assume-unchanged or skip-worktree: Git does not look at the file
            self.dirty.add(path)
        return path, None

    def golden_bundles(self, under: str = GOLDEN, names=None):
        """``(key, [(golden/-relative path, blob id or None)])`` of each bundle folder below
        ``under`` that Git tracks, in Git's order, read from ``git ls-files`` as a stream (a fleet's
        listing is never held whole); the key is None for a file outside any bundle folder.
        Blob ids are None where the index does not vouch for the file (see :meth:`_entry`).
        With ``names`` (``under`` a namespace's folder), only the files of those names directly in
        its bundle folders: Git picks them out of its index."""
        if names is not None and len(names) <= MAX_PATTERNS:  # shell patterns, special characters escaped
            if not names:
                return
            patterns = sorted(f"{_glob(under.rstrip('/'))}/*/{_glob(name)}" for name in names)
            entries = self._stream("--glob-pathspecs", "ls-files", "-s", "-v", "-z", "--", *patterns)
        else:
            entries = self._stream("--literal-pathspecs", "ls-files", "-s", "-v", "-z", "--", under)
        key, files = None, []
        for entry in entries:
            path, blob = self._entry(entry)
            parts = path.split("/", 3)
            if names is not None and (len(parts) != 4 or "/" in parts[3] or parts[3] not in names):
                continue  # (too many names for patterns: picked out here)
            if len(parts) < 4 or parts[0] != GOLDEN:
                yield None, [(path, None)]
                continue
            here = f"{parts[1]}/{parts[2]}"
            if here != key and files:
                yield key, files
                files = []
            key = here
            files.append((path[len(GOLDEN) + 1:], blob))
        if files:
            yield key, files

    def bundle_trees(self):
        """``(key, tree id)`` of each folder two levels below golden/ at ``HEAD`` (a bundle folder),
        in Git's order, from one tree object a namespace; the key is None for anything else
        there (a file, a submodule).  Files the index flags are for :meth:`note_flagged`."""
        namespaces = []
        for entry in self._stream("--literal-pathspecs", "ls-tree", "-z", "HEAD", "--", f"{GOLDEN}/"):
            head, _, path = entry.partition("\t")  # "<mode> <type> <id>"
            if not head.startswith("040000 tree ") or path.count("/") != 1:
                yield None, path
                return
            namespaces.append(path)
        for start in range(0, len(namespaces), BATCH):  # bounded command lines
            batch = [f"{path}/" for path in namespaces[start:start + BATCH]]
            for entry in self._stream("--literal-pathspecs", "ls-tree", "-z", "HEAD", "--", *batch):
                head, _, path = entry.partition("\t")  # "<mode> <type> <id>"
                parts = path.split("/")
                if not head.startswith("040000 tree ") or len(parts) != 3 or parts[0] != GOLDEN:
                    yield None, path
                    return
                yield f"{parts[1]}/{parts[2]}", head[12:]

    def note_flagged(self, folder: str) -> None:
        """Add to :attr:`dirty` the files of ``folder`` whose index entry is not a plain "H" one
        (``git ls-files -v``): counted as the output streams by, parsed only when one is found."""
        entries = plain = 0
        tail = b"\0"  # the end of what came before (the first entry follows no NUL of its own)
        for chunk in self._chunks("--literal-pathspecs", "ls-files", "-v", "-z", "--", folder):
            entries += chunk.count(b"\0")
            plain += (tail + chunk).count(b"\0H ")  # one across two blocks is counted once
            tail = (tail + chunk)[-2:]
        if plain < entries:  # the entry after the last NUL counts no NUL: never more plain than entries
            for entry in self._stream("--literal-pathspecs", "ls-files", "-v", "-z", "--", folder):
                if not entry.startswith("H "):
                    self.dirty.add(entry[2:])

    def _chunks(self, *args: str):
        """A git command's output, a block at a time."""
        import subprocess

        from .review.revision import _env

        try:
            proc = subprocess.Popen(["git", "-C", self.root, *args], stdout=subprocess.PIPE,
                                    stderr=subprocess.DEVNULL, env=_env())
        except OSError as exc:
            raise _NoGit(str(exc)) from None
        try:
            yield from iter(lambda: proc.stdout.read(1 << 16), b"")
            if proc.wait() != 0:
                raise _NoGit(f"git {next(a for a in args if not a.startswith('-'))} failed")
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            proc.stdout.close()

    def _stream(self, *args: str):
        """The NUL-separated entries of a git command's output, as they come."""
        rest = b""
        for chunk in self._chunks(*args):
            *entries, rest = (rest + chunk).split(b"\0")
            yield from (e.decode("utf-8", "surrogateescape") for e in entries if e)
        if rest:
            yield rest.decode("utf-8", "surrogateescape")

    def exists(self, rel: str) -> bool:
        """Whether a file Git lists is there (only the changed ones may be gone)."""
        return rel not in self.dirty or os.path.lexists(os.path.join(self.root, rel))

    def blob(self, rel: str) -> str | None:
        """The blob id of a regular file of the repo, None when there is none (or it is too big)."""
        if rel in self.index:
            return self.index[rel]
        if rel not in self._hashed:
            if len(self._hashed) >= HASHED:  # most are asked for once (a bundle's own file): bounded
                self._hashed.clear()
            self._hashed[rel] = _hash_file(os.path.join(self.root, rel))
        return self._hashed[rel]

    def changed_since(self, ref: str, folder: str = GOLDEN) -> set | None:
        """Files of ``folder`` that differ between ``ref`` and the working tree (staged or not,
        new or deleted); None when git cannot tell."""
        if not self.git:
            return None
        from .review.revision import GitError, check_ref

        changed = {p for p in self.since_head if p.startswith(folder + "/") or p == RECORD}
        if ref == "HEAD":
            return changed
        try:
            check_ref(ref)
            return changed | set(_split(self._run("diff", "--name-only", "-z", "--no-renames", "--relative",
                                                  "--end-of-options", ref, "HEAD", "--", folder, RECORD)))
        except (GitError, _NoGit):  # an unknown revision, a repo without commits
            return None

    def file_at(self, ref: str, rel: str) -> bytes | None:
        """The content of ``rel`` at revision ``ref``, None when it has none (or is too big)."""
        if not self.git:
            return None
        try:
            size = int(self._run("cat-file", "-s", f"{ref}:./{rel}").strip() or b"-1")
            if not 0 <= size <= MAX_RECORD_BYTES:
                return None
            return self._run("cat-file", "blob", f"{ref}:./{rel}")
        except (_NoGit, ValueError):
            return None


def _glob(text: str) -> str:
    """``text`` as a Git glob pathspec that matches only itself."""
    return re.sub(r"([*?\[\]\\])", r"\\\1", text)


class _NoGit(Exception):
    pass


def _split(raw: bytes) -> list:
    return [p.decode("utf-8", "surrogateescape") for p in raw.split(b"\0") if p]


def _hash_file(path: str) -> str | None:
    from .safefs import Refused, read_regular

    try:
        if not stat.S_ISREG(os.lstat(path).st_mode):
            return None
        return blob_id(read_regular(path, MAX_INPUT_BYTES, setting=""))
    except (OSError, Refused):
        return None


# -- the record ----------------------------------------------------------------------------------

class Line:
    __slots__ = ("key", "inputs", "outputs", "file", "deps")

    def __init__(self, key: str, inputs: str, outputs: str, file: str, deps: tuple):
        self.key, self.inputs, self.outputs, self.file, self.deps = key, inputs, outputs, file, deps

    def text(self) -> str:
        deps = ",".join(quote(d) for d in self.deps) or "-"
        return f"bundle {self.key} {self.inputs} {self.outputs} {quote(self.file)} {deps}"


class Lines(Mapping):
    """A parsed record's lines by key, in key order: the record's text and where each line starts
    (a few bytes a line besides its text; nothing else grows with the repo), each made a
    :class:`Line` when asked for."""

    def __init__(self, text: str, starts: array):
        self._text, self._starts = text, starts  # the text checked by :func:`parse`; its rows' offsets
        self._next = 0  # where the last line found ends: lookups in key order go without a search

    def _row(self, i: int) -> str:
        start = self._starts[i]
        return self._text[start:self._text.index("\n", start)]

    def _key(self, i: int) -> str:
        start = self._starts[i] + len("bundle ")
        return self._text[start:self._text.index(" ", start)]

    def _find(self, key: str) -> int:
        i, count = self._next, len(self._starts)
        if not (i < count and self._key(i) == key):
            i = bisect_left(range(count), key, key=self._key)
            if not (i < count and self._key(i) == key):
                return -1
        self._next = i + 1
        return i

    def __getitem__(self, key: str) -> Line:
        i = self._find(key)
        if i < 0:
            raise KeyError(key)
        return _trusted_line(self._row(i))

    def __iter__(self):
        return (self._key(i) for i in range(len(self._starts)))

    def __len__(self) -> int:
        return len(self._starts)

    def __contains__(self, key) -> bool:
        return isinstance(key, str) and self._find(key) >= 0

    def items(self):
        """``(key, Line)`` of each line, in key order (read in turn, not looked up)."""
        return ((line.key, line) for line in self.in_order())

    def values(self):
        return self.in_order()

    def in_order(self):
        return (_trusted_line(row) for row in self.rows())

    def rows(self):
        """Each line's text, in key order."""
        text, starts = self._text, self._starts
        return (text[start:text.index("\n", start)] for start in starts)


class Record:
    def __init__(self, tool: str, shared: str, shared_files: tuple, lines: Mapping):
        self.tool, self.shared, self.shared_files, self.lines = tool, shared, shared_files, lines

    def header(self) -> list:
        return [FORMAT, f"tool {self.tool}", " ".join(["shared", self.shared, *map(quote, self.shared_files)])]

    def chunks(self):
        """The record's text, a line at a time (the lines are made as they are written)."""
        for line in self.header():
            yield f"{line}\n"
        for line in self.lines.in_order():
            yield f"{line.text()}\n"

    def text(self) -> str:
        return "".join(self.chunks())


def parse(raw: bytes) -> Record:
    """Read a record; hostile input: every field is checked, a :class:`RecordError` names the line."""
    if len(raw) > MAX_RECORD_BYTES:
        raise RecordError(f"is {len(raw)} bytes, more than {MAX_RECORD_BYTES}")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise RecordError("is not UTF-8 text") from None
    if not text.endswith("\n"):
        raise RecordError("does not end with a new line (cut short?)")
    header, at = [], 0  # the three header rows; then the bundles' rows from ``at``
    while len(header) < 3 and at < len(text):
        end = text.index("\n", at)
        header.append(text[at:end])
        at = end + 1
    if header[0] != FORMAT:
        raise RecordError(f"line 1: expected {FORMAT!r}")
    if len(header) < 3:
        raise RecordError("has no header")
    tool = header[1].split(" ")
    if len(tool) != 2 or tool[0] != "tool" or not _HEX.match(tool[1]):
        raise RecordError("line 2: expected 'tool <64 hex digits>'")
    shared = header[2].split(" ")
    if len(shared) < 2 or shared[0] != "shared" or not _HEX.match(shared[1]):
        raise RecordError("line 3: expected 'shared <64 hex digits> <files>'")
    try:
        shared_files = tuple(_path(p) for p in shared[2:])
    except ValueError as exc:
        raise RecordError(f"line 3: {exc}") from None
    starts = array("I")  # where each bundle's row starts (Lines makes a Line of it when asked)
    previous, number = "", 3
    while at < len(text):
        end = text.index("\n", at)
        row, number = text[at:end], number + 1
        parts = row.split(" ")
        if len(parts) != 6 or parts[0] != "bundle":
            raise RecordError(f"line {number}: expected 'bundle <namespace>/<name> <inputs> <outputs> <file> <files>'")
        _, key, inputs, outputs, file, deps = parts
        if not _KEY.match(key) or not _HEX.match(inputs) or not _OID.match(outputs):
            raise RecordError(f"line {number}: a malformed key or digest")
        if key <= previous:
            raise RecordError(f"line {number}: {key} is out of order or listed twice")
        try:
            _line(row)
        except ValueError as exc:
            raise RecordError(f"line {number}: {exc}") from None
        starts.append(at)
        previous, at = key, end + 1
    return Record(tool[1], shared[1], shared_files, Lines(text, starts))


def _line(row: str) -> Line:
    """A record row (six fields, as :func:`parse` checks them) as a :class:`Line`; ValueError for a
    path that is not repo-relative."""
    _, key, inputs, outputs, file, deps = row.split(" ")
    return Line(key, inputs, outputs, _path(file), () if deps == "-" else tuple(_path(d) for d in deps.split(",")))


def _path(text: str) -> str:
    path = unquote(text) if "%" in text else text
    if _PLAIN.match(path):  # most paths: no need to look at each part
        return path
    if not path or path.startswith("/") or any(part in ("", ".", "..") for part in path.split("/")) \
            or any(ord(c) < 32 for c in path):
        raise ValueError(f"{text!r} is not a repo-relative path")
    return path


def _trusted_line(row: str) -> Line:
    """A row that :func:`parse` has checked, as a :class:`Line` (its paths only unquoted)."""
    _, key, inputs, outputs, file, deps = row.split(" ")
    return Line(key, inputs, outputs, unquote(file) if "%" in file else file,
                () if deps == "-" else tuple(unquote(d) if "%" in d else d for d in deps.split(",")))


def read_record(root: str) -> tuple[Record | None, str | None]:
    """The committed record, or None and the note saying why it cannot be used."""
    from .safefs import Refused, read_regular

    rel = RECORD
    path = os.path.join(root, rel)
    if not os.path.lexists(path):
        return None, f"{rel} is missing: every bundle was checked (`kdrender build` writes it)"
    try:
        return parse(read_regular(path, MAX_RECORD_BYTES, setting="")), None
    except (Refused, RecordError) as exc:
        reason = exc.reason if isinstance(exc, Refused) else str(exc)
        return None, f"{rel} {reason}: every bundle was checked; `kdrender build` writes it again"


# -- what build writes ---------------------------------------------------------------------------

def shared_files(root: str, model) -> tuple:
    """Files every bundle reads besides its own."""
    files = {CONFIG_FILE} if os.path.lexists(os.path.join(root, CONFIG_FILE)) else set()
    config = model.config
    files |= {f for f in (config.source, config.configcli_file) if f}
    files |= {app.file for app in model.apps.values() if not app.file.startswith("catalog/")}
    return tuple(sorted(files))


def inputs_digest(tree: Worktree, file: str, deps) -> str | None:
    lines = []
    for path in (file, *deps):
        blob = tree.blob(path)
        if blob is None:
            return None
        lines.append(f"{path} {blob}")
    return digest_lines(lines)


def shared_digest(tree: Worktree, files) -> str:
    return digest_lines([tool_digest()] + [f"{quote(f)} {tree.blob(f) or '-'}" for f in files])


class Recorder:
    """Passes the bundles of ``stream.rendered(model, "files")`` on and notes each one's output
    digest and source (its cluster file and the other files it read, ``stream.Bundle``) in a
    temporary file, so memory does not grow with the repo; :meth:`lines` then makes what ``build``
    writes for them, in key order, and :meth:`record` the record of all that went by."""

    def __init__(self):
        self._spool = None  # the noted record rows (inputs "-"), made at the first bundle
        self._size = 0
        self._groups: dict = {}  # namespace -> [first byte, end, last name] of its rows
        self._in_order = True  # each namespace's rows together and by name (the model's order)
        self._count = 0

    def __len__(self) -> int:
        return self._count

    def tap(self, clusters):
        """Yield each cluster's list of files, as ``stream.rendered`` does, noting its digest."""
        for files in clusters:
            if files:
                key = files[0][0].rsplit("/", 1)[0]
                digest = tree_id((p, blob_id(t.encode("utf-8"))) for p, t in files)
                self._note(key, digest, *files.source)
            yield files

    def _note(self, key: str, digest: str, file: str, deps: tuple) -> None:
        import tempfile

        if self._spool is None:
            self._spool = tempfile.TemporaryFile()
        row = f"{Line(key, '-', digest, file, deps).text()}\n".encode("utf-8")  # its inputs' digest: when read
        self._spool.write(row)
        namespace, name = key.split("/", 1)
        group = self._groups.get(namespace)
        if group is None:
            self._groups[namespace] = [self._size, self._size + len(row), name]
        else:
            self._in_order = self._in_order and group[1] == self._size and name > group[2]
            group[1:] = [self._size + len(row), name]
        self._size += len(row)
        self._count += 1

    def _rows(self):
        """The noted rows in key order: each namespace's rows as they were written (keys of one
        namespace share the prefix ``<namespace>/``, so namespaces go by that prefix)."""
        if self._spool is None:
            return
        spool = self._spool
        spool.flush()
        if not self._in_order:  # not in the model's order: sorted here ("bundle <key> ...": by key)
            spool.seek(0)
            yield from sorted(spool.read().decode("utf-8").splitlines())
            return
        for namespace in sorted(self._groups, key=lambda ns: f"{ns}/"):
            start, end, _ = self._groups[namespace]
            spool.seek(start)
            while start < end:
                row = spool.readline()
                start += len(row)
                yield row.decode("utf-8")[:-1]

    def lines(self, tree: Worktree):
        """The :class:`Line` of each noted bundle, in key order, as ``build`` writes it."""
        for row in self._rows():
            line = _line(row)
            line.inputs = inputs_digest(tree, line.file, line.deps) or "0" * 64
            yield line

    def close(self) -> None:
        if self._spool is not None:
            self._spool.close()
            self._spool = None

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def record(self, root: str, model, tree: Worktree | None = None) -> Record:
        """The record of all that went by; its lines are made when it is written (:meth:`Record.chunks`)."""
        tree = tree or Worktree(root, ("catalog", "clusters"))
        files = shared_files(root, model)
        return Record(tool_digest(), shared_digest(tree, files), files, _Made(self, tree))


class _Made:
    """The lines of a :class:`Recorder`'s bundles, made in key order as they are written."""

    def __init__(self, recorder: Recorder, tree: Worktree):
        self.recorder, self.tree = recorder, tree

    def in_order(self):
        return self.recorder.lines(self.tree)


# -- what check renders ------------------------------------------------------------------------

class Plan:
    """What an incremental ``check`` loads and renders."""

    def __init__(self):
        self.full = True
        self.note: str | None = None
        self.record: Record | None = None
        self.tree: Worktree | None = None
        self.files: list = []  # cluster files to load (changed, new, or of bundles to render again)
        self.skipped: set = set()  # bundle keys the record vouches for
        self.candidates: list = []  # golden folders that may hold extra files


def plan(root: str, base: str | None = None) -> Plan:
    """Decide which bundles ``check`` must render again (see the module docstring)."""
    from .load import scan_files

    result = Plan()
    record, note = read_record(root)
    result.record = record
    if record is None:
        result.note = note
        return result
    tree = Worktree(root)
    result.tree = tree
    if not tree.git:
        result.note = "not a Git checkout: every bundle was checked (the record needs Git to be trusted)"
        return result
    ref = base or "HEAD"
    changed = tree.changed_since(ref)
    if changed is None:
        result.note = f"Git cannot compare golden/ with {ref}: every bundle was checked"
        return result
    rel = RECORD
    if rel in changed:
        trusted_raw = tree.file_at(ref, rel)
        try:
            trusted = parse(trusted_raw) if trusted_raw is not None else None
        except RecordError:
            trusted = None
        if trusted is None or trusted.header() != record.header():
            result.note = f"{rel} is new or its header changed since {ref}: every bundle was checked"
            return result
        moved = {key for key, ours, theirs in _merged(_keyed(record.lines.rows()), _keyed(trusted.lines.rows()))
                 if ours != theirs}  # lines that differ, or are in one record only
    else:
        moved = set()
    if record.tool != tool_digest() or record.shared != shared_digest(tree, record.shared_files):
        result.note = (f"{rel} was written by another kdrender or before a change to kdrender.yaml or a shared file: "
                       "every bundle was checked; `kdrender build` brings it up to date")
        return result
    cluster_files, refused = scan_files(root, "clusters")
    if refused:
        return result
    golden: set = set()  # "<namespace>/<name>" of every golden folder (at HEAD, or changed since)
    clean: set = set()  # those Git shows unchanged whose tree id is their record line's
    try:
        tree.note_flagged(GOLDEN)  # assume-unchanged, skip-worktree: git status does not look at them
        dirty_folders = set()
        for path in changed | {p for p in tree.dirty if p.startswith(GOLDEN + "/")}:  # staged, changed, new
            if path == rel:
                continue
            parts = path.split("/")
            if len(parts) < 4:  # a file outside any bundle folder
                return result
            dirty_folders.add(f"{parts[1]}/{parts[2]}")
        golden |= dirty_folders
        for key, oid in tree.bundle_trees():
            if key is None:  # a file (or a submodule) outside any bundle folder at HEAD
                return result
            golden.add(key)
            line = record.lines.get(key)
            if line is not None and oid == line.outputs and key not in moved and key not in dirty_folders:
                clean.add(key)
    except _NoGit:
        return result
    cluster_files = set(cluster_files)
    load = set(record.shared_files) & cluster_files
    new_files = set(cluster_files)  # those no line names
    for line in record.lines.in_order():
        new_files.discard(line.file)
        if line.key in clean and inputs_digest(tree, line.file, line.deps) == line.inputs:
            result.skipped.add(line.key)
        else:
            load.add(line.file)
    load |= new_files
    if load:  # the other bundles of a file that is loaded are rendered too
        result.skipped.difference_update(key for key, file in map(_key_file, record.lines.rows()) if file in load)
    result.files = sorted(load & cluster_files)
    result.candidates = sorted(golden - result.skipped)
    result.full = False
    return result


def index_files(record: Record, names: set, skip: set) -> set:
    """Recorded cluster files that define a cluster named one of ``names`` (in any namespace)."""
    return {file for key, file in map(_key_file, record.lines.rows()) if key.split("/", 1)[1] in names} - skip


def load_subset(root: str, plan_: Plan, cache=None):
    """Load and validate the cluster files of ``plan_`` with the whole catalog and kdrender.yaml,
    plus the recorded files of the clusters they connect to or share a name with (so the
    duplicate and connection rules see them).  Returns ``(model, problems)``."""
    from .load import load_repo
    from .scope import connected_names
    from .validate import validate_repo

    files = set(plan_.files)
    while True:
        repo = load_repo(root, sorted(files))
        names = connected_names(repo.clusters) | {d.name for d in repo.clusters if isinstance(d.name, str)}
        more = index_files(plan_.record, names, files) if plan_.record is not None else set()
        more = {f for f in more if os.path.lexists(os.path.join(root, f))}  # not the recorded files that are gone
        if not more:
            break
        files |= more
    plan_.files = sorted(files)
    model, problems = validate_repo(repo, cache=cache)
    shared = shared_files(root, model)
    if tuple(shared) != plan_.record.shared_files:  # a changed file now defines a config or an app
        return None, None
    return model, problems


def record_messages(plan_: Plan, recorder: Recorder, in_scope=None) -> list:
    """Messages for record lines that are not what build writes, for the rendered bundles (and
    in a full check for the whole record).  ``in_scope(key, recorded line or None)`` limits them
    (a shard).  Both sides go by in key order, each line made when compared: memory does not
    grow with the repo."""
    record = plan_.record
    if record is None:
        return []
    out = []
    for key, have, want in _merged(((line.key, line) for line in record.lines.in_order()),
                                   ((line.key, line) for line in recorder.lines(plan_.tree))):
        if want is None and not plan_.full and key in plan_.skipped:
            continue  # a line the plan vouched for
        if in_scope is not None and not in_scope(key, have):
            continue
        have, want = (None if x is None else x.text() for x in (have, want))
        if have == want:
            continue
        if want is None:
            out.append(f"record: {RECORD} lists {key}, which is no longer rendered")
        elif have is None:
            out.append(f"record: {RECORD} has no line for {key}")
        else:
            out.append(f"record: {RECORD}: the line of {key} is not what build writes")
    return out


def _merged(ours, theirs):
    """``(key, item of ours or None, item of theirs or None)`` of two streams of ``(key, item)``
    in key order."""
    a, b = next(ours, None), next(theirs, None)
    while a is not None or b is not None:
        if b is None or (a is not None and a[0] < b[0]):
            yield a[0], a[1], None
            a = next(ours, None)
        elif a is None or b[0] < a[0]:
            yield b[0], None, b[1]
            b = next(theirs, None)
        else:
            yield a[0], a[1], b[1]
            a, b = next(ours, None), next(theirs, None)


def _keyed(rows):
    """``(key, row)`` of record rows."""
    return ((row.split(" ", 2)[1], row) for row in rows)


def _key_file(row: str) -> tuple:
    """The key and the cluster file of a record row (checked by :func:`parse`)."""
    _, key, _, _, file, _ = row.split(" ")
    return key, unquote(file) if "%" in file else file


def full_plan(root: str) -> Plan:
    """``check --full``: everything is rendered; the record, if readable, is still checked."""
    result = Plan()
    result.record, result.note = read_record(root)
    if result.record is not None:
        result.tree = Worktree(root, ("catalog", "clusters"))
    return result


def with_record(root: str, model, clusters):
    """``build``: the ``(path, text)`` pairs of every bundle, and a function that makes their record
    once they have all gone by (``write_tree``'s ``beside``)."""
    recorder = Recorder()
    pairs = (pair for files in recorder.tap(clusters) for pair in files)

    def record():
        with recorder:
            yield from recorder.record(root, model).chunks()

    return pairs, {RECORD: record}
