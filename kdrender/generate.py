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
    with cache:  # records what the run reads
        RECORDING.append(cache)
        try:
            code = _render(environ, cwd, root, options, namespace, globs, out, err)
        finally:
            RECORDING.clear()
    if code == 0 and out.parts is not None and err.parts is not None:
        cache.store("".join(out.parts), "".join(err.parts))
    return code


RECORDING: list = []  # the output cache recording this run's reads, for render workers to stop


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

    def flush(self) -> None:
        self.stream.flush()


def _render(environ, cwd, root, options, namespace, globs, out, err) -> int:
    from .argocd import SelectionError, select_files, unserved
    from .credentials import redact
    from .pipeline import load_model
    from .problems import UserError, report
    from .schema import Cache
    from .stream import rendered

    try:
        files, problems = select_files(root, cwd, globs)
    except SelectionError as exc:  # a glob that matches nothing: never drop (and prune) that cluster
        err.write(f"kdrender generate: {redact(str(exc))}\n")
        return 1
    if problems:
        err.write(report(problems) + "\n")
        return 1
    spool = _Spool()
    kinds: set = set()
    try:
        model = load_model(root, files, namespace=namespace, options=options, cache=Cache.default(environ))
        for text, found in rendered(model, "json"):  # cluster by cluster: bounded memory
            spool.write(text)
            kinds |= found
    except UserError as exc:
        spool.close()
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
    """The JSON stream until it may be sent: in memory, past ``LIMIT`` characters in a temporary
    file (so 10,000 clusters do not need their whole output in memory)."""

    LIMIT = 16 << 20

    def __init__(self):
        self.parts: list = []
        self.size = 0
        self.file = None

    def write(self, text: str) -> None:
        if self.file is not None:
            self.file.write(text)
            return
        self.parts.append(text)
        self.size += len(text)
        if self.size > self.LIMIT:
            import tempfile

            try:
                self.file = tempfile.TemporaryFile("w+", encoding="utf-8")
            except OSError:  # no writable temporary folder: keep it in memory
                self.size = -(1 << 62)
                return
            self.file.writelines(self.parts)
            self.parts = []

    def copy_to(self, out) -> None:
        if self.file is None:
            out.write("".join(self.parts))
            return
        import shutil

        self.file.seek(0)
        shutil.copyfileobj(self.file, out, 1 << 20)
        self.close()

    def close(self) -> None:
        if self.file is not None:
            self.file.close()
            self.file = None


def main() -> int:  # pragma: no cover - exercised through the console script
    import sys

    return run(os.environ, os.getcwd(), sys.stdout, sys.stderr)
