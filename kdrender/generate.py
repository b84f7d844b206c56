"""``kdrender generate``: the Argo CD plugin command, kept free of click and (when the schema
cache knows the inputs) of jsonschema, because Argo CD starts it on every refresh.

Only Kubernetes objects go to stdout, as a JSON stream; any problem goes to stderr with a
non-zero exit and nothing on stdout.  The parameters and environment are described in
``kdrender/argocd.py``.
"""

from __future__ import annotations

import os


def run(environ, cwd: str, out, err) -> int:
    from .argocd import ParameterError, find_root, options_from

    try:
        options, namespace, globs = options_from(environ)
    except ParameterError as exc:
        from .credentials import redact

        err.write(f"kdrender generate: {redact(str(exc))}\n")
        return 2
    root = find_root(cwd)
    if root is None:
        err.write("kdrender generate: no kdrender repo here (no catalog/ or kdrender.yaml in this folder or above)\n")
        return 1
    from .outcache import OutputCache

    cache = OutputCache.open(environ, root, cwd)
    hit = cache.lookup() if cache else None
    if hit:  # every input as in a stored run: its output, nothing rendered
        err.write(hit[1])
        out.write(hit[0])
        return 0
    if cache is None:
        return _render(environ, cwd, root, options, namespace, globs, out, err)
    out, err = _Tee(out, cache.MAX_OUTPUT, cache.abandon), _Tee(err, cache.MAX_OUTPUT, cache.abandon)
    cache.on_abandon.append(lambda: (out.drop(), err.drop()))  # not stored: keep no copy
    with cache:  # records what the run reads
        code = _render(environ, cwd, root, options, namespace, globs, out, err)
    if code == 0 and out.parts is not None and err.parts is not None:
        cache.store("".join(out.parts), "".join(err.parts))
    return code


class _Tee:
    """Writes through and keeps a copy, up to ``limit`` characters (then no copy, and ``over()``:
    nothing will be stored)."""

    def __init__(self, stream, limit: int, over=None):
        self.stream, self.limit, self.size, self.parts, self.over = stream, limit, 0, [], over

    def write(self, text: str) -> None:
        self.stream.write(text)
        if self.parts is not None:
            self.size += len(text)
            if self.size > self.limit:
                self.parts = None
                if self.over:
                    self.over()
            else:
                self.parts.append(text)

    def drop(self) -> None:
        self.parts = None

    def flush(self) -> None:
        self.stream.flush()


def _render(environ, cwd, root, options, namespace, globs, out, err) -> int:
    from .argocd import SelectionError, select_files
    from .credentials import redact
    from .problems import report

    try:
        files, problems = select_files(root, cwd, globs)
    except SelectionError as exc:  # a glob that matches nothing: never drop (and prune) that cluster
        err.write(f"kdrender generate: {redact(str(exc))}\n")
        return 1
    if problems:
        err.write(report(problems) + "\n")
        return 1
    spool = _Spool()
    try:
        return _send(environ, root, files, globs, options, namespace, spool, out, err)
    finally:
        spool.close()  # the temporary file and folder, whatever happened


def _send(environ, root, files, globs, options, namespace, spool, out, err) -> int:
    from .argocd import unserved
    from .credentials import redact
    from .pipeline import load_model
    from .problems import UserError, report
    from .schema import Cache
    from .stream import rendered

    kinds: set = set()
    try:
        model = load_model(root, files, namespace=namespace, options=options, cache=Cache.default(environ))
        for text, found in rendered(model, "json", folder=spool.chunk_folder):  # cluster by cluster: bounded memory
            spool.write(text)
            kinds |= found
    except UserError as exc:
        err.write(report(exc.problems, limit=exc.model.config.problems_limit if exc.model else None) + "\n")
        return 1
    err.write(report([], model.notices, model.warnings, model.config.problems_limit))
    objects = [{"apiVersion": gv, "kind": kind} for gv, kind in sorted(kinds)]
    if not objects and not model.config.allow_empty:
        what = f"the clusters parameter {globs} matches no cluster file" if globs and not files else "no clusters selected"
        err.write(f"kdrender generate: no objects rendered ({redact(what)}); refusing to send an empty manifest set, "
                  "which would prune everything. Set the parameter allow-empty=true to allow it.\n")
        return 1
    missing = unserved(objects, environ.get("KUBE_API_VERSIONS"))
    if missing:
        err.write(f"kdrender generate: the target cluster does not serve {', '.join(missing)} (KUBE_API_VERSIONS)\n")
        return 1
    spool.copy_to(out)  # only now: a problem found on the way leaves stdout empty
    return 0


