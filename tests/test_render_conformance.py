"""Every conformance cluster, rendered and checked field by field against spec section 2.

One repo per cluster in tmp_path (catalog/ = the apps of the same API version, clusters/ = that
one file), both v1beta1 and v1alpha1.  Expectations come from the spec and from the example
files as written (images, ports, env, persist dirs), not from kdrender's own code.  kdrender's
documented additions (app.kubernetes.io labels, sync waves, API defaults, configmeta/agent
ConfigMaps, volumes, mounts and readinessProbe) are allowed but never where KubeDirector puts
something else.
"""

from __future__ import annotations

import copy
import json
import re
import shutil
import subprocess

import pytest
import yaml

from render_helpers import (
    A_PRETTY, CONFORMANCE, L_APP, L_CATALOG, L_CLUSTER, L_HEADLESS, L_ROLE, POD_NAME, SUFFIX_CHARS, SYNC_WAVE,
    app_container, by_name, conformance_params, conformance_repo, init_script, is_dns1035_label, is_iana_svc_name,
    mung, of_kind, render_one, startup_script, write_repo, APP_WITH_SYSTEMD, CLUSTER_WITH_EXTRAS,
)

SPARK_DIRS = ["/etc", "/opt", "/usr", "/home"]
CASSANDRA_DIRS = ["/etc", "/opt/guestconfig", "/var/log/guestconfig", "/usr/local/bin", "/usr/local/lib",
                  "/var/lib/cassandra", "/var/log/cassandra", "/data"]
VOID = {"name": "NVIDIA_VISIBLE_DEVICES", "value": "void"}
USERBASE = {"name": "PYTHONUSERBASE", "value": "/usr/local"}
SSH = ("ssh", 22, "generic-ssh")
CAPS = ["SYS_RESOURCE", "IPC_LOCK"]
ANY_IANA = object()  # a 2018 service id that is too long for a port name: any IANA name derived from it


def role(rid, members, image, ports, env, dirs=None, size=None):
    return {"id": rid, "members": members, "image": image, "ports": ports, "env": env, "dirs": dirs, "size": size}


def spark245(stor: bool) -> dict:
    image = "bluedata/spark245:5.2.0.35"
    dirs, size = (SPARK_DIRS, "40Gi") if stor else (None, None)
    return dict(
        name="spark245-instance", app="spark245", pretty="Spark 2.4.5 + Jupyterhub", caps=[], systemd=True,
        package=True, tty=False, roles=[
            role("spark-master", 1, image, [("spark-web", 8080, "http-spark-web"),
                                            ("spark-master", 7077, "spark-spark-master")], [VOID], dirs, size),
            role("livy-server", 1, image, [("livy-server", 8998, "http-livy-server")], [VOID], dirs, size),
            role("spark-worker", 1, image, [("spark-worker", 8081, "http-spark-worker")], [VOID], dirs, size),
            role("notebook-server", 1, image, [("jupyter-nb", 8888, "http-jupyter-nb")], [VOID], dirs, size),
        ])


def cassandra(name: str, image: str, env: list, stor: bool) -> dict:
    ports = [SSH, ("cassandra", 9042, "cql-cassandra")]
    dirs, size = (CASSANDRA_DIRS, "40Gi") if stor else (None, None)
    return dict(name=name, app="cassandra311", pretty="Cassandra 3.11", caps=CAPS, systemd=True, package=True,
                tty=False, roles=[role("seed", 2, image, ports, env, dirs, size),
                                  role("worker", 2, image, ports, env, dirs, size)])


def centos(name: str, stor: bool) -> dict:
    dirs, size = (["/etc", "/home"], "40Gi") if stor else (None, None)
    return dict(name=name, app="centos7x", pretty="CentOS 7.5", caps=[], systemd=True, package=False, tty=False,
                roles=[role("vanilla_centos", 1, "docker.io/bluedata/centos7:4.1", [SSH], [VOID], dirs, size)])


SPARK221_IMAGE = "docker.io/bluedata/sparkbase:2.0"

