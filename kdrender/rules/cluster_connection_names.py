"""connection-names: connected ConfigMaps and Secrets, and the ``secret_keys`` Secret, must be valid names.

They become volume sources and mount paths (``/etc/kd/connections/<kind>/<name>``) of every
pod; the API server refuses a name that is not a DNS-1123 subdomain, and such a name could point a
mount path elsewhere.  KubeDirector would just never find such an object.
"""

from ..inpod import ANN_SECRET_KEYS
from ..k8s import dns1123_subdomain

ID = "connection-names"
TARGET = "cluster"


def check(ctx):
    conns = ctx.spec.get("connections") or {}
    for what in ("configmaps", "secrets"):
        for i, name in enumerate(conns.get(what) or []):
            reason = dns1123_subdomain(str(name))
            if reason:
                yield ("spec", "connections", what, i), f"connected object name {name!r} {reason}"
    annotations = (ctx.doc.data.get("metadata") or {}).get("annotations") or {}
    secret = annotations.get(ANN_SECRET_KEYS)
    if secret is not None:
        reason = dns1123_subdomain(str(secret))
        if reason:
            yield ("metadata", "annotations", ANN_SECRET_KEYS), f"Secret name {secret!r} {reason}"
