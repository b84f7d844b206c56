"""cluster-name: the cluster name and namespace must be usable by Kubernetes.

The name becomes a label value (kubedirector.hpe.com/kdcluster) and part of DNS names, so it
must be a DNS-1123 label of at most 63 characters; the namespace must be a DNS-1123 label.
KubeDirector itself does not check this; the API server would refuse the objects later.
"""

from ..k8s import dns1123_label

ID = "cluster-name"
TARGET = "cluster"


def check(ctx):
    meta = ctx.doc.data.get("metadata") or {}
    name = meta.get("name", "")
    reason = dns1123_label(name)
    if reason:
        yield ("metadata", "name"), f"cluster name {name!r} {reason}"
    namespace = meta.get("namespace")
    if namespace is not None:
        reason = dns1123_label(namespace)
        if reason:
            yield ("metadata", "namespace"), f"namespace {namespace!r} {reason}"