# What KubeDirector would create for each example, from the spec and the example files as written.
EXPECTED = {
    ("v1beta1", "cr-cluster-cassandra311-stor.yaml"): cassandra(
        "cassandra-persistent", "docker.io/bluedata/cassandra:4.0", [USERBASE, VOID], True),
    ("v1beta1", "cr-cluster-cassandra311.yaml"): cassandra(
        "cassandra-instance", "docker.io/bluedata/cassandra:4.0", [USERBASE, VOID], False),
    ("v1beta1", "cr-cluster-centos7-stor.yaml"): centos("centos7-persistent", True),
    ("v1beta1", "cr-cluster-centos7.yaml"): centos("centos7", False),
    ("v1beta1", "cr-cluster-jupyter-notebook.yaml"): dict(
        name="jupyter-notebook", app="jupyter-notebook", pretty="Jupyter Notebook with ML toolkits", caps=[],
        systemd=True, package=True, tty=False,
        roles=[role("controller", 1, "bluedata/kd-notebook:3.2", [SSH, ("jupyter-nb", 8000, "http-jupyter-nb")],
                    [USERBASE, VOID])]),
    ("v1beta1", "cr-cluster-ngc.yaml"): dict(
        name="ngc-tensorflow-cluster", app="ngc-tensorflow", pretty="NVIDIA:TensorFlow(NGC)", caps=[],
        systemd=False, package=False, tty=True,
        roles=[role("tensorflow", 1, "nvcr.io/nvidia/tensorflow:20.12-tf1-py3", [SSH], [])]),
    ("v1beta1", "cr-cluster-spark245-stor.yaml"): spark245(True),
    ("v1beta1", "cr-cluster-spark245.yaml"): spark245(False),
    ("v1beta1", "cr-cluster-tensorflow-gpu-dockerhub.yaml"): dict(
        name="tensorflow-gpu-jupyter", app="tensorflow-gpu-jupyter", pretty="TensorFlow + Jupyter", caps=[],
        systemd=True, package=False, tty=False,
        roles=[role("controller", 1, "tensorflow/tensorflow:latest-gpu-py3-jupyter",
                    [("jupyter-nb", 8888, "http-jupyter-nb")], [])]),
    # 2018 format: legacy setup packages (no PYTHONUSERBASE), free-text service ids
    ("v1alpha1", "cr-cluster-cassandra311.yaml"): cassandra(
        "cassandra-instance", "docker.io/bluedata/cassandra:3.0", [VOID], False),
    ("v1alpha1", "cr-cluster-spark221e2.yaml"): dict(
        name="spark-instance", app="spark221e2", pretty="Spark 2.2.1 on centos7x with Jupyter", caps=[],
        systemd=True, package=True, tty=False, roles=[
            role("controller", 1, SPARK221_IMAGE, [SSH, ("spark", 8080, "http-spark"),
                                                   ("spark-master", 7077, "spark-spark-master"),
                                                   ("spark-worker", 8081, "http-spark-worker")], [VOID]),
            role("worker", 2, SPARK221_IMAGE, [SSH, ("spark-worker", 8081, "http-spark-worker")], [VOID]),
            role("jupyter", 1, "docker.io/bluedata/jupyter:2.2", [SSH, (ANY_IANA, 8888, "http")], [VOID]),
        ]),
}

KD_CLUSTER_LABELS = {L_CLUSTER, L_APP, L_CATALOG}
KD_ROLE_LABELS = KD_CLUSTER_LABELS | {L_ROLE, L_HEADLESS}


def extra_labels_ok(labels: dict, kd_keys: set) -> None:
    """kdrender may only add app.kubernetes.io/* labels to KubeDirector's."""
    extra = set(labels) - kd_keys
    assert all(k.startswith("app.kubernetes.io/") for k in extra), extra


def extra_annotations_ok(annotations: dict) -> None:
    assert set(annotations) - {A_PRETTY} <= {SYNC_WAVE}, annotations


def raw_cluster(version: str, name: str) -> dict:
    docs = [d for d in yaml.safe_load_all((CONFORMANCE / version / "clusters" / name).read_text()) if d]
    assert len(docs) == 1
    return docs[0]


# KubeDirector puts SSH on LoadBalancer/NodePort member Services; kdrender only when told to
EXPOSE_SSH = "kdrender: {exposeSSH: true}\n"


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    """``rendered(version, file, config=None)`` -> the cluster's objects (cached per module)."""
    cache = {}

    def get(version, name, config=None):
        key = (version, name, config)
        if key not in cache:
            root = conformance_repo(tmp_path_factory.mktemp("conf"), version, name, config)
            cache[key] = render_one(root)
        return cache[key]

    return get


def expected(version, name) -> dict:
    assert (version, name) in EXPECTED, f"new conformance file {version}/{name}: add its expectations to EXPECTED"
    return EXPECTED[(version, name)]


def kd_mounts_and_volumes(exp, r, systemd=None):
    """KubeDirector's app container mounts and pod volumes of a role, in its order (spec 2.4)."""
    systemd = exp["systemd"] if systemd is None else systemd
    mounts = [{"name": "p", "mountPath": d, "subPath": d[1:], "readOnly": False} for d in r["dirs"] or []]
    volumes = []
    for name, path in (("tmpfs-tmp", "/tmp"), ("tmpfs-run", "/run"), ("tmpfs-run-lock", "/run/lock")):
        mounts.append({"name": name, "mountPath": path})
        volumes.append({"name": name, "emptyDir": {"medium": "Memory", "sizeLimit": "20Gi"}})
    if systemd:
        mounts += [{"name": "cgroupfs", "mountPath": "/sys/fs/cgroup", "readOnly": True},
                   {"name": "systemd", "mountPath": "/sys/fs/cgroup/systemd"}]
        volumes += [{"name": "cgroupfs", "hostPath": {"path": "/sys/fs/cgroup"}},
                    {"name": "systemd", "hostPath": {"path": "/sys/fs/cgroup/systemd"}}]
    return mounts, volumes


def without_defaults(volume: dict) -> dict:
    """A hostPath ``type: ""`` is the API default (no check); kdrender writes it out."""
    volume = copy.deepcopy(volume)
    if volume.get("hostPath", {}).get("type") == "":
        del volume["hostPath"]["type"]
    return volume


PARAMS = conformance_params()


