"""Stage 4, resolve: everything rendering needs that follows from the model.

Object names, member lists, ports, persist directories, labels and node ids are worked out
once here, and so are the cluster's production settings (kdrender/production.py), what the
agent fills into configmeta in the pod (:func:`fill_plan`, kdrender/inpod.py) and the connected
clusters, resolved in turn: the render modules only arrange them into objects.  Each cluster is
resolved on its own (:func:`resolve_cluster`), with a lookup of the model's clusters by name for
its connections.
"""

from __future__ import annotations

import posixpath
import sys

from . import inpod
from .digest import uuid5
from .k8s import dns1035_label, dns1123_label, dns1123_subdomain
from .model import Cluster, Model
from .names import (LISTED_SHARDS, configmap_names, headless_name, is_iana_svc_name, label_value, member_service_name,
                    port_label, port_name, ready_service_name, shard_name, statefulset_name)
from .problems import Problem
from .production import Production, settings_for
from .record import field, record

KD = "kubedirector.hpe.com"
LABEL_CLUSTER = f"{KD}/kdcluster"
LABEL_APP = f"{KD}/kdapp"
LABEL_CATALOG = f"{KD}/appCatalog"
LABEL_ROLE = f"{KD}/role"
LABEL_HEADLESS = f"{KD}/headless"
ANNOTATION_PRETTY = f"{KD}/kdapp-prettyName"
# A fixed namespace for kdrender's UUIDv5 cluster ids (uuid5(NAMESPACE_DNS, "kdrender.dev")).
CLUSTER_ID_NAMESPACE = uuid5("6ba7b810-9dad-11d1-80b4-00c04fd430c8", "kdrender.dev")  # NAMESPACE_DNS

NEW_LAYOUT_DIRS = ["/etc", "/opt/guestconfig", "/var/log/guestconfig", "/usr/local/bin", "/usr/local/lib"]
LEGACY_DIRS = ["/etc", "/opt", "/usr"]


@record
class Port:
    service: dict  # the app service
    name: str  # container port name
    number: int

    @property
    def service_port_name(self) -> str:
        """``<lower(urlScheme)>-<id>`` or ``generic-<id>``; Service port names may be longer than
        container port names, so a 2018 id is not cut here."""
        scheme = (self.service.get("endpoint") or {}).get("urlScheme")
        ident = port_label(self.service["id"])
        return f"{scheme.lower()}-{ident}" if scheme else f"generic-{ident}"


@record
class Role:
    id: str
    spec: dict  # the cluster role (defaulted)
    app_role: dict  # the app role (defaulted)
    statefulset: str
    pods: list
    ports: list  # of Port
    persist_dirs: list
    package: dict | None
    node_slot: int  # position of the role in the app (1-based), for node ids
    adopted: dict = field(default_factory=dict)  # pod -> node id recorded by KubeDirector
    id_base: int = 0  # KubeDirector's lastNodeID: new ids start above it
    adopted_statefulset: bool = False  # KubeDirector created the StatefulSet (name from status)

    @property
    def members(self) -> int:
        return len(self.pods)

    def node_id(self, ordinal: int) -> str:
        """KubeDirector's id for a member it created, else ``lastNodeID + slot * 1000 + ordinal + 1``."""
        pod = self.pods[ordinal]
        if pod in self.adopted:
            return str(self.adopted[pod])
        return str(self.id_base + self.node_slot * 1000 + ordinal + 1)


@record
class ResolvedCluster:
    cluster: Cluster
    headless: str
    domain: str
    cluster_id: str
    roles: list  # of Role, in the cluster file's order
    labels: dict  # KubeDirector cluster labels
    recommended: dict  # app.kubernetes.io labels shared by every object
    annotations: dict
    production: Production = field(default_factory=Production)  # PDB, NetworkPolicy, spread, priority, probe
    fills: dict = field(default_factory=dict)  # what the agent fills in the pod (:func:`fill_plan`)
    connected: dict = field(default_factory=dict)  # name -> ResolvedCluster of connected clusters, sorted

    @property
    def app(self):
        return self.cluster.app

    @property
    def cluster_label(self) -> str:
        """The cluster name as a label value (names over 63 characters are cut, see names.label_value)."""
        return label_value(self.cluster.name)

    def fqdn(self, pod: str) -> str:
        return f"{pod}.{self.domain}"


