"""The complete rendered example of spec section 2.8, reproduced up to the names.

App: the conformance spark245 app.  Cluster: spark-instance in namespace analytics, roles
spark-master (1, storage 40Gi class standard), livy-server (1) and spark-worker (2, 8Gi / 4 CPU).
The rendered objects are compared with the spec's YAML after mapping the illustrative names to
the rendered ones and removing kdrender's documented additions (each only when it has exactly
the documented value, so a wrong value still fails).
"""

from __future__ import annotations

import copy
import re

import pytest
import yaml

from render_helpers import (
    CLUSTER, ILLUSTRATIVE, SPEC, L_CLUSTER, L_ROLE, SUFFIX_CHARS, SYNC_WAVE, of_kind, render_one, spec_block, startup_script, write_repo,
)

# spec section 2.8, verbatim (test_embedded_example_matches_spec checks it against the spec when present)
EXAMPLE_YAML = r"""
apiVersion: v1
kind: Service
metadata:
  name: kdhs-7xq2m
  namespace: analytics
  labels: {kubedirector.hpe.com/kdcluster: spark-instance, kubedirector.hpe.com/kdapp: spark245, kubedirector.hpe.com/appCatalog: local}
  annotations: {kubedirector.hpe.com/kdapp-prettyName: "Spark 2.4.5 + Jupyterhub"}
spec:
  clusterIP: None
  selector: {kubedirector.hpe.com/headless: spark-instance}
  publishNotReadyAddresses: true
  ports: [{name: port, port: 8888}]
---
apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: kdss-b4n8r
  namespace: analytics
  labels: &l
    kubedirector.hpe.com/kdcluster: spark-instance
    kubedirector.hpe.com/kdapp: spark245
    kubedirector.hpe.com/appCatalog: local
    kubedirector.hpe.com/role: spark-master
    kubedirector.hpe.com/headless: spark-instance
  annotations: {kubedirector.hpe.com/kdapp-prettyName: "Spark 2.4.5 + Jupyterhub"}
spec:
  podManagementPolicy: Parallel
  replicas: 1
  serviceName: kdhs-7xq2m
  selector: {matchLabels: *l}
  template:
    metadata:
      labels: *l
      annotations: {kubedirector.hpe.com/kdapp-prettyName: "Spark 2.4.5 + Jupyterhub"}
    spec:
      automountServiceAccountToken: false
      initContainers:
      - name: init
        image: bluedata/spark245:5.2.0.35
        command: ["/bin/bash"]
        args: ["-c", 'rsync --log-file=./rsync-check-status-dummy.log --info=progress2 --relative -ax --no-inc-recursive --version; RSYNC_CHECK_STATUS=$?; ! [ -f /mnt/etc/kubedirector.init ] && ( [ ${RSYNC_CHECK_STATUS} != 0 ] && (cp --parent -ax /etc /opt /usr /home /mnt) || (mkdir -p /mnt/etc; rsync --log-file=/mnt/etc/kubedirector-init.log --info=progress2 --relative -ax --no-inc-recursive /etc /opt /usr /home /mnt > /mnt/etc/kubedirector-init-progress-bar.log;)); touch /mnt/etc/kubedirector.init;']
        resources: &r {limits: {cpu: "2", memory: 4Gi}, requests: {cpu: "2", memory: 4Gi}}
        securityContext: {runAsUser: 0}
        volumeMounts: [{name: p, mountPath: /mnt}]
      containers:
      - name: app
        image: bluedata/spark245:5.2.0.35
        resources: *r
        lifecycle:
          postStart:
            exec:
              command: ["/bin/bash", "-c", 'exec 2>>/tmp/kd-postcluster.log; set -x;Retries=60; while [[ $Retries && ! -s /etc/resolv.conf ]]; do sleep 1; Retries=$(expr $Retries - 1); done; sed "s/^search \([^ ]\+\)/search kdhs-7xq2m.\1 \1/" /etc/resolv.conf > /tmp/resolv.conf.new && cat /tmp/resolv.conf.new > /etc/resolv.conf;rm -f /tmp/resolv.conf.new;chmod 755 /run;exit 0']
        ports: [{containerPort: 8080, name: spark-web}, {containerPort: 7077, name: spark-master}]
        env: [{name: NVIDIA_VISIBLE_DEVICES, value: void}]
        volumeMounts:
        - {name: p, mountPath: /etc, subPath: etc}
        - {name: p, mountPath: /opt, subPath: opt}
        - {name: p, mountPath: /usr, subPath: usr}
        - {name: p, mountPath: /home, subPath: home}
        - {name: tmpfs-tmp, mountPath: /tmp}
        - {name: tmpfs-run, mountPath: /run}
        - {name: tmpfs-run-lock, mountPath: /run/lock}
        - {name: cgroupfs, mountPath: /sys/fs/cgroup, readOnly: true}
        - {name: systemd, mountPath: /sys/fs/cgroup/systemd}
      volumes:
      - {name: tmpfs-tmp, emptyDir: {medium: Memory, sizeLimit: 20Gi}}
      - {name: tmpfs-run, emptyDir: {medium: Memory, sizeLimit: 20Gi}}
      - {name: tmpfs-run-lock, emptyDir: {medium: Memory, sizeLimit: 20Gi}}
      - {name: cgroupfs, hostPath: {path: /sys/fs/cgroup}}
      - {name: systemd, hostPath: {path: /sys/fs/cgroup/systemd}}
  volumeClaimTemplates:
  - metadata: {name: p}
    spec: {accessModes: [ReadWriteOnce], resources: {requests: {storage: 40Gi}}, storageClassName: standard}
---
apiVersion: v1
kind: Service
metadata:
  name: s-kdss-b4n8r-0
  namespace: analytics
  labels: {kubedirector.hpe.com/kdcluster: spark-instance, kubedirector.hpe.com/kdapp: spark245, kubedirector.hpe.com/appCatalog: local, kubedirector.hpe.com/role: spark-master}
  annotations: {kubedirector.hpe.com/kdapp-prettyName: "Spark 2.4.5 + Jupyterhub"}
spec:
  type: LoadBalancer
  selector: {statefulset.kubernetes.io/pod-name: kdss-b4n8r-0}
  publishNotReadyAddresses: true
  ports: [{name: http-spark-web, port: 8080}, {name: spark-spark-master, port: 7077}]
"""




