"""Services: one headless Service per cluster, one Service per member of a role with ports."""

from __future__ import annotations

from ..resolve import LABEL_HEADLESS, LABEL_ROLE
from .common import metadata, with_wave

POD_NAME_LABEL = "statefulset.kubernetes.io/pod-name"
WAVE_HEADLESS = -1
WAVE_MEMBER = 1


def _versioned(config, service_type: str) -> dict:
    """API-server defaults that only exist from some Kubernetes version on."""
    fields = {}
    if config.supports("internalTrafficPolicy"):
        fields["internalTrafficPolicy"] = "Cluster"
    if service_type == "LoadBalancer" and config.supports("allocateLoadBalancerNodePorts"):
        fields["allocateLoadBalancerNodePorts"] = True
    return fields


def headless_service(rc, config) -> dict:
    """The cluster's headless Service (``serviceName`` of every StatefulSet); its one port is unused."""
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": metadata(rc.headless, rc.cluster.namespace, {**rc.recommended, **rc.labels},
                             with_wave(rc.annotations, config, WAVE_HEADLESS)),
        "spec": {
            "type": "ClusterIP",
            "clusterIP": "None",
            "selector": {LABEL_HEADLESS: rc.cluster_label},
            "publishNotReadyAddresses": True,
            "ports": [{"name": "port", "port": 8888, "protocol": "TCP", "targetPort": 8888}],
            "sessionAffinity": "None",
            **_versioned(config, "ClusterIP"),
        },
    }


SSH_PORT = 22
SSH_SERVICE_ID = "ssh"


def is_ssh(port) -> bool:
    return port.number == SSH_PORT or port.service["id"] == SSH_SERVICE_ID


def exposed_ports(role, service_type: str, config) -> tuple[str, list]:
    """(type, ports) of the role's member Services.

    KubeDirector puts every role port on the member Service, of the cluster's serviceType.  Unless
    ``kdrender.exposeSSH`` is true, SSH stays inside the cluster: a LoadBalancer or NodePort member
    Service leaves SSH ports out, and a role whose only ports are SSH gets ClusterIP member Services.
    (Pods keep listening; inside the cluster SSH is reached through the member Service or the pod's
    name under the headless Service.)
    """
    if service_type == "ClusterIP" or config.expose_ssh:
        return service_type, role.ports
    public = [p for p in role.ports if not is_ssh(p)]
    return (service_type, public) if public else ("ClusterIP", role.ports)


def member_services(rc, role, config) -> list:
    """One Service per member pod when the role exposes at least one port."""
    if not role.ports:
        return []
    service_type, exposed = exposed_ports(role, rc.cluster.spec["serviceType"], config)
    labels = {**rc.recommended, **rc.labels, LABEL_ROLE: role.id,
              **(role.spec.get("serviceLabels") or {}), **(config.get("serviceLabels") or {})}
    if rc.recommended:
        labels["app.kubernetes.io/component"] = role.id
    annotations = {**rc.annotations, **(role.spec.get("serviceAnnotations") or {}),
                   **(config.get("serviceAnnotations") or {})}
    annotations = with_wave(annotations, config, WAVE_MEMBER)
    ports = [{"name": p.service_port_name, "port": p.number, "protocol": "TCP", "targetPort": p.number}
             for p in exposed]
    services = []
    for pod in role.pods:
        spec = {
            "type": service_type,
            "selector": {POD_NAME_LABEL: pod},
            "publishNotReadyAddresses": True,
            "ports": ports,
            "sessionAffinity": "None",
            **_versioned(config, service_type),
        }
        if service_type != "ClusterIP":
            spec["externalTrafficPolicy"] = "Cluster"
        services.append({
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": metadata(rc_member_name(rc, pod), rc.cluster.namespace, labels, annotations),
            "spec": spec,
        })
    return services


def rc_member_name(rc, pod: str) -> str:
    from ..names import member_service_name

    return member_service_name(rc.cluster.spec["namingScheme"], pod)
