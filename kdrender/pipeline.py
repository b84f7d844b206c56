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
    """Load and validate a repo; raise UserError with every problem when there are any.

    A whole repo, or more than ``index.KEEP`` selected cluster files, is checked by the streaming
    index (kdrender/index.py: the model reads each cluster again when it is rendered); a few
    selected files are read and kept in memory, which is quicker for Argo CD's one cluster."""
    from .index import KEEP

    if cluster_files is None or len(set(cluster_files)) > KEEP:
        from .index import load

        return load(root, cluster_files, namespace, options, cache)
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
    rendered, problems = [], []
    for rc, objects, found in rendered_clusters(model, None):
        rendered.append((rc.cluster.namespace, rc.cluster.name, objects))
        problems.extend(found)
    if problems:
        raise UserError(sorted(problems), model)
    return rendered


def chosen(model: Model, start: int = 0, stop: int | None = None) -> list:
    """The clusters of ``model.clusters[start:stop]`` to render: all, or those of the selected
    files (``model.selected``: a set of repo-relative files, or a predicate on one); the others
    are context (connected clusters, loaded for their data only).  A streaming model
    (kdrender/index.py) loads only the chosen ones."""
    selected = model.selected
    want = None if selected is None else (selected if callable(selected) else selected.__contains__)
    take = getattr(model.clusters, "take", None)
    if take is not None:
        return take(start, stop, want)
    return [c for c in model.clusters[start:stop] if want is None or want(c.file)]


def rendered_clusters(model: Model, resolved=None, start: int = 0, stop: int | None = None, emit=None):
    """``(resolved cluster, objects, problems)`` for the chosen clusters of ``model.clusters[start:stop]``,
    one at a time.

    The per-cluster step that :func:`render_model` and the streaming commands (kdrender/stream.py:
    build, check, generate) share: which clusters are rendered and what is checked on each
    rendered object belongs here, so every command applies it.  The clusters are resolved here
    (``resolved``, a ResolvedModel of the same model, is only for callers that have one).

    With ``emit`` (``emit(rc, objects) -> (output, texts)``, ``texts`` each object's emitted text),
    the cluster is emitted here and ``output`` takes the place of the objects (None when there are
    problems); the size checks then measure only objects whose text is near the limit.
    """
    from .apicheck import cluster_problems
    from .render import render_cluster
    from .resolve import resolve_some

    if resolved is None:
        resolved = resolve_some(model, chosen(model, start, stop))
        clusters = resolved.clusters
    else:
        files = {id(c) for c in chosen(model, start, stop)}
        clusters = [rc for rc in resolved.clusters[start:stop] if id(rc.cluster) in files]
    for rc in clusters:
        objects = render_cluster(rc, resolved)
        if emit is None:
            yield rc, objects, cluster_problems(rc.cluster, objects)
            continue
        output, texts = emit(rc, objects)
        problems = cluster_problems(rc.cluster, objects, texts)
        yield rc, (None if problems else output), problems
