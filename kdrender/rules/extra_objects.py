"""extra-objects: other Kubernetes objects in a cluster file go into that cluster's bundle.

A cluster file may hold documents besides its KubeDirectorCluster (a ConfigMap, NetworkPolicy,
SealedSecret, ExternalSecret, ...).  They are rendered as written, with the cluster's namespace
and (unless they set one) the Argo CD sync wave of the cluster's config, -1.  Each needs
``apiVersion``, ``kind`` and a valid ``metadata.name``; the file must hold exactly one
KubeDirectorCluster; a ``metadata.namespace`` must be the cluster's; cluster-scoped kinds are
refused (a cluster's bundle is namespaced); and no two objects of the bundle may share kind and
name (checked with the rendered objects' names).  A ``kind: Secret`` with ``data`` or
``stringData`` is refused, since it would put a secret into Git and the bundle: keep the secret
out of Git with Sealed Secrets, SOPS or External Secrets.  Values are never quoted.
"""

import math

from ..k8s import dns1123_subdomain
from ..lazyre import lazy

ID = "extra-objects"
TARGET = "extra"

CLUSTER_SCOPED = {
    "Namespace", "Node", "PersistentVolume", "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition",
    "StorageClass", "PriorityClass", "RuntimeClass", "IngressClass", "CSIDriver", "ValidatingWebhookConfiguration",
    "MutatingWebhookConfiguration", "APIService", "ClusterIssuer", "ClusterSecretStore",
}
_SCALARS = (str, int, float, bool, type(None))
_KIND = lazy(r"^[A-Z][A-Za-z0-9]{0,62}\Z")
_API_VERSION = lazy(r"^([a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?/)?v[0-9]+((alpha|beta)[0-9]+)?\Z")


def _odd_values(node, path=()):
    """Paths of values JSON cannot carry (e.g. an unquoted YAML date or a NaN)."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _odd_values(value, path + (key,))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _odd_values(value, path + (i,))
    elif not isinstance(node, _SCALARS) or (isinstance(node, float) and not math.isfinite(node)):
        yield path


def check(ctx):
    data = ctx.doc.data
    for field, pattern, example in (("apiVersion", _API_VERSION, "v1, apps/v1, bitnami.com/v1alpha1"),
                                    ("kind", _KIND, "ConfigMap")):
        value = data.get(field)
        if not isinstance(value, str) or not value:
            yield (field,), f"a Kubernetes object needs {field}"
        elif not pattern.match(value):
            yield (field,), f"{field} {value[:80]!r} is not like {example}"
    kind = data.get("kind")
    meta = data.get("metadata")
    for field in ("labels", "annotations"):
        values = meta.get(field) if isinstance(meta, dict) else None
        if values is not None and not (isinstance(values, dict) and all(isinstance(v, str) for v in values.values())):
            yield ("metadata", field), f"metadata.{field} must be a mapping of strings"
    name = meta.get("name") if isinstance(meta, dict) else None
    if not isinstance(name, str) or not name:
        yield ("metadata",), f"the {kind} needs metadata.name (generateName cannot be tracked by Argo CD or Flux)"
    elif dns1123_subdomain(name):
        yield ("metadata", "name"), f"name {name!r} {dns1123_subdomain(name)}"
    if len(ctx.clusters) != 1:
        has = f"{len(ctx.clusters)}; keep it in a file with exactly one" if ctx.clusters else (
            "none; keep it in the file of the cluster it belongs to")
        yield ("kind",), f"a {kind} in a cluster file goes into the bundle of the file's KubeDirectorCluster; this file has {has}"
    namespace = meta.get("namespace") if isinstance(meta, dict) else None
    if namespace is not None and namespace != ctx.namespace:
        yield ("metadata", "namespace"), (f"namespace {namespace!r} is not the cluster's namespace {ctx.namespace!r}; "
                                          "leave it out (the cluster's namespace is used)")
    if kind in CLUSTER_SCOPED:
        yield ("kind",), f"a {kind} is not namespaced and cannot be part of a cluster's bundle"
    if kind == "Secret" and data.get("apiVersion") == "v1":
        for field in ("data", "stringData"):
            if data.get(field):
                yield (field,), ("a Secret with data would put the secret into Git and into the bundle; keep it "
                                 "out of Git: commit a SealedSecret (Sealed Secrets), encrypt it with SOPS, or use "
                                 "an ExternalSecret (External Secrets Operator)")
    for path in _odd_values(data):
        yield path, "this value is not a string, number, true/false or null (quote it)"
