"""The straight line: load -> validate -> default -> resolve -> render -> emit.

Each step lives in its own module; this one only chains them and turns problems into
:class:`UserError` so the CLI can print them.
"""

from __future__ import annotations

from .load import load_repo
from .model import Model
from .problems import UserError
from .scope import add_connected, demote, relevant_files


def load_model(root: str, cluster_files: list[str] | None = None, namespace: str | None = None,
               options: dict | None = None, cache=None) -> Model:
    """Load and validate a repo; raise UserError with every problem when there are any."""
    from .validate import validate_repo

    repo = load_repo(root, cluster_files)
    if cluster_files is not None:  # only some clusters: problems elsewhere do not stop them
        add_connected(repo, cluster_files)
    model, problems = validate_repo(repo, namespace=namespace, options=options, cache=cache)
    if cluster_files is not None:
        problems, ignored = demote(problems, relevant_files(repo, cluster_files))
        model.warnings.extend(ignored)
        model.selected = set(cluster_files)
    errors = [p for p in problems if p.level == "error"]
    if errors:
        raise UserError(errors, model)
    return model


def render_model(model: Model) -> list:
    """All objects of all clusters, as (namespace, cluster, objects) triples, in a stable order.

    Raises UserError (and returns nothing) when the API server would refuse any rendered object.
    """
    from .resolve import resolve_model

    resolved = resolve_model(model)
    rendered, problems = [], []
    for rc, objects, found in rendered_clusters(model, resolved):
        rendered.append((rc.cluster.namespace, rc.cluster.name, objects))
        problems.extend(found)
    if problems:
        raise UserError(sorted(problems), model)
    return rendered


def rendered_clusters(model: Model, resolved, start: int = 0, stop: int | None = None, emit=None):
    """``(resolved cluster, objects, problems)`` for ``resolved.clusters[start:stop]``, one at a time.

    The per-cluster step that :func:`render_model` and the streaming commands (kdrender/stream.py:
    build, check, generate) share: which clusters are rendered and what is checked on each
    rendered object belongs here, so every command applies it.

    With ``emit`` (``emit(rc, objects) -> (output, texts)``, ``texts`` each object's emitted text),
    the cluster is emitted here and ``output`` takes the place of the objects (None when there are
    problems); the size checks then measure only objects whose text is near the limit.
    """
    from .apicheck import cluster_problems
    from .render import render_cluster

    for rc in resolved.clusters[start:stop]:
        if model.selected is not None and rc.cluster.file not in model.selected:
            continue  # a connected cluster, loaded for its data only
        objects = render_cluster(rc, resolved)
        if emit is None:
            yield rc, objects, cluster_problems(rc.cluster, objects)
            continue
        output, texts = emit(rc, objects)
        problems = cluster_problems(rc.cluster, objects, texts)
        yield rc, (None if problems else output), problems
