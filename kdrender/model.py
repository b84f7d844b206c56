"""The validated, defaulted model that rendering works from."""

from __future__ import annotations

from .config import Config
from .record import field, record


@record(frozen=True)
class App:
    name: str
    file: str
    spec: dict  # defaulted v1beta1 spec

    def role(self, role_id: str) -> dict:
        for role in self.spec["roles"]:
            if role["id"] == role_id:
                return role
        raise KeyError(role_id)


@record(frozen=True)
class Cluster:
    name: str
    namespace: str
    file: str
    spec: dict  # defaulted v1beta1 spec
    app: App
    api_version: str  # as written in the file
    position: tuple = (1, 1)  # line and column of metadata.name, for problems found later
    status: dict = field(default_factory=dict)  # KubeDirector's status, when adopting a running cluster
    uid: str = ""  # metadata.uid, when adopting
    extras: tuple = ()  # other Kubernetes objects (Documents) of the cluster's file, rendered as written
    annotations: dict = field(default_factory=dict)  # metadata.annotations (kdrender.dev/* options and in-pod settings)


@record
class Model:
    config: Config
    apps: dict = field(default_factory=dict)  # name -> App
    clusters: list = field(default_factory=list)  # sorted by (namespace, name)
    notices: list = field(default_factory=list)  # one-line messages for stderr (deprecations)
    warnings: list = field(default_factory=list)  # Problems that do not stop rendering
    selected: set | None = None  # files of the clusters to render (None: all); the others are context