@pytest.mark.parametrize("version,name", PARAMS)
def test_objects_and_names(rendered, version, name):
    """Headless Service = munged cluster name, one StatefulSet per role with members, one Service per
    member of a role with ports, ConfigMaps only with a setup package; nothing else."""
    exp = expected(version, name)
    ns, cluster, objects = rendered(version, name)
    assert (ns, cluster) == ("default", exp["name"])
    hs = mung(exp["name"])
    names = [("Service", hs)]
    if exp["package"]:  # with the agent: the readiness Service (issue 10, --addnodes after Ready)
        names.append(("Service", f"{hs}-ready"))
    for r in exp["roles"]:
        names.append(("StatefulSet", mung(f"{exp['name']}-{r['id']}")))
    for r in exp["roles"]:
        if r["ports"]:
            names += [("Service", f"{mung(exp['name'] + '-' + r['id'])}-{i}") for i in range(r["members"])]
    actual = [(o["kind"], o["metadata"]["name"]) for o in objects]
    configmaps = [n for k, n in actual if k == "ConfigMap"]
    # kdrender's PodDisruptionBudgets (on by default): one per role with more than one member
    assert [n for k, n in actual if k == "PodDisruptionBudget"] == [
        mung(f"{exp['name']}-{r['id']}") for r in exp["roles"] if r["members"] > 1]
    assert [x for x in actual if x[0] not in ("ConfigMap", "PodDisruptionBudget")] == names
    assert bool(configmaps) == exp["package"]
    assert all(o["metadata"]["namespace"] == "default" for o in objects)
    assert all("ownerReferences" not in o["metadata"] for o in objects)
    for kind, obj_name in actual:
        if kind == "Service":
            assert is_dns1035_label(obj_name), obj_name


@pytest.mark.parametrize("version,name", PARAMS)
def test_headless_service(rendered, version, name):
    exp = expected(version, name)
    _, _, objects = rendered(version, name)
    hs = by_name(objects, "Service")[mung(exp["name"])]
    meta = hs["metadata"]
    kd_labels = {L_CLUSTER: exp["name"], L_APP: exp["app"], L_CATALOG: "local"}
    assert {k: v for k, v in meta["labels"].items() if k.startswith("kubedirector")} == kd_labels
    extra_labels_ok(meta["labels"], KD_CLUSTER_LABELS)
    assert meta["annotations"][A_PRETTY] == exp["pretty"]
    extra_annotations_ok(meta["annotations"])
    spec = hs["spec"]
    assert spec["clusterIP"] == "None"
    assert spec["selector"] == {L_HEADLESS: exp["name"]}
    assert spec["publishNotReadyAddresses"] is True
    assert spec.get("type", "ClusterIP") == "ClusterIP"
    assert len(spec["ports"]) == 1
    port = spec["ports"][0]
    assert (port["name"], port["port"]) == ("port", 8888)
    assert port.get("protocol", "TCP") == "TCP" and port.get("targetPort", 8888) == 8888


@pytest.mark.parametrize("version,name", PARAMS)
def test_statefulsets(rendered, version, name):
    """Metadata, labels, selector (a subset of the pod labels), replicas, serviceName."""
    exp = expected(version, name)
    _, _, objects = rendered(version, name)
    statefulsets = by_name(objects, "StatefulSet")
    hs = mung(exp["name"])
    for r in exp["roles"]:
        sts = statefulsets[mung(f"{exp['name']}-{r['id']}")]
        meta = sts["metadata"]
        kd_labels = {L_CLUSTER: exp["name"], L_APP: exp["app"], L_CATALOG: "local", L_ROLE: r["id"],
                     L_HEADLESS: exp["name"]}
        assert {k: v for k, v in meta["labels"].items() if k.startswith("kubedirector")} == kd_labels
        extra_labels_ok(meta["labels"], KD_ROLE_LABELS)
        assert meta["annotations"][A_PRETTY] == exp["pretty"]
        extra_annotations_ok(meta["annotations"])
        spec = sts["spec"]
        assert spec["podManagementPolicy"] == "Parallel"
        assert spec["replicas"] == r["members"]
        assert spec["serviceName"] == hs
        template = spec["template"]
        pod_labels = template["metadata"]["labels"]
        assert {k: v for k, v in pod_labels.items() if k.startswith("kubedirector")} == kd_labels
        assert pod_labels == meta["labels"]  # no role or global podLabels in these examples
        selector = spec["selector"]["matchLabels"]
        assert selector == {L_CLUSTER: exp["name"], L_ROLE: r["id"]}
        assert selector.items() <= pod_labels.items()
        assert template["metadata"]["annotations"][A_PRETTY] == exp["pretty"]
        pod = template["spec"]
        assert pod["automountServiceAccountToken"] is False
        assert "serviceAccountName" not in pod and "affinity" not in pod
        assert pod.get("restartPolicy", "Always") == "Always"


