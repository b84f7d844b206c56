"""The other Kubernetes objects of a cluster file (ConfigMaps, NetworkPolicies, SealedSecrets, ...).

Rendered as written, with the cluster's namespace and, unless they set one, the sync wave of the
cluster's config (-1), so they exist before the pods that may use them.
"""

from __future__ import annotations

import copy

from .common import SYNC_WAVE, with_wave

WAVE = -1


def extra_objects(rc, config) -> list:
    objects = []
    for doc in rc.cluster.extras:
        obj = copy.deepcopy(doc.data)
        meta = obj["metadata"]
        meta["namespace"] = rc.cluster.namespace
        annotations = meta.get("annotations") or {}
        if SYNC_WAVE not in annotations:
            annotations = with_wave(annotations, config, WAVE)
        if annotations:
            meta["annotations"] = annotations
        objects.append(obj)
    return objects
