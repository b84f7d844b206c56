"""StatefulSets: one per role with members, with the pod template KubeDirector builds (spec section 2.4)."""

from __future__ import annotations

from ..quantity import canonical, parse_quantity
from .common import metadata, pod_labels, role_labels, selector_labels, with_wave
from .configmeta import agent_volumes, uses_agent
from .production import pod_fields

WAVE = 0
TMPFS_SIZE = "20Gi"
AGENT_LAUNCH = "nohup /bin/sh /etc/kd/agent/kd-agent.sh >/tmp/kd-agent.log 2>&1 </dev/null &"

STARTUP_SCRIPT = (
    "exec 2>>/tmp/kd-postcluster.log; set -x;Retries=60; while [[ $Retries && ! -s /etc/resolv.conf ]]; "
    "do sleep 1; Retries=$(expr $Retries - 1); done; "
    'sed "s/^search \\([^ ]\\+\\)/search {hs}.\\1 \\1/" /etc/resolv.conf > /tmp/resolv.conf.new && '
    "cat /tmp/resolv.conf.new > /etc/resolv.conf;rm -f /tmp/resolv.conf.new;chmod 755 /run;exit 0"
)

INIT_SCRIPT = (
    "rsync --log-file=./rsync-check-status-dummy.log --info=progress2 --relative -ax --no-inc-recursive --version; "
    "RSYNC_CHECK_STATUS=$?; ! [ -f /mnt/etc/kubedirector.init ] && ( [ ${{RSYNC_CHECK_STATUS}} != 0 ] && "
    "(cp --parent -ax {dirs} /mnt) || (mkdir -p /mnt/etc; rsync --log-file=/mnt/etc/kubedirector-init.log "
    "--info=progress2 --relative -ax --no-inc-recursive {dirs} /mnt > /mnt/etc/kubedirector-init-progress-bar.log;)); "
    "touch /mnt/etc/kubedirector.init;"
)


def startup_script(hs: str, agent: bool) -> str:
    """KubeDirector's postStart script; with the agent, it is started in the background just before ``exit 0``.

    ``&`` already ends the launch command: ``& exit 0``, never ``&;exit 0`` (a bash syntax error
    that would make the whole hook fail).
    """
    script = STARTUP_SCRIPT.format(hs=hs)
    if agent:
        script = script[: -len("exit 0")] + AGENT_LAUNCH + " exit 0"
    return script


def init_script(dirs: list) -> str:
    return INIT_SCRIPT.format(dirs=" ".join(dirs))


def resources(role) -> dict:
    """The role's limits and requests, each quantity as the API server stores it (canonical form)."""
    res = role.spec["resources"]
    out = {}
    for kind in ("limits", "requests"):
        if res.get(kind):
            out[kind] = {k: canonical(v, resource_list=True) for k, v in res[kind].items()}
    return out


def env(role) -> list:
    """The role's env, then PYTHONUSERBASE (new setup layout), then NVIDIA_VISIBLE_DEVICES=void unless a GPU is requested."""
    out = [{"name": e["name"], "value": e["value"]} for e in role.spec.get("env") or []]
    if role.package and role.package.get("useNewSetupLayout"):
        out.append({"name": "PYTHONUSERBASE", "value": "/usr/local"})
    requests = (role.spec["resources"].get("requests") or {})
    gpu = any(k.startswith("nvidia.com/") and (parse_quantity(v) or 0) != 0 for k, v in requests.items())
    if not gpu:
        out.append({"name": "NVIDIA_VISIBLE_DEVICES", "value": "void"})
    return out


# Bundle security defaults (issue 9), on top of what KubeDirector sets: the runtime's default seccomp
# profile for the pod, and NET_RAW (raw sockets: ARP/ICMP spoofing inside the pod network) dropped
# from every container unless the app declares it.  Root images keep working: no runAsNonRoot, no
# read-only root filesystem, and the app container keeps privilege escalation (setuid sudo/su).
DROPPED_CAPABILITIES = ("NET_RAW",)


def _capability(name: str) -> str:
    """``cap_net_raw`` / ``CAP_NET_RAW`` / ``NET_RAW`` -> ``NET_RAW`` (container runtimes accept each)."""
    name = name.upper()
    return name[4:] if name.startswith("CAP_") else name