@pytest.mark.parametrize("version,name", PARAMS)
def test_app_container(rendered, version, name):
    """Image, resources (verbatim), ports and port names, env, postStart, capabilities, tty/stdin."""
    exp = expected(version, name)
    raw_roles = {r["id"]: r for r in raw_cluster(version, name)["spec"]["roles"]}
    _, _, objects = rendered(version, name)
    statefulsets = by_name(objects, "StatefulSet")
    hs = mung(exp["name"])
    for r in exp["roles"]:
        sts = statefulsets[mung(f"{exp['name']}-{r['id']}")]
        c = app_container(sts)
        assert c["image"] == r["image"]
        assert c["resources"] == {k: {q: str(v) for q, v in vals.items()}
                                  for k, vals in raw_roles[r["id"]]["resources"].items()}
        ports = c.get("ports", [])
        assert [p["containerPort"] for p in ports] == [p[1] for p in r["ports"]]
        for port, (pname, _, _) in zip(ports, r["ports"]):
            assert is_iana_svc_name(port["name"]), port
            if pname is not ANY_IANA:
                assert port["name"] == pname
            assert port.get("protocol", "TCP") == "TCP"
        assert len({p["name"] for p in ports}) == len(ports)
        assert c["env"] == r["env"]
        command = c["lifecycle"]["postStart"]["exec"]["command"]
        assert command[:2] == ["/bin/bash", "-c"] and len(command) == 3
        kd = startup_script(hs)
        if exp["package"]:  # the agent is started in the background just before KubeDirector's "exit 0"
            assert command[2].startswith(kd[: -len("exit 0")]) and command[2].endswith("exit 0")
            assert "readinessProbe" in c
        else:
            assert command[2] == kd
            # kdrender's tcpSocket probe on the first service port (on by default), none without ports
            assert c.get("readinessProbe", {}).get("tcpSocket") == ({"port": r["ports"][0][1]} if r["ports"] else None)
        # KubeDirector's capabilities.add (only when the app declares some), plus kdrender's safer
        # defaults: NET_RAW dropped unless declared, never privileged
        caps = {"add": exp["caps"]} if exp["caps"] else {}
        if "NET_RAW" not in exp["caps"]:
            caps["drop"] = ["NET_RAW"]
        assert c["securityContext"] == {"capabilities": caps, "privileged": False}
        assert "runAsNonRoot" not in c["securityContext"] and "readOnlyRootFilesystem" not in c["securityContext"]
        assert sts["spec"]["template"]["spec"]["securityContext"] == {"seccompProfile": {"type": "RuntimeDefault"}}
        assert c.get("tty", False) is exp["tty"] and c.get("stdin", False) is exp["tty"]
        assert "volumeDevices" not in c
        assert "livenessProbe" not in c and "command" not in c and "args" not in c


@pytest.mark.parametrize("version,name", PARAMS)
def test_volumes_and_mounts(rendered, version, name):
    """KubeDirector's mounts and volumes first, in its order; kdrender's kd-* ones only after them."""
    exp = expected(version, name)
    _, _, objects = rendered(version, name)
    statefulsets = by_name(objects, "StatefulSet")
    for r in exp["roles"]:
        sts = statefulsets[mung(f"{exp['name']}-{r['id']}")]
        c = app_container(sts)
        mounts, volumes = kd_mounts_and_volumes(exp, r)
        assert c["volumeMounts"][: len(mounts)] == mounts
        rest = c["volumeMounts"][len(mounts):]
        assert all(m["name"].startswith("kd-") and m.get("readOnly") for m in rest), rest
        assert bool(rest) == exp["package"]
        actual_volumes = [without_defaults(v) for v in sts["spec"]["template"]["spec"]["volumes"]]
        assert actual_volumes[: len(volumes)] == volumes
        assert all(v["name"].startswith("kd-") for v in actual_volumes[len(volumes):])
        names = [v["name"] for v in actual_volumes]
        assert len(set(names)) == len(names)
        # every mount has a volume, except the claim template "p"
        assert {m["name"] for m in c["volumeMounts"]} - set(names) == ({"p"} if r["dirs"] else set())


@pytest.mark.parametrize("version,name", PARAMS)
def test_init_container_and_claims(rendered, version, name):
    """Storage: the init container with KubeDirector's exact script and the claim template "p"."""
    exp = expected(version, name)
    raw_roles = {r["id"]: r for r in raw_cluster(version, name)["spec"]["roles"]}
    _, _, objects = rendered(version, name)
    statefulsets = by_name(objects, "StatefulSet")
    for r in exp["roles"]:
        sts = statefulsets[mung(f"{exp['name']}-{r['id']}")]
        pod = sts["spec"]["template"]["spec"]
        if not r["dirs"]:
            assert "initContainers" not in pod
            assert not sts["spec"].get("volumeClaimTemplates")
            continue
        (init,) = pod["initContainers"]
        assert init["name"] == "init"
        assert init["image"] == r["image"]
        assert init["command"] == ["/bin/bash"]
        assert init["args"] == ["-c", init_script(r["dirs"])]
        assert init["resources"] == app_container(sts)["resources"]
        assert init["securityContext"] == {"runAsUser": 0, "allowPrivilegeEscalation": False, "privileged": False,
                                           "capabilities": {"drop": ["NET_RAW"]}}
        assert init["volumeMounts"] == [{"name": "p", "mountPath": "/mnt"}]
        (claim,) = sts["spec"]["volumeClaimTemplates"]
        assert claim["metadata"] == {"name": "p"}  # no labels or annotations
        assert claim.get("apiVersion", "v1") == "v1" and claim.get("kind", "PersistentVolumeClaim") == "PersistentVolumeClaim"
        spec = claim["spec"]
        assert spec["accessModes"] == ["ReadWriteOnce"]
        assert spec["resources"] == {"requests": {"storage": r["size"]}}
        assert spec["resources"]["requests"]["storage"] == raw_roles[r["id"]]["storage"]["size"].strip()
        assert "storageClassName" not in spec
        assert spec.get("volumeMode", "Filesystem") == "Filesystem"