@record
class ResolvedModel:
    """Resolved clusters: all of a model (:func:`resolve_model`), or the few a streaming run is
    rendering (kdrender/stream.py), which find the clusters they connect to through ``lookup``."""

    model: Model
    clusters: list = field(default_factory=list)
    lookup: object = None  # (namespace, name) -> Cluster or None, for clusters not in ``clusters``

    @property
    def config(self):
        return self.model.config

    def find(self, namespace: str, name: str):
        for rc in self.clusters:
            if rc.cluster.namespace == namespace and rc.cluster.name == name:
                return rc
        cluster = self.lookup(namespace, name) if self.lookup is not None else None
        return resolve_one(cluster, self.config) if cluster is not None else None


def _covered(path: str, by: str) -> bool:
    """``filepath.Rel(by, path)`` does not start with ``..``: path is ``by`` or below it."""
    return path == by or path.startswith(by.rstrip("/") + "/")


def persist_dirs(package: dict | None, app_dirs: list | None) -> list:
    """The persist directories of a role with storage (KubeDirector's ``addToDirs`` algorithm)."""
    if package is None:
        defaults = ["/etc"]
    elif package.get("useNewSetupLayout"):
        defaults = list(NEW_LAYOUT_DIRS)
    else:
        defaults = list(LEGACY_DIRS)
    apps = [posixpath.normpath(d) for d in (app_dirs or [])]

    def strict(path, others):
        return any(path != other and _covered(path, other) for other in others)

    kept = [d for i, d in enumerate(defaults)
            if not strict(d, defaults) and d not in defaults[:i] and not strict(d, apps)]
    kept += [a for i, a in enumerate(apps)
             if not strict(a, apps) and a not in apps[:i] and not strict(a, defaults) and a not in defaults]
    return kept


def role_ports(app_spec: dict, role_id: str) -> list:
    """Ports of a role: app services listed in the role's first roleServices entry that have a port,
    in the order of ``app.spec.services``."""
    entry = next((rs for rs in app_spec["config"]["roleServices"] if rs["roleID"] == role_id), None)
    wanted = set(entry["serviceIDs"]) if entry else set()
    return [Port(s, port_name(s["id"]), s["endpoint"]["port"])
            for s in app_spec.get("services", []) if s["id"] in wanted and (s.get("endpoint") or {}).get("port")]


def role_service_ids(app_spec: dict, role_id: str) -> list:
    """The service ids of a role: the app's first roleServices entry for it."""
    entry = next((rs for rs in app_spec["config"]["roleServices"] if rs["roleID"] == role_id), None)
    return list(entry["serviceIDs"]) if entry else []


def fill_plan(rc: ResolvedCluster) -> dict:
    """What the agent fills into this cluster's configmeta in the pod (see kdrender.inpod):
    ``secret_name`` (the ``kdrender.dev/secret-keys`` Secret) and ``secret_keys`` (role -> key
    names it fills), ``tokens`` (role -> the pod whose auth token the role shows) from the Secret
    ``tokens_secret``, and ``objects``, the connected ConfigMaps and Secrets of known type
    (``inpod.connected_objects``, plus whether the cluster's own bundle applies the object:
    ``inpod.applied_with``)."""
    annotations = rc.cluster.annotations or {}
    secret_name = annotations.get(inpod.ANN_SECRET_KEYS)
    keys = {}
    if secret_name:
        keys = {role.id: names for role in rc.roles if role.members and (names := inpod.secret_key_names(role.spec))}
    services = {s["id"]: s for s in rc.app.spec.get("services", [])}
    tokens = {}
    for role in rc.roles:
        if role.members and any(((services.get(sid) or {}).get("endpoint") or {}).get("hasAuthToken")
                                for sid in role_service_ids(rc.app.spec, role.id)):
            tokens[role.id] = role.pods[-1]  # KubeDirector's role-level token: the last member's
    objects = [o + (inpod.applied_with(rc.cluster, o[0], o[1]),)
               for o in inpod.connected_objects(rc.cluster, annotations) if o[2]]
    return {"secret_name": secret_name, "secret_keys": keys, "tokens": tokens,
            "tokens_secret": inpod.auth_token_secret(rc.headless), "objects": objects}