def capabilities(declared: list) -> dict:
    """KubeDirector's ``add`` (the app's capabilities, as declared), plus ``drop`` of the defaults
    the app does not declare."""
    kept = {_capability(c) for c in declared}
    out = {"add": list(declared)} if declared else {}
    drop = [c for c in DROPPED_CAPABILITIES if c not in kept]
    if drop:
        out["drop"] = drop
    return out


def pod_security_context() -> dict:
    return {"seccompProfile": {"type": "RuntimeDefault"}}


def app_security_context(declared: list) -> dict:
    return {"capabilities": capabilities(declared), "privileged": False}


def init_security_context() -> dict:
    """KubeDirector's ``runAsUser: 0`` (the init container copies root-owned trees); it runs only
    cp/rsync, so it never needs setuid programs or the app's capabilities."""
    return {"runAsUser": 0, "allowPrivilegeEscalation": False, "privileged": False,
            "capabilities": capabilities([])}


def image_pull_policy(image: str) -> str:
    """The API server's default: Always for ``:latest`` or untagged images, else IfNotPresent."""
    if "@" in image:
        return "IfNotPresent"
    last = image.rsplit("/", 1)[-1]
    tag = last.split(":", 1)[1] if ":" in last else ""
    return "Always" if tag in ("", "latest") else "IfNotPresent"


def volumes_and_mounts(rc, role, config, agent: bool) -> tuple[list, list, list]:
    """Volumes, app container mounts and devices, in KubeDirector's order (spec section 2.4)."""
    volumes, mounts, devices = [], [], []
    for d in role.persist_dirs:
        mounts.append({"name": "p", "mountPath": d, "subPath": d[1:], "readOnly": False})
    for name, path in (("tmpfs-tmp", "/tmp"), ("tmpfs-run", "/run"), ("tmpfs-run-lock", "/run/lock")):
        volumes.append({"name": name, "emptyDir": {"medium": "Memory", "sizeLimit": TMPFS_SIZE}})
        mounts.append({"name": name, "mountPath": path})
    secret = role.spec.get("secret")
    if secret:
        name = f"secret-vol-{secret['name']}"
        volumes.append({"name": name, "secret": {"secretName": secret["name"],
                                                 "defaultMode": secret.get("defaultMode", 420)}})
        mounts.append({"name": name, "mountPath": secret["mountPath"], "readOnly": bool(secret.get("readOnly", False))})
    for i, projection in enumerate(role.spec.get("volumeProjections") or []):
        name = f"projected-vol-{i}"
        read_only = bool(projection.get("readOnly", False))
        volumes.append({"name": name, "persistentVolumeClaim": {"claimName": projection["pvcName"], "readOnly": read_only}})
        mounts.append({"name": name, "mountPath": projection["mountPath"], "readOnly": read_only})
    if role.spec.get("sharedMemory"):
        volumes.append({"name": "shmem", "emptyDir": {"medium": "Memory",
                                                      "sizeLimit": canonical(role.spec["sharedMemory"])}})
        mounts.append({"name": "shmem", "mountPath": "/dev/shm"})
    if rc.app.spec.get("systemdRequired") and not config.get("nativeSystemdSupport"):
        volumes.append({"name": "cgroupfs", "hostPath": {"path": "/sys/fs/cgroup", "type": ""}})
        mounts.append({"name": "cgroupfs", "mountPath": "/sys/fs/cgroup", "readOnly": True})
        volumes.append({"name": "systemd", "hostPath": {"path": "/sys/fs/cgroup/systemd", "type": ""}})
        mounts.append({"name": "systemd", "mountPath": "/sys/fs/cgroup/systemd"})
    block = role.spec.get("blockStorage")
    if block:
        for k in range(block["numDevices"]):
            devices.append({"name": f"b{k}", "devicePath": f"{block['pathPrefix']}{k}"})
    if agent:
        extra_volumes, extra_mounts = agent_volumes(rc, role)
        volumes += extra_volumes
        mounts += extra_mounts
    return volumes, mounts, devices


# The API server defaults every claim template's status (measured on kube-apiserver 1.36); written
# out, Argo CD (which compares the templates as one list) does not show the StatefulSet OutOfSync.
CLAIM_STATUS = {"phase": "Pending"}