@pytest.mark.parametrize("version,name", PARAMS)
def test_member_services(rendered, version, name):
    """KubeDirector's member Services (with kdrender.exposeSSH: true, KubeDirector's behaviour)."""
    exp = expected(version, name)
    _, _, objects = rendered(version, name, EXPOSE_SSH)
    services = by_name(objects, "Service")
    statefulsets = by_name(objects, "StatefulSet")
    for r in exp["roles"]:
        ss = mung(f"{exp['name']}-{r['id']}")
        container_ports = app_container(statefulsets[ss]).get("ports", [])
        for i in range(r["members"]):
            pod = f"{ss}-{i}"
            svc = services[pod]
            meta = svc["metadata"]
            kd_labels = {L_CLUSTER: exp["name"], L_APP: exp["app"], L_CATALOG: "local", L_ROLE: r["id"]}
            assert {k: v for k, v in meta["labels"].items() if k.startswith("kubedirector")} == kd_labels
            extra_labels_ok(meta["labels"], KD_CLUSTER_LABELS | {L_ROLE})
            assert meta["annotations"][A_PRETTY] == exp["pretty"]
            extra_annotations_ok(meta["annotations"])
            spec = svc["spec"]
            assert spec["type"] == "LoadBalancer"
            assert spec["selector"] == {POD_NAME: pod}
            assert spec["publishNotReadyAddresses"] is True
            assert "clusterIP" not in spec
            assert [p["port"] for p in spec["ports"]] == [p[1] for p in r["ports"]]
            for port, (_, number, sname), cport in zip(spec["ports"], r["ports"], container_ports):
                if sname == "http":  # 2018 id jupyter-notebook: the Service port keeps the whole id
                    assert port["name"] == "http-jupyter-notebook"
                    assert cport["name"] == "jupyter-noteboo"  # a container port name has 15 characters at most
                else:
                    assert port["name"] == sname
                assert port.get("protocol", "TCP") == "TCP"
                assert port.get("targetPort", number) == number
            names = [p["name"] for p in spec["ports"]]
            assert len(set(names)) == len(names)


STORAGE_CLUSTERS = [p for p in PARAMS if p.values[1] and "-stor" in p.values[1]]


@pytest.mark.parametrize("version,name", STORAGE_CLUSTERS or PARAMS[:1])
def test_default_storage_class(rendered, version, name):
    """kdrender.yaml defaultStorageClassName goes into claim template "p" (KubeDirector's webhook default)."""
    if name is None or "-stor" not in name:
        pytest.skip("no storage cluster in the conformance files")
    _, _, objects = rendered(version, name, "defaultStorageClassName: fast-ssd\n")
    for sts in of_kind(objects, "StatefulSet"):
        (claim,) = sts["spec"]["volumeClaimTemplates"]
        assert claim["spec"]["storageClassName"] == "fast-ssd"


def test_storage_class_of_the_role_wins(tmp_path):
    if not CONFORMANCE.is_dir():
        pytest.skip("no conformance files")
    root = conformance_repo(tmp_path, "v1beta1", "cr-cluster-centos7-stor.yaml", "defaultStorageClassName: fast\n")
    path = root / "clusters" / "cr-cluster-centos7-stor.yaml"
    path.write_text(path.read_text().replace('size: "40Gi"', 'size: "40Gi"\n      storageClassName: "gold"'))
    _, _, objects = render_one(root)
    (sts,) = of_kind(objects, "StatefulSet")
    assert sts["spec"]["volumeClaimTemplates"][0]["spec"]["storageClassName"] == "gold"


@pytest.mark.parametrize("service_type", ["NodePort", "ClusterIP", "LoadBalancer"])
@pytest.mark.parametrize("version,name", PARAMS)
def test_default_service_type(rendered, version, name, service_type):
    """kdrender.yaml defaultServiceType is the member Service type; the headless Service is unaffected."""
    exp = expected(version, name)
    _, _, objects = rendered(version, name, f"defaultServiceType: {service_type}\n{EXPOSE_SSH}")
    hs = mung(exp["name"])
    for svc in of_kind(objects, "Service"):
        if svc["metadata"]["name"] in (hs, f"{hs}-ready"):  # the headless and the readiness Service
            assert svc["spec"]["clusterIP"] == "None" and svc["spec"].get("type", "ClusterIP") == "ClusterIP"
        else:
            assert svc["spec"]["type"] == service_type
            if service_type == "ClusterIP":
                assert "externalTrafficPolicy" not in svc["spec"]


def test_cluster_service_type_wins_over_default(tmp_path):
    if not CONFORMANCE.is_dir():
        pytest.skip("no conformance files")
    root = conformance_repo(tmp_path, "v1beta1", "cr-cluster-centos7.yaml", "defaultServiceType: NodePort\n")
    path = root / "clusters" / "cr-cluster-centos7.yaml"
    path.write_text(path.read_text().replace("  app: centos7x\n", "  app: centos7x\n  serviceType: ClusterIP\n"))
    _, _, objects = render_one(root)
    assert by_name(objects, "Service")["centos7-vanilla-centos-0"]["spec"]["type"] == "ClusterIP"