def resolve_cluster(cluster: Cluster, settings: dict, recommended_labels: bool, instance_label: bool,
                    production: Production | None = None, find=None) -> ResolvedCluster:
    """One cluster, resolved.  ``production``: the repo's production defaults (kdrender.yaml);
    ``find(namespace, name)``: the model's cluster of that name, or None, for the connected
    clusters (resolved without their own connections, which configmeta shows as null)."""
    spec = cluster.spec
    app = cluster.app
    scheme = spec["namingScheme"]
    status = cluster.status or {}
    status_roles = {r.get("id"): r for r in status.get("roles") or []}
    hs = status.get("clusterService") or headless_name(scheme, cluster.namespace, cluster.name)
    domain = f"{hs}.{cluster.namespace}{settings['clusterSvcDomainBase']}"
    slots = {r["id"]: i + 1 for i, r in enumerate(app.spec["roles"])}
    roles = []
    for role in spec["roles"]:
        app_role = app.role(role["id"])
        recorded = status_roles.get(role["id"]) or {}
        ss = recorded.get("statefulSet") or statefulset_name(scheme, cluster.namespace, cluster.name, role["id"])
        pods = [f"{ss}-{i}" for i in range(role["members"])]
        package = app_role.get("configPackage")
        dirs = persist_dirs(package, app_role.get("persistDirs")) if role.get("storage") else []
        adopted = {m["pod"]: m["nodeID"] for m in recorded.get("members") or [] if m.get("pod") and m.get("nodeID")}
        roles.append(Role(role["id"], role, app_role, ss, pods,
                          role_ports(app.spec, role["id"]), dirs, package, slots[role["id"]],
                          adopted, status.get("lastNodeID") or 0, bool(recorded.get("statefulSet"))))
    label = label_value(cluster.name)
    labels = {LABEL_CLUSTER: label, LABEL_APP: app.name, LABEL_CATALOG: spec["appCatalog"]}
    recommended = {}
    if recommended_labels:
        recommended = {
            "app.kubernetes.io/name": app.name,
            "app.kubernetes.io/part-of": label,
            "app.kubernetes.io/managed-by": "kdrender",
        }
        if instance_label:
            recommended["app.kubernetes.io/instance"] = label
    annotations = {ANNOTATION_PRETTY: app.spec["label"]["name"]}
    cluster_id = cluster.uid or uuid5(CLUSTER_ID_NAMESPACE, f"{cluster.namespace}/{cluster.name}")
    prod = settings_for(production or Production(), cluster.annotations, [role.id for role in roles])
    rc = ResolvedCluster(cluster, hs, domain, cluster_id, roles, labels, recommended, annotations, prod)
    rc.fills = fill_plan(rc)
    if find is not None:
        for name in sorted((spec.get("connections") or {}).get("clusters") or []):
            other = find(cluster.namespace, name)
            if other is not None:  # a missing cluster is left out, as KubeDirector leaves it out
                rc.connected[name] = resolve_cluster(other, settings, recommended_labels, instance_label, production)
    return rc


def object_names(rc: ResolvedCluster) -> list:
    """(kind, name, what) of every object a cluster gets, for the name checks."""
    scheme = rc.cluster.spec["namingScheme"]
    names = [("Service", rc.headless, "headless Service"), ("Service", ready_service_name(rc.headless), "readiness Service")]
    names += [("ConfigMap", n, "ConfigMap") for n in configmap_names(rc.headless)]
    names += [("ConfigMap", shard_name(rc.headless, i), "ConfigMap") for i in range(1, LISTED_SHARDS)]
    for role in rc.roles:
        if role.members:
            names.append(("StatefulSet", role.statefulset, f"StatefulSet of role {role.id!r}"))
        for pod in role.pods:
            names.append(("Pod", pod, f"pod of role {role.id!r}"))
            if role.ports:
                names.append(("Service", member_service_name(scheme, pod), f"member Service of role {role.id!r}"))
    return names


_CHECKS = {"Service": dns1035_label, "Pod": dns1123_label, "StatefulSet": dns1123_label,
           "ConfigMap": dns1123_subdomain}