class _Spool:
    """The JSON stream until it may be sent, in order: text in memory (past ``LIMIT`` characters in
    temporary files, so 10,000 clusters do not need their whole output in memory), and the chunk
    files of render workers (kdrender/stream.py), which are sent on without being read into memory
    when stdout is a real UTF-8 file or pipe and no copy is kept for the output cache."""

    LIMIT = 16 << 20

    def __init__(self):
        self.parts: list = []  # str, _Spilled or stream.ChunkFile
        self.size = 0  # characters of the str parts
        self.folder = None

    def chunk_folder(self) -> str | None:
        """A private temporary folder for the workers' chunk files (None: none can be made here)."""
        import tempfile

        try:
            self.folder = tempfile.mkdtemp(prefix="kdrender-generate-")
        except OSError:
            return None
        return self.folder

    def write(self, text) -> None:
        self.parts.append(text)
        if type(text) is not str:
            return
        self.size += len(text)
        if self.size > self.LIMIT:
            self._spill()

    def _spill(self) -> None:
        """The str parts since the last file go to a temporary file, in their place."""
        import tempfile

        tail = []
        while self.parts and type(self.parts[-1]) is str:
            tail.append(self.parts.pop())
        try:
            spilled = _Spilled(tempfile.TemporaryFile("w+", encoding="utf-8"))
        except OSError:  # no writable temporary folder: keep it in memory
            self.parts.extend(reversed(tail))
            self.size = -(1 << 62)
            return
        spilled.file.writelines(reversed(tail))
        self.parts.append(spilled)
        self.size = 0

    def copy_to(self, out) -> None:
        text = []
        for part in self.parts:
            if type(part) is str:
                text.append(part)
                continue
            if text:
                out.write("".join(text))
                text = []
            if isinstance(part, _Spilled):
                import shutil

                part.file.seek(0)
                shutil.copyfileobj(part.file, out, 1 << 20)
            else:
                _send_file(part, out)
        if text:
            out.write("".join(text))

    def close(self) -> None:
        for part in self.parts:
            if isinstance(part, _Spilled):
                part.file.close()
        self.parts, self.size = [], 0
        if self.folder is not None:
            import shutil

            shutil.rmtree(self.folder, ignore_errors=True)
            self.folder = None


class _Spilled:
    def __init__(self, file):
        self.file = file


def _raw_fd(out) -> int | None:
    """The file descriptor behind ``out`` when bytes may go to it directly: a UTF-8 text stream
    with a real descriptor, not keeping a copy for the output cache (a _Tee past its limit)."""
    if isinstance(out, _Tee):
        if out.parts is not None:
            return None
        out = out.stream
    if (getattr(out, "encoding", "") or "").lower().replace("-", "") != "utf8":
        return None
    try:
        return out.fileno()
    except (AttributeError, OSError, ValueError):
        return None


def _send_file(chunk, out) -> None:
    """A worker's chunk file to ``out``: by the kernel (sendfile) when ``out`` is a plain descriptor,
    else read and written as text (through the output cache's copy, or into a test's buffer)."""
    fd = _raw_fd(out)
    with open(chunk.path, "rb") as fh:
        if fd is None:
            out.write(fh.read().decode("utf-8"))
            return
        out.flush()
        offset = 0
        try:
            while offset < chunk.size:
                sent = os.sendfile(fd, fh.fileno(), offset, chunk.size - offset)
                if sent == 0:
                    raise OSError("the output stopped taking bytes")
                offset += sent
            return
        except OSError as exc:
            import errno

            if offset or exc.errno not in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
                raise
        fh.seek(0)
        for block in iter(lambda: fh.read(1 << 20), b""):
            view = memoryview(block)
            while view:
                view = view[os.write(fd, view):]


def main() -> int:  # pragma: no cover - exercised through the console script
    import sys

    return run(os.environ, os.getcwd(), sys.stdout, sys.stderr)
