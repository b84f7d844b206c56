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
    from .apicheck import cluster_problems
    from .render import render_cluster
    from .resolve import resolve_model

    resolved = resolve_model(model)
    rendered = [(rc, render_cluster(rc, resolved)) for rc in resolved.clusters
                if model.selected is None or rc.cluster.file in model.selected]
    problems = [p for rc, objects in rendered for p in cluster_problems(rc.cluster, objects)]
    if problems:
        raise UserError(sorted(problems), model)
    return [(rc.cluster.namespace, rc.cluster.name, objects) for rc, objects in rendered]
