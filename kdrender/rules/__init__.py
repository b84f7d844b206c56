"""Semantic rules: KubeDirector's admission checks (spec section 4) and kdrender's own.

One module per rule, as in yamllint: each has an ``ID``, a ``TARGET`` (``app``,
``cluster``, ``config``, ``extra``, ``repo`` or ``deploy``, the YAML files under deploy/ that only
``kdrender validate`` reads; or a tuple of the first three) and a ``check`` function yielding ``(path, message)`` pairs.
The module docstring is the rule's documentation (``kdrender rules`` prints it).
"""

from __future__ import annotations

from ..config import Config
from ..load import Document
from ..record import record


@record
class AppContext:
    doc: Document

    @property
    def spec(self) -> dict:
        return self.doc.data["spec"]


@record
class ClusterContext:
    doc: Document
    app: dict | None  # the defaulted app spec, None when the app is not in the catalog
    app_name: str
    config: Config
    namespace: str = "default"

    @property
    def name(self) -> str:
        return self.doc.name

    @property
    def spec(self) -> dict:
        return self.doc.data["spec"]

    def app_role(self, role_id: str) -> dict | None:
        for role in (self.app or {}).get("roles", []):
            if role.get("id") == role_id:
                return role
        return None


@record
class ConfigContext:
    doc: Document
    settings: dict
    path: tuple  # where the settings are in the document: () or ("spec",)


@record
class ExtraContext:
    doc: Document  # another Kubernetes object in a cluster file
    clusters: list  # the KubeDirectorCluster documents of the same file
    namespace: str  # the namespace of the file's cluster


@record
class DeployContext:
    doc: Document  # a document of a YAML file under deploy/ (the GitOps objects kdrender init writes)


@record
class RepoContext:
    clusters: list  # of ClusterContext: the clusters to check, in file order
    apps: list  # of AppContext
    known: object = None  # (namespace, name) of every cluster of the run; None: those of ``clusters``

    @property
    def names(self):
        """The (namespace, name) of every cluster of the run (a streaming run checks only some
        clusters, against the index of all: kdrender/index.py)."""
        return self.known if self.known is not None else {(c.namespace, c.name) for c in self.clusters}


from . import (  # noqa: E402  (the registry needs the context classes above)
    app_config_refs,
    app_dashboard_scheme,
    app_min_storage,
    app_package_http,
    app_quantities,
    app_role_image,
    app_tty_stdin,
    app_unique_ids,
    cluster_app_exists,
    cluster_cardinality,
    cluster_encrypted_keys,
    cluster_env_names,
    cluster_file_injections,
    cluster_injection_http,
    cluster_file_mode,
    cluster_connected_objects,
    cluster_connection_names,
    cluster_labels,
    cluster_min_resources,
    cluster_min_storage,
    cluster_name,
    cluster_production,
    cluster_quantities,
    cluster_roles,
    cluster_secret_keys,
    cluster_secrets,
    cluster_shared_memory,
    cluster_storage,
    cluster_volume_projections,
    config_labels,
    extra_objects,
    config_production,
    deploy_placeholders,
    repo_connections,
    repo_duplicates,
    url_credentials,
)

RULES = [
    app_unique_ids, app_config_refs, app_role_image, app_min_storage, app_quantities, app_tty_stdin,
    app_dashboard_scheme,
    cluster_name, cluster_app_exists, cluster_roles, cluster_cardinality, cluster_labels, cluster_quantities,
    cluster_min_resources, cluster_storage, cluster_min_storage, cluster_shared_memory, cluster_secrets,
    cluster_secret_keys, cluster_encrypted_keys, cluster_env_names, cluster_volume_projections, cluster_file_mode,
    cluster_connected_objects, cluster_connection_names,
    config_labels, extra_objects, cluster_production, config_production,
    app_package_http, cluster_file_injections, cluster_injection_http,  # agent inputs (issue 9)
    repo_duplicates, repo_connections, url_credentials,
    deploy_placeholders,
]


def targets(rule) -> tuple:
    """What a rule checks: ``TARGET`` is one of app, cluster, config, repo, or a tuple of them."""
    return rule.TARGET if isinstance(rule.TARGET, tuple) else (rule.TARGET,)


def rules_for(target: str) -> list:
    return [rule for rule in RULES if target in targets(rule)]