@pytest.mark.parametrize("version,name", PARAMS)
def test_native_systemd_support(rendered, version, name):
    """nativeSystemdSupport: true -> no cgroup hostPath volumes or mounts, everything else unchanged."""
    exp = expected(version, name)
    _, _, objects = rendered(version, name, "nativeSystemdSupport: true\n")
    statefulsets = by_name(objects, "StatefulSet")
    for r in exp["roles"]:
        sts = statefulsets[mung(f"{exp['name']}-{r['id']}")]
        c = app_container(sts)
        mounts, volumes = kd_mounts_and_volumes(exp, r, systemd=False)
        assert c["volumeMounts"][: len(mounts)] == mounts
        assert not any(m["mountPath"].startswith("/sys/fs/cgroup") for m in c["volumeMounts"])
        assert not any("hostPath" in v for v in sts["spec"]["template"]["spec"]["volumes"])


@pytest.mark.parametrize("version,name", PARAMS)
def test_uid_naming_scheme(rendered, version, name):
    """namingScheme UID: kdhs-xxxxx, kdss-xxxxx, s-<pod>, suffixes from generateName's alphabet."""
    exp = expected(version, name)
    _, _, objects = rendered(version, name, "defaultNamingScheme: UID\n")
    suffix = f"[{SUFFIX_CHARS}]{{5}}"
    (hs,) = [s for s in of_kind(objects, "Service") if s["spec"].get("clusterIP") == "None" and s["spec"].get("publishNotReadyAddresses")]
    assert re.fullmatch(f"kdhs-{suffix}", hs["metadata"]["name"])
    statefulsets = of_kind(objects, "StatefulSet")
    assert len(statefulsets) == len(exp["roles"])
    ss_names = [s["metadata"]["name"] for s in statefulsets]
    assert all(re.fullmatch(f"kdss-{suffix}", n) for n in ss_names) and len(set(ss_names)) == len(ss_names)
    expected_services = []
    for sts, r in zip(statefulsets, exp["roles"]):
        assert sts["spec"]["serviceName"] == hs["metadata"]["name"]
        assert sts["metadata"]["labels"][L_ROLE] == r["id"]
        script = app_container(sts)["lifecycle"]["postStart"]["exec"]["command"][2]
        assert startup_script(hs["metadata"]["name"])[: -len("exit 0")] in script
        if r["ports"]:
            expected_services += [(f"s-{sts['metadata']['name']}-{i}", f"{sts['metadata']['name']}-{i}")
                                  for i in range(r["members"])]
    members = [(s["metadata"]["name"], s["spec"]["selector"][POD_NAME]) for s in of_kind(objects, "Service")
               if s["spec"].get("clusterIP") != "None"]
    assert members == expected_services
    again = rendered(version, name, "defaultNamingScheme: UID\n\n")  # another render: the same names
    assert [o["metadata"]["name"] for o in again[2]] == [o["metadata"]["name"] for o in objects]


# ---------------------------------------------------------------------------------------------
# roles without members or without ports

def test_statefulset_only_for_roles_with_members(tmp_path):
    """A role with members: 0 gets no StatefulSet and no member Services (KD handleRoleCreate)."""
    if not CONFORMANCE.is_dir():
        pytest.skip("no conformance files")
    root = conformance_repo(tmp_path, "v1beta1", "cr-cluster-spark245.yaml")
    path = root / "clusters" / "cr-cluster-spark245.yaml"
    text = path.read_text()
    assert text.count("  - id: notebook-server\n    members: 1\n") == 1
    path.write_text(text.replace("  - id: notebook-server\n    members: 1\n", "  - id: notebook-server\n    members: 0\n"))
    _, _, objects = render_one(root)
    roles = [s["metadata"]["labels"][L_ROLE] for s in of_kind(objects, "StatefulSet")]
    assert roles == ["spark-master", "livy-server", "spark-worker"]
    assert not [s for s in of_kind(objects, "Service") if s["metadata"].get("labels", {}).get(L_ROLE) == "notebook-server"]
    assert "spark245-instance-notebook-server-0" not in by_name(objects)


def test_member_services_only_for_roles_with_ports(tmp_path):
    """A role whose services have no port (or that lists none) gets no container ports and no member Service."""
    if not CONFORMANCE.is_dir():
        pytest.skip("no conformance files")
    root = conformance_repo(tmp_path, "v1beta1", "cr-cluster-spark245.yaml")
    app_path = root / "catalog" / "cr-app-spark245.json"
    app = json.loads(app_path.read_text())
    for service in app["spec"]["services"]:
        if service["id"] == "livy-server":
            del service["endpoint"]  # a service without endpoint: listed, but no port
    app_path.write_text(json.dumps(app, indent=2))
    _, _, objects = render_one(root)
    livy = by_name(objects, "StatefulSet")["spark245-instance-livy-server"]
    assert "ports" not in app_container(livy) or app_container(livy)["ports"] == []
    names = by_name(objects, "Service")
    assert "spark245-instance-livy-server-0" not in names
    assert {"spark245-instance-spark-master-0", "spark245-instance-spark-worker-0"} <= set(names)