def claim_templates(role) -> list:
    templates = []
    storage = role.spec.get("storage")
    if storage:
        size = canonical(storage["size"], resource_list=True)
        spec = {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": size}}, "volumeMode": "Filesystem"}
        if storage.get("storageClassName"):
            spec["storageClassName"] = storage["storageClassName"]
        templates.append({"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "p"}, "spec": spec,
                          "status": dict(CLAIM_STATUS)})
    block = role.spec.get("blockStorage")
    if block:
        size = canonical(block.get("size") or "1Gi", resource_list=True)
        for k in range(block["numDevices"]):
            templates.append({"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": f"b{k}"},
                              "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": size}},
                                       "storageClassName": block["storageClassName"], "volumeMode": "Block"},
                              "status": dict(CLAIM_STATUS)})
    return templates


def statefulset(rc, role, config) -> dict:
    app_role = role.app_role
    image = app_role["imageRepoTag"]
    agent = uses_agent(rc, role, config)
    volumes, mounts, devices = volumes_and_mounts(rc, role, config, agent)
    container = {
        "name": "app",
        "image": image,
        "imagePullPolicy": image_pull_policy(image),
        "resources": resources(role),
        "env": env(role),
        "lifecycle": {"postStart": {"exec": {"command": ["/bin/bash", "-c", startup_script(rc.headless, agent)]}}},
        "volumeMounts": mounts,
        "tty": bool((app_role.get("containerSpec") or {}).get("tty", False)),
        "stdin": bool((app_role.get("containerSpec") or {}).get("stdin", False)),
        "terminationMessagePath": "/dev/termination-log",
        "terminationMessagePolicy": "File",
    }
    if role.ports:
        container["ports"] = [{"containerPort": p.number, "name": p.name, "protocol": "TCP"} for p in role.ports]
    container["securityContext"] = app_security_context(rc.app.spec.get("capabilities") or [])
    if devices:
        container["volumeDevices"] = devices
    if agent:
        container["readinessProbe"] = {
            "exec": {"command": ["test", "-f", "/run/kd/ready"]},
            "periodSeconds": 10, "failureThreshold": 3, "successThreshold": 1,
            "timeoutSeconds": 1, "initialDelaySeconds": 0,
        }
    sa = role.spec.get("serviceAccountName")
    pod_spec = {
        "automountServiceAccountToken": bool(sa),
        "containers": [container],
        "volumes": volumes,
        "restartPolicy": "Always",
        "dnsPolicy": "ClusterFirst",
        "schedulerName": "default-scheduler",
        "securityContext": pod_security_context(),
        "terminationGracePeriodSeconds": 30,
    }
    if sa:
        pod_spec["serviceAccountName"] = sa
    if role.spec.get("affinity"):
        pod_spec["affinity"] = role.spec["affinity"]
    if role.spec.get("storage"):
        pod_spec["initContainers"] = [{
            "name": "init",
            "image": image,
            "imagePullPolicy": image_pull_policy(image),
            "command": ["/bin/bash"],
            "args": ["-c", init_script(role.persist_dirs)],
            "resources": resources(role),
            "securityContext": init_security_context(),
            "volumeMounts": [{"name": "p", "mountPath": "/mnt"}],
            "terminationMessagePath": "/dev/termination-log",
            "terminationMessagePolicy": "File",
        }]
    pod_fields(rc, role, config, container, pod_spec)
    pod_annotations = {**rc.annotations, **(role.spec.get("podAnnotations") or {}), **(config.get("podAnnotations") or {})}
    spec = {
        "podManagementPolicy": "Parallel",
        "replicas": role.members,
        "serviceName": rc.headless,
        "selector": {"matchLabels": selector_labels(rc, role, config)},
        "template": {"metadata": {"labels": pod_labels(rc, role, config), "annotations": pod_annotations},
                     "spec": pod_spec},
        "revisionHistoryLimit": 10,
        "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}},
    }
    if config.pvc_retention and config.supports("persistentVolumeClaimRetentionPolicy"):
        spec["persistentVolumeClaimRetentionPolicy"] = dict(config.pvc_retention)
    templates = claim_templates(role)
    if templates:
        spec["volumeClaimTemplates"] = templates
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": metadata(role.statefulset, rc.cluster.namespace, role_labels(rc, role),
                             with_wave(rc.annotations, config, 0)),
        "spec": spec,
    }
