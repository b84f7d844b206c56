"""Semantic rules: KubeDirector's admission checks (spec section 4) and kdrender's own.

One module per rule, as in yamllint: each has an ``ID``, a ``TARGET`` (``app``,
``cluster`` or ``repo``) and a ``check`` function yielding ``(path, message)`` pairs.
The module docstring is the rule's documentation (``kdrender rules`` prints it).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..config import Config
from ..load import Document


@dataclass
class AppContext:
    doc: Document

    @property
    def spec(self) -> dict:
        return self.doc.data["spec"]


@dataclass
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


@dataclass
class ConfigContext:
    doc: Document
    settings: dict
    path: tuple  # where the settings are in the document: () or ("spec",)


@dataclass
class RepoContext:
    clusters: list  # of ClusterContext
    apps: list  # of AppContext


from . import (  # noqa: E402  (the registry needs the context classes above)
    app_config_refs,
    app_dashboard_scheme,
    app_min_storage,
    app_role_image,
    app_tty_stdin,
    app_unique_ids,
    cluster_app_exists,
    cluster_cardinality,
    cluster_connected_objects,
    cluster_connection_names,
    cluster_labels,
    cluster_min_resources,
    cluster_min_storage,
    cluster_name,
    cluster_quantities,
    cluster_roles,
    cluster_secret_keys,
    cluster_secrets,
    cluster_shared_memory,
    cluster_storage,
    cluster_volume_projections,
    config_labels,
    repo_connections,
    repo_duplicates,
)

RULES = [
    app_unique_ids, app_config_refs, app_role_image, app_min_storage, app_tty_stdin, app_dashboard_scheme,
    cluster_name, cluster_app_exists, cluster_roles, cluster_cardinality, cluster_labels, cluster_quantities,
    cluster_min_resources, cluster_storage, cluster_min_storage, cluster_shared_memory, cluster_secrets,
    cluster_secret_keys, cluster_connected_objects, cluster_connection_names,
    cluster_volume_projections, config_labels,
    repo_duplicates, repo_connections,
]


def rules_for(target: str) -> list:
    return [rule for rule in RULES if rule.TARGET == target]