def example_objects() -> list:
    """The spec's three objects plus the ones its closing comment describes:
    kdss-tz9wd (livy-server; no storage -> no initContainer/p mounts; port livy-server 8998),
    kdss-h2c6v (spark-worker, replicas 2, port spark-worker 8081), services s-kdss-tz9wd-0,
    s-kdss-h2c6v-0, s-kdss-h2c6v-1."""
    hs, master, master_svc = yaml.safe_load_all(EXAMPLE_YAML)
    objects = [hs, master, master_svc]

    def role_sts(role, ss, replicas, port, resources):
        sts = copy.deepcopy(master)
        sts["metadata"]["name"] = ss
        labels = {**master["metadata"]["labels"], L_ROLE: role}
        sts["metadata"]["labels"] = labels
        spec = sts["spec"]
        spec["replicas"] = replicas
        spec["selector"]["matchLabels"] = dict(labels)
        spec["template"]["metadata"]["labels"] = dict(labels)
        del spec["volumeClaimTemplates"]
        pod = spec["template"]["spec"]
        del pod["initContainers"]
        app = pod["containers"][0]
        app["ports"] = [{"containerPort": port, "name": role}]
        app["resources"] = resources
        app["volumeMounts"] = [m for m in app["volumeMounts"] if m["name"] != "p"]
        return sts

    def member_svc(role, pod, port, scheme="http"):
        svc = copy.deepcopy(master_svc)
        svc["metadata"]["name"] = f"s-{pod}"
        svc["metadata"]["labels"][L_ROLE] = role
        svc["spec"]["selector"] = {"statefulset.kubernetes.io/pod-name": pod}
        svc["spec"]["ports"] = [{"name": f"{scheme}-{role}", "port": port}]
        return svc

    small = {"limits": {"cpu": "2", "memory": "4Gi"}, "requests": {"cpu": "2", "memory": "4Gi"}}
    big = {"limits": {"cpu": "4", "memory": "8Gi"}, "requests": {"cpu": "4", "memory": "8Gi"}}
    objects.append(role_sts("livy-server", "kdss-tz9wd", 1, 8998, small))
    objects.append(role_sts("spark-worker", "kdss-h2c6v", 2, 8081, big))
    objects.append(member_svc("livy-server", "kdss-tz9wd-0", 8998))
    objects += [member_svc("spark-worker", f"kdss-h2c6v-{i}", 8081) for i in range(2)]
    return objects


def rename(value, mapping: dict):
    """Replace the illustrative names everywhere (object names, selectors, scripts)."""
    if isinstance(value, dict):
        return {k: rename(v, mapping) for k, v in value.items()}
    if isinstance(value, list):
        return [rename(v, mapping) for v in value]
    if isinstance(value, str):
        for old, new in mapping.items():
            value = value.replace(old, new)
    return value


def drop(mapping: dict, key: str, value) -> None:
    """Remove a kdrender addition, but only when it has exactly the documented value."""
    if key in mapping:
        assert mapping[key] == value, f"{key}: {mapping[key]!r} != {value!r}"
        del mapping[key]