def test_role_labels_and_global_labels(tmp_path):
    """Pod labels: role labels, then role podLabels, then global podLabels (later wins); the selector
    keeps only kdcluster and role.  Member Services get serviceLabels/serviceAnnotations the same way;
    the headless Service gets none of them."""
    if not CONFORMANCE.is_dir():
        pytest.skip("no conformance files")
    config = ("podLabels: {team: global, tier: db}\npodAnnotations: {a/global: g}\n"
              "serviceLabels: {exposed: global}\nserviceAnnotations: {s/global: g}\n")
    root = conformance_repo(tmp_path, "v1beta1", "cr-cluster-centos7.yaml", config)
    path = root / "clusters" / "cr-cluster-centos7.yaml"
    path.write_text(path.read_text().replace(
        "    members: 1\n",
        "    members: 1\n    podLabels: {team: role, own: x}\n    podAnnotations: {a/role: r}\n"
        "    serviceLabels: {exposed: role, svc: y}\n    serviceAnnotations: {s/role: r}\n"))
    _, _, objects = render_one(root)
    sts = by_name(objects, "StatefulSet")["centos7-vanilla-centos"]
    pod_labels = sts["spec"]["template"]["metadata"]["labels"]
    assert pod_labels["team"] == "global" and pod_labels["tier"] == "db" and pod_labels["own"] == "x"
    assert "team" not in sts["metadata"]["labels"]
    assert sts["spec"]["selector"]["matchLabels"] == {L_CLUSTER: "centos7", L_ROLE: "vanilla_centos"}
    annotations = sts["spec"]["template"]["metadata"]["annotations"]
    assert annotations["a/global"] == "g" and annotations["a/role"] == "r" and annotations[A_PRETTY] == "CentOS 7.5"
    svc = by_name(objects, "Service")["centos7-vanilla-centos-0"]
    assert svc["metadata"]["labels"]["exposed"] == "global" and svc["metadata"]["labels"]["svc"] == "y"
    assert svc["metadata"]["annotations"]["s/global"] == "g" and svc["metadata"]["annotations"]["s/role"] == "r"
    hs = by_name(objects, "Service")["centos7"]
    assert not {"exposed", "svc", "team"} & set(hs["metadata"]["labels"])
    assert not {"s/global", "s/role"} & set(hs["metadata"]["annotations"])


def test_role_extras_volumes_order(tmp_path):
    """secret, volumeProjections, sharedMemory and blockStorage land where spec 2.4 puts them."""
    root = write_repo(tmp_path, {
        "catalog/app.yaml": APP_WITH_SYSTEMD,
        "clusters/c.yaml": CLUSTER_WITH_EXTRAS,
    })
    _, _, objects = render_one(root)
    sts = by_name(objects, "StatefulSet")["extras-db"]
    c = app_container(sts)
    names = [m["name"] for m in c["volumeMounts"]]
    kd_part = [n for n in names if not n.startswith("kd-")]
    assert kd_part == ["p", "p", "tmpfs-tmp", "tmpfs-run", "tmpfs-run-lock", "secret-vol-dbcreds", "projected-vol-0",
                       "projected-vol-1", "shmem", "cgroupfs", "systemd"]
    volumes = {v["name"]: v for v in sts["spec"]["template"]["spec"]["volumes"]}
    assert volumes["secret-vol-dbcreds"]["secret"]["secretName"] == "dbcreds"
    assert volumes["secret-vol-dbcreds"]["secret"]["defaultMode"] == 0o440
    assert volumes["projected-vol-1"]["persistentVolumeClaim"] == {"claimName": "shared", "readOnly": True}
    assert volumes["shmem"]["emptyDir"] == {"medium": "Memory", "sizeLimit": "1Gi"}
    mounts = {m["name"]: m for m in c["volumeMounts"]}
    assert mounts["secret-vol-dbcreds"] == {"name": "secret-vol-dbcreds", "mountPath": "/etc/secret", "readOnly": True}
    assert mounts["shmem"]["mountPath"] == "/dev/shm"
    assert c["volumeDevices"] == [{"name": "b0", "devicePath": "/dev/xvdb0"}, {"name": "b1", "devicePath": "/dev/xvdb1"}]
    claims = sts["spec"]["volumeClaimTemplates"]
    assert [t["metadata"]["name"] for t in claims] == ["p", "b0", "b1"]
    assert claims[1]["spec"]["volumeMode"] == "Block" and claims[1]["spec"]["storageClassName"] == "block-class"
    assert claims[1]["spec"]["resources"] == {"requests": {"storage": "1Gi"}}
    assert claims[0]["spec"].get("volumeMode", "Filesystem") == "Filesystem"
    assert "storageClassName" not in claims[0]["spec"]
    # no package: persist dirs start from ["/etc"], then the app dirs
    assert sts["spec"]["template"]["spec"]["initContainers"][0]["args"][1] == init_script(["/etc", "/var/lib/db"])
    pod = sts["spec"]["template"]["spec"]
    assert pod["automountServiceAccountToken"] is True and pod["serviceAccountName"] == "db-sa"




