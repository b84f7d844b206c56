"""Labels, annotations and metadata shared by the render modules."""

from __future__ import annotations

from ..resolve import LABEL_HEADLESS, LABEL_ROLE

SYNC_WAVE = "argocd.argoproj.io/sync-wave"


def metadata(name: str, namespace: str, labels: dict, annotations: dict) -> dict:
    meta = {"name": name, "namespace": namespace, "labels": dict(labels)}
    if annotations:
        meta["annotations"] = dict(annotations)
    return meta


def with_wave(annotations: dict, config, wave: int) -> dict:
    if config.sync_waves:
        return {**annotations, SYNC_WAVE: str(wave)}
    return annotations


def role_labels(rc, role) -> dict:
    """StatefulSet labels: cluster labels, role, headless, app.kubernetes.io/*."""
    labels = {**rc.recommended, **rc.labels, LABEL_ROLE: role.id, LABEL_HEADLESS: rc.cluster_label}
    if rc.recommended:
        labels["app.kubernetes.io/component"] = role.id
    return labels


def pod_labels(rc, role, config) -> dict:
    """Pod template labels: role labels, then the role's podLabels, then the global podLabels."""
    return {**role_labels(rc, role), **(role.spec.get("podLabels") or {}), **(config.get("podLabels") or {})}


def selector_labels(rc, role, config) -> dict:
    """Only labels that never change for the life of a StatefulSet (selectors are immutable).

    A StatefulSet KubeDirector created keeps KubeDirector's selector (all its pod labels), or
    the API server would refuse the update when the cluster is adopted.
    """
    from ..resolve import LABEL_CLUSTER

    if role.adopted_statefulset:
        return {**rc.labels, LABEL_ROLE: role.id, LABEL_HEADLESS: rc.cluster_label,
                **(role.spec.get("podLabels") or {}), **(config.get("podLabels") or {})}
    return {LABEL_CLUSTER: rc.cluster_label, LABEL_ROLE: role.id}
