"""``kdrender generate``: the Argo CD plugin command, kept free of click and (when the schema
cache knows the inputs) of jsonschema, because Argo CD starts it on every refresh.

Only Kubernetes objects go to stdout, as a JSON stream; any problem goes to stderr with a
non-zero exit and nothing on stdout.  The parameters and environment are described in
``kdrender/argocd.py``.
"""

from __future__ import annotations

import os

from .credentials import redact
from .problems import UserError, report


def run(environ, cwd: str, out, err) -> int:
    from .argocd import ParameterError, SelectionError, find_root, options_from, select_files, unserved
    from .emit import json_stream
    from .pipeline import load_model, render_model
    from .schema import Cache

    try:
        options, namespace, globs = options_from(environ)
    except ParameterError as exc:
        err.write(f"kdrender generate: {redact(str(exc))}\n")
        return 2
    root = find_root(cwd)
    if root is None:
        err.write("kdrender generate: no kdrender repo here (no catalog/ or kdrender.yaml in this folder or above)\n")
        return 1
    try:
        files, problems = select_files(root, cwd, globs)
    except SelectionError as exc:
        err.write(f"kdrender generate: {exc}\n")
        return 1
    if problems:
        err.write(report(problems) + "\n")
        return 1
    try:
        model = load_model(root, files, namespace=namespace, options=options, cache=Cache.default(environ))
        rendered = render_model(model)
    except UserError as exc:
        err.write(report(exc.problems, limit=exc.model.config.problems_limit if exc.model else None) + "\n")
        return 1
    err.write(report([], model.notices, model.warnings, model.config.problems_limit))
    objects = [obj for _, _, objs in rendered for obj in objs]
    if not objects and not model.config.allow_empty:
        what = f"the clusters parameter {globs} matches no cluster file" if globs and not files else "no clusters selected"
        err.write(f"kdrender generate: no objects rendered ({redact(what)}); refusing to send an empty manifest set, "
                  "which would prune everything. Set the parameter allow-empty=true to allow it.\n")
        return 1
    missing = unserved(objects, environ.get("KUBE_API_VERSIONS"))
    if missing:
        err.write(f"kdrender generate: the target cluster does not serve {', '.join(missing)} (KUBE_API_VERSIONS)\n")
        return 1
    out.write(json_stream(objects))
    return 0


def main() -> int:  # pragma: no cover - exercised through the console script
    import sys

    return run(os.environ, os.getcwd(), sys.stdout, sys.stderr)