# ---------------------------------------------------------------------------------------------
# the shell scripts really are shell

def shell_scripts(objects):
    for sts in of_kind(objects, "StatefulSet"):
        pod = sts["spec"]["template"]["spec"]
        yield sts["metadata"]["name"], "postStart", app_container(sts)["lifecycle"]["postStart"]["exec"]["command"]
        for init in pod.get("initContainers", []):
            yield sts["metadata"]["name"], init["name"], init["command"] + init["args"]


@pytest.mark.skipif(shutil.which("bash") is None, reason="no bash")
@pytest.mark.parametrize("version,name", PARAMS)
def test_scripts_parse_in_bash(rendered, version, name):
    """``bash -n``: a syntax error in postStart makes kubelet kill the container (FailedPostStartHook)."""
    _, _, objects = rendered(version, name)
    for sts_name, what, command in shell_scripts(objects):
        assert command[:2] == ["/bin/bash", "-c"], (sts_name, what)
        proc = subprocess.run(["bash", "-n", "-c", command[2]], capture_output=True, text=True, timeout=30)
        assert proc.returncode == 0, (sts_name, what, proc.stderr)


@pytest.mark.skipif(shutil.which("bash") is None, reason="no bash")
@pytest.mark.parametrize("cluster", ["cr-cluster-centos7.yaml", "cr-cluster-spark245.yaml"])  # without / with agent
def test_post_start_script_rewrites_resolv_conf(rendered, tmp_path, cluster):
    """Run postStart against a fake resolv.conf: it prepends ``<hs>.<ns>.svc.cluster.local`` to the
    search list and exits 0 (the agent launch, if any, pointed at an empty script)."""
    if not CONFORMANCE.is_dir():
        pytest.skip("no conformance files")
    _, _, objects = rendered("v1beta1", cluster)
    sts = of_kind(objects, "StatefulSet")[0]
    hs = sts["spec"]["serviceName"]
    script = app_container(sts)["lifecycle"]["postStart"]["exec"]["command"][2]
    resolv = tmp_path / "resolv.conf"
    resolv.write_text("search default.svc.cluster.local svc.cluster.local cluster.local\nnameserver 10.0.0.10\n")
    (tmp_path / "empty.sh").write_text("exit 0\n")
    for old, new in (("/etc/resolv.conf", "@RESOLV@"), ("/tmp/", "@TMP@/"), ("chmod 755 /run", "true"),
                     ("/etc/kd/agent/kd-agent.sh", "@AGENT@")):
        script = script.replace(old, new)
    assert "/etc/" not in script and " /run" not in script
    script = script.replace("@RESOLV@", str(resolv)).replace("@TMP@", str(tmp_path))
    script = script.replace("@AGENT@", str(tmp_path / "empty.sh"))
    proc = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    assert resolv.read_text() == (f"search {hs}.default.svc.cluster.local default.svc.cluster.local svc.cluster.local "
                                  "cluster.local\nnameserver 10.0.0.10\n")


def test_port_names_lower_case_scheme_and_generic(tmp_path):
    """Member Service port names: ``<lower(urlScheme)>-<id>``, ``generic-<id>`` without a scheme;
    container ports in app.spec.services order, not the roleServices order."""
    app = APP_WITH_SYSTEMD.replace(
        "  - id: sql\n    endpoint: {port: 5432, urlScheme: postgres}\n",
        "  - id: sql\n    endpoint: {port: 5432, urlScheme: PostgreSQL}\n"
        "  - id: admin\n    endpoint: {port: 9000}\n"
        "  - id: nothing\n    label: {name: no port}\n").replace("serviceIDs: [sql]", "serviceIDs: [nothing, admin, sql]")
    root = write_repo(tmp_path, {"catalog/app.yaml": app, "clusters/c.yaml": CLUSTER_WITH_EXTRAS})
    _, _, objects = render_one(root)
    c = app_container(by_name(objects, "StatefulSet")["extras-db"])
    assert [(p["name"], p["containerPort"]) for p in c["ports"]] == [("sql", 5432), ("admin", 9000)]
    svc = by_name(objects, "Service")["extras-db-0"]
    assert [(p["name"], p["port"]) for p in svc["spec"]["ports"]] == [("postgresql-sql", 5432), ("generic-admin", 9000)]


def test_env_order(tmp_path):
    """role.env first, then PYTHONUSERBASE (new setup layout), then NVIDIA_VISIBLE_DEVICES."""
    if not CONFORMANCE.is_dir():
        pytest.skip("no conformance files")
    root = conformance_repo(tmp_path, "v1beta1", "cr-cluster-jupyter-notebook.yaml")
    path = root / "clusters" / "cr-cluster-jupyter-notebook.yaml"
    text = path.read_text()
    anchor = '      id: "controller"\n      members: 1\n'
    assert text.count(anchor) == 1
    path.write_text(text.replace(anchor, anchor + "      env:\n      - {name: B, value: '2'}\n      - {name: A, value: '1'}\n"))
    _, _, objects = render_one(root)
    c = app_container(by_name(objects, "StatefulSet")["jupyter-notebook-controller"])
    assert c["env"] == [{"name": "B", "value": "2"}, {"name": "A", "value": "1"}, USERBASE, VOID]
