"""cluster-name: the cluster name and namespace must be usable by Kubernetes.

The name may be anything the API server accepts for the custom resource: a DNS-1123
subdomain of at most 253 characters (``ubuntu18.04`` included).  Object names and label
values are derived from it (see the README, "Names and namespaces"); the namespace must be
a DNS-1123 label.
"""

from ..k8s import dns1123_label, dns1123_subdomain

ID = "cluster-name"
TARGET = "cluster"


def check(ctx):
    meta = ctx.doc.data.get("metadata") or {}
    name = meta.get("name", "")
    reason = dns1123_subdomain(name)
    if reason:
        yield ("metadata", "name"), f"cluster name {name!r} {reason}"
    namespace = meta.get("namespace")
    if namespace is not None:
        reason = dns1123_label(namespace)
        if reason:
            yield ("metadata", "namespace"), f"namespace {namespace!r} {reason}"