def strip_additions(obj: dict, hs: str) -> dict:
    """kdrender's documented additions removed (each checked for its value)."""
    obj = copy.deepcopy(obj)
    meta = obj["metadata"]
    meta["labels"] = {k: v for k, v in meta["labels"].items() if not k.startswith("app.kubernetes.io/")}
    wave = meta.get("annotations", {}).pop(SYNC_WAVE, None)
    assert wave in (None, "-1", "0", "1")
    spec = obj["spec"]
    if obj["kind"] == "Service":
        drop(spec, "sessionAffinity", "None")
        drop(spec, "internalTrafficPolicy", "Cluster")
        if spec.get("clusterIP") == "None":
            drop(spec, "type", "ClusterIP")
        else:
            drop(spec, "externalTrafficPolicy", "Cluster")
            if spec.get("type") == "LoadBalancer":
                drop(spec, "allocateLoadBalancerNodePorts", True)
        for port in spec["ports"]:
            drop(port, "protocol", "TCP")
            drop(port, "targetPort", port["port"])
        return obj
    drop(spec, "revisionHistoryLimit", 10)
    drop(spec, "updateStrategy", {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}})
    policy = spec.pop("persistentVolumeClaimRetentionPolicy", None)
    assert policy in (None, {"whenDeleted": "Retain", "whenScaled": "Retain"})
    template = spec["template"]
    template["metadata"]["labels"] = {k: v for k, v in template["metadata"]["labels"].items()
                                      if not k.startswith("app.kubernetes.io/")}
    pod = template["spec"]
    drop(pod, "restartPolicy", "Always")
    drop(pod, "dnsPolicy", "ClusterFirst")
    drop(pod, "schedulerName", "default-scheduler")
    drop(pod, "securityContext", {"seccompProfile": {"type": "RuntimeDefault"}})
    for init in pod.get("initContainers", []):  # KubeDirector's runAsUser: 0, plus the safer defaults
        init["securityContext"] = {k: v for k, v in init["securityContext"].items()
                                   if (k, v) not in (("allowPrivilegeEscalation", False), ("privileged", False),
                                                     ("capabilities", {"drop": ["NET_RAW"]}))}
    drop(pod, "terminationGracePeriodSeconds", 30)
    pod["volumes"] = [v for v in pod["volumes"] if not v["name"].startswith("kd-")]
    for volume in pod["volumes"]:
        if "hostPath" in volume:
            drop(volume["hostPath"], "type", "")
    for container in pod.get("initContainers", []) + pod["containers"]:
        drop(container, "imagePullPolicy", "IfNotPresent")
        drop(container, "terminationMessagePath", "/dev/termination-log")
        drop(container, "terminationMessagePolicy", "File")
        for port in container.get("ports", []):
            drop(port, "protocol", "TCP")
    app = pod["containers"][0]
    drop(app, "tty", False)
    drop(app, "stdin", False)
    drop(app, "securityContext", {"capabilities": {"drop": ["NET_RAW"]}, "privileged": False})  # app without capabilities
    app.pop("readinessProbe", None)  # the agent's (documented addition)
    app["volumeMounts"] = [m for m in app["volumeMounts"] if not m["name"].startswith("kd-")]
    for mount in app["volumeMounts"]:
        if mount["name"] == "p":
            drop(mount, "readOnly", False)
    command = app["lifecycle"]["postStart"]["exec"]["command"]
    kd = startup_script(hs)
    if command[2] != kd:  # the agent starts just before KubeDirector's final "exit 0"
        assert command[2].startswith(kd[: -len("exit 0")]) and command[2].endswith("exit 0")
        command[2] = kd
    for claim in spec.get("volumeClaimTemplates", []):
        drop(claim, "apiVersion", "v1")
        drop(claim, "kind", "PersistentVolumeClaim")
        drop(claim["spec"], "volumeMode", "Filesystem")
        drop(claim, "status", {"phase": "Pending"})  # what the API server returns (no permanent OutOfSync)
    return obj



def render_example(root, app_text: str, scheme: str) -> list:
    write_repo(root, {"catalog/cr-app-spark245.json": app_text, "clusters/spark-instance.yaml": CLUSTER.format(scheme=scheme)})
    ns, name, objects = render_one(root)
    assert (ns, name) == ("analytics", "spark-instance")
    return objects


def name_mapping(objects: list) -> dict:
    """Illustrative name -> rendered name, from the rendered headless Service and StatefulSets."""
    (hs,) = [o for o in objects if o["kind"] == "Service" and o["spec"].get("clusterIP") == "None" and o["spec"].get("publishNotReadyAddresses")]
    mapping = {ILLUSTRATIVE["hs"]: hs["metadata"]["name"]}
    for sts in of_kind(objects, "StatefulSet"):
        mapping[ILLUSTRATIVE[sts["metadata"]["labels"][L_ROLE]]] = sts["metadata"]["name"]
    return mapping


