"""Stage 5, render: plain Kubernetes objects (dicts) from the resolved model.

One module per object family: ``service`` (headless and member Services), ``statefulset``
(one per role with members), ``configmeta`` (configmeta and agent ConfigMaps), ``production``
(PodDisruptionBudgets, NetworkPolicies and the pod fields of kdrender's production options).
"""

from __future__ import annotations

from .configmeta import configmaps, list_shards, ready_service
from .extras import extra_objects
from .production import network_policies, pod_disruption_budgets
from .service import headless_service, member_services
from .statefulset import statefulset


def render_cluster(rc, resolved) -> list:
    """Every object of one cluster, in apply order: the other objects of its file, NetworkPolicies,
    PodDisruptionBudgets, config, headless Service, StatefulSets, member Services.  ``rc`` carries
    everything the cluster's objects need (its connected clusters, production settings and fill
    plan: kdrender/resolve.py); of ``resolved`` only the repo's config is read."""
    config = resolved.config
    objects = extra_objects(rc, config) + network_policies(rc, config) + pod_disruption_budgets(rc, config)
    objects.extend(configmaps(rc, config))
    objects.append(headless_service(rc, config))
    objects.extend(ready_service(rc, config, objects[-1]))
    for role in rc.roles:
        if role.members > 0:
            objects.append(statefulset(rc, role, config))
    for role in rc.roles:
        objects.extend(member_services(rc, role, config))
    list_shards(objects, rc)
    return objects
