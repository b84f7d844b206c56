"""KubeDirector's update-time admission rules (spec section 4), checked between two revisions.

KubeDirector's webhook compared the stored object with the incoming one on every UPDATE; with
Git as the reconciler the stored object is the base revision and the incoming one the working
tree.  One module per rule, as in ``kdrender/rules/``: an ``ID``, a ``TARGET`` (``cluster``,
``app`` or ``config``) and ``check(ctx)`` yielding ``(path, message)``; the docstring is the
documentation.  A problem points at the head document, or at the base document when the
object was deleted.

Not checked, because they depend on live state Git does not have: "Change to spec not allowed
before previous spec change has been processed." and the pending-notifications rule.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

from ...load import Document
from ...normalize import normalize_cluster
from ...problems import Problem

RESTORING = "kubedirector.hpe.com/restoring"
ALLOW_DELETE = "kubedirector.hpe.com/allow-delete-while-restoring"


@dataclass
class ClusterPair:
    """A cluster at the base revision and at the head (``head`` is None when it was deleted)."""

    key: str  # namespace/name
    base: Document  # normalized documents, as written (not defaulted)
    head: Document | None
    base_spec: dict  # defaulted specs (members, appCatalog, namingScheme, storage class, ...)
    head_spec: dict | None
    storage_class: str | None = None  # the head's defaultStorageClassName

    @property
    def doc(self) -> Document:
        return self.head or self.base

    def labels(self, doc: Document) -> dict:
        return (doc.data.get("metadata") or {}).get("labels") or {}


@dataclass
class AppPair:
    name: str
    base: Document
    head: Document
    base_spec: dict  # defaulted
    head_spec: dict
    clusters: list  # namespace/name of the clusters using the app at both revisions

    @property
    def doc(self) -> Document:
        return self.head


@dataclass
class ConfigPair:
    base_settings: dict
    head_settings: dict
    doc: Document | None  # where the head settings are written (the base's when they were removed)
    path: tuple  # the settings' path inside ``doc``
    removed: bool  # the base had a KubeDirectorConfig and the head has none
    clusters: list  # namespace/name of the clusters at the base


def first_difference(old, new, path: tuple = ()) -> tuple:
    """The path of the first field (in sorted order) that differs, for pointing at it."""
    if isinstance(old, dict) and isinstance(new, dict):
        for key in sorted(set(old) | set(new), key=str):
            if old.get(key, Ellipsis) != new.get(key, Ellipsis):
                return first_difference(old.get(key), new.get(key), path + (key,)) if key in old and key in new \
                    else path + (key,)
        return path
    if isinstance(old, list) and isinstance(new, list):
        for i, (a, b) in enumerate(zip(old, new)):
            if a != b:
                return first_difference(a, b, path + (i,))
        return path + (min(len(old), len(new)),) if len(new) > len(old) else path
    return path


def without(data: dict, *keys: str) -> dict:
    data = copy.deepcopy(data)
    for key in keys:
        data.pop(key, None)
    return data


from . import (  # noqa: E402  (the registry needs the classes above)
    app_in_use,
    cluster_app_readonly,
    cluster_naming_scheme,
    cluster_restoring,
    cluster_roles_immutable,
    cluster_secret_keys,
    cluster_status,
    config_delete,
    config_master_key,
)

RULES = [cluster_app_readonly, cluster_roles_immutable, cluster_naming_scheme, cluster_restoring, cluster_status,
         cluster_secret_keys, app_in_use, config_master_key, config_delete]


def _doc_of(repo, file: str, name: str, namespace: str, default_ns: str) -> Document | None:
    for doc in repo.clusters:
        if doc.file == file and doc.name == name and isinstance(doc.data, dict):
            meta = doc.data.get("metadata") or {}
            if (meta.get("namespace") or default_ns) == namespace:
                return normalize_cluster(doc)
    return None


def _clusters(revision) -> dict:
    out = {}
    for c in revision.model.clusters:
        doc = _doc_of(revision.repo, c.file, c.name, c.namespace, revision.model.config.namespace)
        if doc is not None:
            out[f"{c.namespace}/{c.name}"] = (doc, c)
    return out


def _written(revision) -> set:
    """namespace/name of every cluster document of a revision, valid or not."""
    out = set()
    for doc in revision.repo.clusters:
        if isinstance(doc.data, dict) and doc.name:
            meta = doc.data.get("metadata") if isinstance(doc.data.get("metadata"), dict) else {}
            out.add(f"{meta.get('namespace') or revision.model.config.namespace}/{doc.name}")
    return out


def _app_doc(repo, app) -> Document | None:
    from ...normalize import normalize_app

    for doc in repo.catalog:
        if doc.file == app.file and doc.name == app.name:
            return normalize_app(doc)
    return None


def _config_doc(revision):
    """The document holding the KubeDirectorConfig settings, and their path in it."""
    source = revision.model.config.source
    for doc in revision.repo.configs:
        if doc.file == source and isinstance(doc.data, dict):
            return doc, (("spec",) if doc.data.get("kind") else ())
    return None, ()


def pairs(base, head) -> list:
    """The contexts of every rule: clusters, apps and the config present at the base."""
    out = []
    base_clusters, head_clusters = _clusters(base), _clusters(head)
    storage_class = head.model.config.get("defaultStorageClassName")
    written = _written(head)
    for key in sorted(base_clusters):
        base_doc, base_c = base_clusters[key]
        head_doc, head_c = head_clusters.get(key, (None, None))
        if head_c is None and key in written:
            continue  # still there, but with problems that validate reports; not a delete
        out.append(ClusterPair(key, base_doc, head_doc, base_c.spec, head_c.spec if head_c else None, storage_class))
    both = sorted(set(base_clusters) & set(head_clusters))
    for name in sorted(set(base.model.apps) & set(head.model.apps)):
        base_app, head_app = base.model.apps[name], head.model.apps[name]
        base_doc, head_doc = _app_doc(base.repo, base_app), _app_doc(head.repo, head_app)
        users = [k for k in both if head_clusters[k][1].spec["app"] == name and base_clusters[k][1].spec["app"] == name]
        if base_doc is not None and head_doc is not None:
            out.append(AppPair(name, base_doc, head_doc, base_app.spec, head_app.spec, users))
    base_settings, head_settings = base.model.config.settings, head.model.config.settings
    if base.model.config.source:
        doc, path = _config_doc(head)
        removed = doc is None or not head.model.config.source
        if removed:
            doc, path = _config_doc(base)
        out.append(ConfigPair(base_settings, head_settings, doc, path, removed, sorted(base_clusters)))
    return out


_TARGETS = {ClusterPair: "cluster", AppPair: "app", ConfigPair: "config"}


def update_problems(base, head) -> list[Problem]:
    """Every update-time problem between two loaded revisions (``review.revision.Revision``)."""
    problems = []
    for ctx in pairs(base, head):
        target = _TARGETS[type(ctx)]
        for rule in RULES:
            if rule.TARGET != target:
                continue
            for path, message in rule.check(ctx):
                if ctx.doc is None:
                    problems.append(Problem(base.model.config.source or "kdrender.yaml", 1, 1, "", message, rule.ID))
                else:
                    problems.append(ctx.doc.problem(path, message, rule.ID))
    return sorted(set(problems))