def name_problems(resolved) -> list:
    """Names Kubernetes would refuse, and two objects that end up with the same name.

    ``resolved`` is a :class:`ResolvedModel` or resolved clusters one at a time
    (:func:`resolved_clusters`: a large repo's are not all held at once)."""
    problems = []
    seen: dict = {}  # (namespace, kind, name) -> (cluster, what)
    for rc in (resolved.clusters if isinstance(resolved, ResolvedModel) else resolved):
        c = rc.cluster
        line, col = c.position
        for kind, name, what in object_names(rc):
            reason = _CHECKS[kind](name)
            if reason:
                problems.append(Problem(c.file, line, col, "metadata.name",
                                        f"the {what} would be named {name!r}, which {reason}", "object-name"))
            key = (c.namespace, kind, name)
            if key in seen and seen[key][0] is not c:
                other = seen[key]
                problems.append(Problem(c.file, line, col, "metadata.name",
                                        f"the {what} would be named {name!r}, the same as the {other[1]} of cluster "
                                        f"{other[0].name!r} ({other[0].file})", "name-collision"))
            elif key in seen:
                problems.append(Problem(c.file, line, col, "metadata.name",
                                        f"the {what} and the {seen[key][1]} would both be named {name!r} "
                                        "('.' and '_' become '-' in object names; rename one of them)",
                                        "name-collision"))
            else:
                seen[key] = (c, sys.intern(what))
        for doc in c.extras:  # other objects of the cluster file: no kind and name twice in a namespace
            kind, name = doc.data["kind"], doc.data["metadata"]["name"]
            key = (c.namespace, kind, name)
            if key in seen:
                other = seen[key]
                where = "" if other[0] is c else f" of cluster {other[0].name!r} ({other[0].file})"
                problems.append(doc.problem(("metadata", "name"), f"the {kind} {name!r} has the same kind and name "
                                            f"as the {other[1]}{where}; rename it", "name-collision"))
            else:
                seen[key] = (c, f"{kind} at line {doc.where(('metadata', 'name'))[0]} of {doc.file}")
        for role in rc.roles:
            names = [p.name for p in role.ports]
            for port in role.ports:
                if not is_iana_svc_name(port.name) or names.count(port.name) > 1:
                    problems.append(Problem(c.file, line, col, "spec.app",
                                            f"service {port.service['id']!r} of app {rc.app.name!r} gives role "
                                            f"{role.id!r} the port name {port.name!r}, which is not a unique IANA "
                                            "service name (1-15 lower case letters, digits and '-')", "object-name"))
    return sorted(set(problems))


def resolve_model(model: Model) -> ResolvedModel:
    """Resolve every cluster (``name_problems`` says whether the names will do)."""
    return ResolvedModel(model, list(resolved_clusters(model)))


def resolve_some(model: Model, clusters: list) -> ResolvedModel:
    """Resolve ``clusters`` of ``model`` (a chunk of a streaming run); the clusters they connect to
    are found in the model and resolved when asked for (``ResolvedModel.find``)."""
    find = finder(model)
    return ResolvedModel(model, [resolve_one(c, model.config, find) for c in clusters], find)


def finder(model: Model):
    """``(namespace, name) -> Cluster or None`` over all clusters of the model: the streaming
    index's own (kdrender/index.py), or a map of the clusters in memory (the first of each name
    in the model's order, as ``ResolvedModel.find`` over all of them gives)."""
    find = getattr(model.clusters, "find", None)
    if find is not None:
        return find
    known: dict = {}

    def lookup(namespace: str, name: str):
        if not known:  # made when first asked: most clusters connect to none
            for cluster in model.clusters:
                known.setdefault((cluster.namespace, cluster.name), cluster)
        return known.get((namespace, name))
    return lookup


def resolve_one(cluster: Cluster, config, find=None) -> ResolvedCluster:
    """One cluster under the repo's config; ``find`` as for :func:`resolve_cluster`."""
    return resolve_cluster(cluster, config.settings, config.recommended_labels, config.instance_label,
                           config.production, find)


def resolved_clusters(model: Model):
    """Each cluster of the model resolved, one at a time."""
    find = finder(model)
    for cluster in model.clusters:
        yield resolve_one(cluster, model.config, find)