@pytest.mark.parametrize("scheme", ["UID", "CrNameRole"])
def test_section_2_8_reproduced(tmp_path, spark245_app, scheme):
    objects = render_example(tmp_path, spark245_app, scheme)
    mapping = name_mapping(objects)
    hs = mapping[ILLUSTRATIVE["hs"]]
    if scheme == "UID":
        assert re.fullmatch(f"kdhs-[{SUFFIX_CHARS}]{{5}}", hs)
        assert all(re.fullmatch(f"kdss-[{SUFFIX_CHARS}]{{5}}", mapping[ILLUSTRATIVE[r]])
                   for r in ("spark-master", "livy-server", "spark-worker"))
        member = {}
    else:  # kdrender's CrNameRole: no random suffix; member Service = pod name
        assert hs == "spark-instance"
        assert [mapping[ILLUSTRATIVE[r]] for r in ("spark-master", "livy-server", "spark-worker")] == [
            "spark-instance-spark-master", "spark-instance-livy-server", "spark-instance-spark-worker"]
        member = {f"s-{mapping[ILLUSTRATIVE[r]]}-": f"{mapping[ILLUSTRATIVE[r]]}-"
                  for r in ("spark-master", "livy-server", "spark-worker")}
    expected = {}
    for obj in example_objects():
        obj = rename(obj, mapping)
        obj = rename(obj, member)
        expected[(obj["kind"], obj["metadata"]["name"])] = obj

    # configmeta/agent ConfigMaps, PodDisruptionBudgets and the agent's readiness Service: documented additions
    kd_objects = [o for o in objects if o["kind"] not in ("ConfigMap", "PodDisruptionBudget")
                  and o["metadata"]["name"] != f"{hs}-ready"]
    assert sorted((o["kind"], o["metadata"]["name"]) for o in kd_objects) == sorted(expected)
    for obj in kd_objects:
        key = (obj["kind"], obj["metadata"]["name"])
        want = copy.deepcopy(expected[key])
        got = strip_additions(obj, hs)
        if obj["kind"] == "StatefulSet":
            # kdrender's selector: only kdcluster and role, a subset of KubeDirector's (all pod labels)
            selector = got["spec"].pop("selector")["matchLabels"]
            kd_selector = want["spec"].pop("selector")["matchLabels"]
            assert selector == {k: kd_selector[k] for k in (L_CLUSTER, L_ROLE)}
        assert got == want, key


def test_configmaps_are_the_only_extra_objects(tmp_path, spark245_app):
    """spark245 has a setup package: the configmeta and agent ConfigMaps, named after the headless Service."""
    objects = render_example(tmp_path, spark245_app, "UID")
    hs = name_mapping(objects)[ILLUSTRATIVE["hs"]]
    assert [o["metadata"]["name"] for o in of_kind(objects, "ConfigMap")] == [f"{hs}-configmeta", f"{hs}-kd-agent"]
    assert {o["kind"] for o in objects} == {"ConfigMap", "Service", "StatefulSet", "PodDisruptionBudget"}


def test_embedded_example_matches_spec():
    """The YAML embedded above is the spec's section 2.8 block (the comment lines aside)."""
    if not SPEC.is_file():
        pytest.skip(f"spec not found at {SPEC}")
    spec_docs = list(yaml.safe_load_all(spec_block("### 2.8", "yaml")))
    assert spec_docs == list(yaml.safe_load_all(EXAMPLE_YAML))


def test_without_agent_only_kubedirector_objects(tmp_path, spark245_app):
    """With the agent turned off there is nothing of kdrender's configmeta machinery: no ConfigMaps, no
    kd-* volumes or mounts, no agent readinessProbe, and postStart is KubeDirector's script byte for byte."""
    write_repo(tmp_path, {"catalog/cr-app-spark245.json": spark245_app,
                          "clusters/spark-instance.yaml": CLUSTER.format(scheme="UID"),
                          "kdrender.yaml": "kdrender:\n  agent:\n    enabled: false\n"})
    _, _, objects = render_one(tmp_path)
    assert not of_kind(objects, "ConfigMap")
    hs = name_mapping(objects)[ILLUSTRATIVE["hs"]]
    for sts in of_kind(objects, "StatefulSet"):
        pod = sts["spec"]["template"]["spec"]
        app = pod["containers"][0]
        assert app["lifecycle"]["postStart"]["exec"]["command"] == ["/bin/bash", "-c", startup_script(hs)]
        assert "exec" not in app.get("readinessProbe", {})  # only kdrender's tcpSocket probe, if any
        assert not [v for v in pod["volumes"] if v["name"].startswith("kd-")]
        assert not [m for m in app["volumeMounts"] if m["name"].startswith("kd-")]
