"""Production objects KubeDirector never had (settings: kdrender/production.py, resolved per cluster as
``rc.production``; README "Production objects").

* PodDisruptionBudget per role with more than one member (on by default, ``maxUnavailable: 1``).
* NetworkPolicy per cluster (off by default): members reach each other on every port, the
  ports of the app's services are open to the cluster's namespace and the configured namespaces
  and CIDRs.  A cluster that connects to another one (``spec.connections.clusters``) carries a
  second policy, ``<headless>-to-<other headless>``, that lets its members reach the other
  cluster's ports; it lives with the connecting cluster, so adding a connection changes only the
  bundle of the cluster whose file changed.
* Pod template fields: ``topologySpreadConstraints`` (off by default), ``priorityClassName``, and
  a tcpSocket ``readinessProbe`` for roles the agent gives none.
"""

from __future__ import annotations

from ..resolve import LABEL_CLUSTER
from .common import metadata, role_labels, selector_labels, with_wave

WAVE = -1  # before the StatefulSets, with the config (Argo CD's kind order puts them first in the wave)
NAMESPACE_LABEL = "kubernetes.io/metadata.name"
PROBE_TIMING = {"periodSeconds": 10, "failureThreshold": 3, "successThreshold": 1, "timeoutSeconds": 1,
                "initialDelaySeconds": 0}


def pod_disruption_budgets(rc, config) -> list:
    prod = rc.production
    if not prod.pdb:
        return []
    return [{
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": metadata(role.statefulset, rc.cluster.namespace, role_labels(rc, role),
                             with_wave(rc.annotations, config, WAVE)),
        "spec": {"maxUnavailable": prod.max_unavailable,
                 "selector": {"matchLabels": selector_labels(rc, role, config)}},
    } for role in rc.roles if role.members > 1]


def _ports(rc) -> list:
    numbers = sorted({port.number for role in rc.roles if role.members for port in role.ports})
    return [{"port": number, "protocol": "TCP"} for number in numbers]


def _peer(entry: str) -> dict:
    if "/" in entry:
        return {"ipBlock": {"cidr": entry}}
    return {"namespaceSelector": {"matchLabels": {NAMESPACE_LABEL: entry}}}


def _policy(rc, config, name: str, target: str, ingress: list) -> dict:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": metadata(name, rc.cluster.namespace, {**rc.recommended, **rc.labels},
                             with_wave(rc.annotations, config, WAVE)),
        "spec": {"podSelector": {"matchLabels": {LABEL_CLUSTER: target}},
                 "policyTypes": ["Ingress"], "ingress": ingress},
    }


def network_policies(rc, config) -> list:
    policies = []
    own = {"podSelector": {"matchLabels": {LABEL_CLUSTER: rc.cluster.name}}}
    prod = rc.production
    if prod.network_policy:
        ingress = [{"from": [own]}]
        ports = _ports(rc)
        if ports:
            peers = [{"podSelector": {}}] + [_peer(e) for e in dict.fromkeys(prod.allow_from)]
            ingress.append({"from": peers, "ports": ports})
        policies.append(_policy(rc, config, rc.headless, rc.cluster.name, ingress))
    for other in rc.connected.values():
        if other.cluster is rc.cluster or not other.production.network_policy or not _ports(other):
            continue  # without a policy of its own the other cluster accepts everything already
        policies.append(_policy(rc, config, f"{rc.headless}-to-{other.headless}", other.cluster.name,
                                [{"from": [own], "ports": _ports(other)}]))
    return policies


def pod_fields(rc, role, config, container: dict, pod_spec: dict) -> None:
    """Add the readinessProbe, priorityClassName and topologySpreadConstraints a role's settings ask for."""
    prod = rc.production
    if prod.readiness_probe and role.ports and "readinessProbe" not in container:
        container["readinessProbe"] = {"tcpSocket": {"port": role.ports[0].number}, **PROBE_TIMING}
    priority = prod.priority_for(role.id)
    if priority:
        pod_spec["priorityClassName"] = priority
    if prod.spread:
        selector = selector_labels(rc, role, config)
        pod_spec["topologySpreadConstraints"] = [
            {"maxSkew": prod.max_skew, "topologyKey": key,
             "whenUnsatisfiable": prod.when_unsatisfiable, "labelSelector": {"matchLabels": dict(selector)}}
            for key in prod.topology_keys]
