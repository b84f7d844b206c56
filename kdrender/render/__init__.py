"""Stage 5, render: plain Kubernetes objects (dicts) from the resolved model.

One module per object family: ``service`` (headless and member Services), ``statefulset``
(one per role with members), ``configmeta`` (configmeta and agent ConfigMaps).
"""

from __future__ import annotations

from .configmeta import configmaps, list_shards, ready_service
from .service import headless_service, member_services
from .statefulset import statefulset


def render_cluster(rc, resolved) -> list:
    """Every object of one cluster, in apply order: config, headless Service, StatefulSets, member Services."""
    config = resolved.config
    objects = list(configmaps(rc, resolved))
    objects.append(headless_service(rc, config))
    objects.extend(ready_service(rc, config, objects[-1]))
    for role in rc.roles:
        if role.members > 0:
            objects.append(statefulset(rc, role, config))
    for role in rc.roles:
        objects.extend(member_services(rc, role, config))
    list_shards(objects, rc)
    return objects
