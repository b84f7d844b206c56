"""Issue 18 point 2: a connected cluster's ``secret_keys``, and empty versus missing connected objects.

End to end under bash, dash and busybox (the fake container of test_agent.py, the kubelet-style
mounts of test_agent_fills.py): cluster ``ring`` connects to cluster ``vault``, whose roles take
their ``secret_keys`` from vault's own ``kdrender.dev/secret-keys`` Secret, and to ConfigMaps and
Secrets that are in ring's file, declared outside Git, empty or missing.  The configmeta.json the
agent writes must be KubeDirector's; a canary proves no secret reaches the bundle or the logs.

kubelet gives an optional volume of a missing object and one of an empty object the same empty
folder (``..data`` pointing at an empty version directory), which is what ``mount(..., {})``
writes; the agent tells them apart by what kdrender knows (the object is applied with the
cluster's own bundle) or by the object's key ``kdrender.dev-exists``.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
import yaml

from kdrender.pipeline import load_model, render_model
from kdrender.render.configmeta import FILL, configmeta
from kdrender.resolve import ResolvedModel, resolve_model
from test_agent import Pod, ok, shell  # noqa: F401 (fixture)
from test_agent_fills import mount

ROOT = Path(__file__).resolve().parent.parent
CANARY = "canary-c0nn3cted-7d1e"
RESOURCES = '    resources: {requests: {cpu: "1", memory: 1Gi}, limits: {cpu: "1", memory: 1Gi}}\n'

RING = """\
apiVersion: kubedirector.hpe.com/v1beta1
kind: KubeDirectorCluster
metadata:
  name: ring
  namespace: data
  annotations:
    kdrender.dev/configmap-types: "outside-cm=git, gone-cm=git"
    kdrender.dev/secret-types: "outside-secret=aws"
spec:
  app: cassandra311
  connections:
    clusters: [vault]
    configmaps: [in-file, outside-cm, gone-cm]
    secrets: [outside-secret]
  roles:
  - id: seed
    members: 2
""" + RESOURCES + """\
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: in-file
  labels: {kubedirector.hpe.com/cmType: git}
"""

VAULT = """\
apiVersion: kubedirector.hpe.com/v1beta1
kind: KubeDirectorCluster
metadata:
  name: vault
  namespace: data
  annotations:
    kdrender.dev/secret-keys: vault-keys
spec:
  app: cassandra311
  roles:
  - id: seed
    members: 2
""" + RESOURCES + """\
    secretKeys:
    - name: admin-password
    - name: license
  - id: worker
    members: 1
""" + RESOURCES + """\
    secretKeys:
    - name: license
"""


def render(tmp_path: Path, ring: str = RING, vault: str = VAULT):
    repo = tmp_path / "repo"
    (repo / "catalog").mkdir(parents=True)
    (repo / "clusters").mkdir()
    (repo / "catalog" / "cassandra311.json").write_text((ROOT / "catalog" / "cassandra311.json").read_text())
    (repo / "clusters" / "ring.yaml").write_text(ring)
    (repo / "clusters" / "vault.yaml").write_text(vault)
    model = load_model(str(repo))
    rendered = {name: objects for _, name, objects in render_model(model)}
    rc = next(c for c in resolve_model(model).clusters if c.cluster.name == "ring")
    return model, rc, rendered["ring"]


@pytest.fixture
def member(tmp_path, shell):
    model, rc, objects = render(tmp_path)
    maps = {o["metadata"]["name"]: o for o in objects if o["kind"] == "ConfigMap"}
    seed = next(r for r in rc.roles if r.id == "seed")
    pod = Pod(tmp_path / "pod", shell, pod=seed.pods[0])
    pod.install_rendered(maps[f"{rc.headless}-kd-agent"]["data"], "seed")
    # what the cluster holds: vault's secret_keys Secret, the connected objects (empty or missing)
    mount(pod.root, "/etc/kd/connections/clusters/vault",
          {"seed.admin-password": CANARY, "license": "L-shared", "worker.license": "L-worker"})
    mount(pod.root, "/etc/kd/connections/configmaps/in-file", {})  # in ring's file, empty
    mount(pod.root, "/etc/kd/connections/configmaps/outside-cm", {})  # outside Git: missing or empty
    mount(pod.root, "/etc/kd/connections/configmaps/gone-cm", {})
    mount(pod.root, "/etc/kd/connections/secrets/outside-secret", {})
    pod.publish({}, files=maps[f"{rc.headless}-configmeta"]["data"])
    return model, rc, seed, pod, objects


def got(pod) -> dict:
    return json.loads(pod.read("/etc/guestconfig/configmeta.json"))


def in_file(data=None) -> dict:
    """The empty ConfigMap of ring's file as KubeDirector shows it (Go's nil data map: null)."""
    return {"annotations": {}, "data": data, "labels": {"kubedirector.hpe.com/cmType": "git"},
            "metadata": {"name": "in-file"}}


def test_connected_clusters_secret_keys_are_filled_from_its_own_secret(member):
    model, rc, seed, pod, objects = member
    result = pod.run()
    ok(result)
    doc = configmeta(rc, ResolvedModel(model, [rc]), seed, 0)
    vault_roles = doc["connections"]["clusters"]["vault"]["nodegroups"]["1"]["roles"]
    assert vault_roles["seed"]["secret_keys"] == FILL + "conn:vault:secret_keys:seed"
    assert vault_roles["worker"]["secret_keys"] == FILL + "conn:vault:secret_keys:worker"
    vault_roles["seed"]["secret_keys"] = {"admin-password": CANARY, "license": "L-shared"}
    vault_roles["worker"]["secret_keys"] = {"license": "L-worker"}  # <role>.<name> before <name>
    doc["connections"]["configmaps"] = {"git": [in_file()]}
    doc["connections"]["secrets"] = {}  # outside Git and empty: maybe missing, left out
    text = pod.read("/etc/guestconfig/configmeta.json")
    assert json.loads(text) == doc
    assert "kd-fill" not in text and "secret_keys" not in doc["nodegroups"]["1"]["roles"]["seed"]
    # the bundle names vault's Secret, never a value; nor do the agent's log, state or saved state
    bundle = yaml.safe_dump_all(objects)
    assert "vault-keys" in bundle
    for where in (bundle, result.stdout, result.stderr, pod.state(), pod.read("/etc/guestconfig/kd-connections")):
        assert CANARY not in where and base64.b64encode(CANARY.encode()).decode() not in where


def test_a_changed_connected_secret_key_reconnects(member):
    model, rc, seed, pod, objects = member
    ok(pod.run())
    assert pod.startscript_calls() == ["--configure [gen=]"]
    ok(pod.run())
    assert pod.startscript_calls() == ["--configure [gen=]"]  # nothing changed
    mount(pod.root, "/etc/kd/connections/clusters/vault", {"license": "L-new"})
    ok(pod.run())
    assert pod.startscript_calls() == ["--configure [gen=]", "--reconnect [gen=]"]
    roles = got(pod)["connections"]["clusters"]["vault"]["nodegroups"]["1"]["roles"]
    assert roles["seed"]["secret_keys"] == {"license": "L-new"} and roles["worker"]["secret_keys"] == {"license": "L-new"}
    # vault's Secret gone: its roles show no secret_keys, as KubeDirector omits empty ones
    mount(pod.root, "/etc/kd/connections/clusters/vault", {})
    ok(pod.run())
    roles = got(pod)["connections"]["clusters"]["vault"]["nodegroups"]["1"]["roles"]
    assert "secret_keys" not in roles["seed"] and "secret_keys" not in roles["worker"]
    assert len(pod.startscript_calls()) == 3


def test_empty_and_missing_connected_objects_as_kubedirector_shows_them(member):
    model, rc, seed, pod, objects = member
    ok(pod.run())
    conns = got(pod)["connections"]
    # in ring's file: applied with ring's bundle, so an empty mount is the empty object;
    # outside Git, an empty mount may be a missing object: left out
    assert conns["configmaps"] == {"git": [in_file()]}
    assert conns["secrets"] == {}
    # an object outside Git says it exists with the key kdrender.dev-exists (never shown as data)
    mount(pod.root, "/etc/kd/connections/configmaps/outside-cm", {"kdrender.dev-exists": ""})
    mount(pod.root, "/etc/kd/connections/secrets/outside-secret", {"kdrender.dev-exists": "yes", "token": CANARY})
    ok(pod.run())
    conns = got(pod)["connections"]
    outside = {"annotations": {}, "data": None, "labels": {"kubedirector.hpe.com/cmType": "git"},
               "metadata": {"name": "outside-cm"}}
    assert conns["configmaps"] == {"git": [in_file(), outside]}  # in the order of the spec
    b64 = lambda s: base64.b64encode(s.encode()).decode()  # noqa: E731
    assert conns["secrets"] == {"aws": [{"annotations": {}, "data": {"token": b64(CANARY)},
                                         "labels": {"kubedirector.hpe.com/secretType": b64("aws")},
                                         "metadata": {"name": b64("outside-secret")}}]}
    assert pod.startscript_calls()[-1] == "--reconnect [gen=]"
    # the ConfigMap of ring's file with data: shown with it
    mount(pod.root, "/etc/kd/connections/configmaps/in-file", {"branch": "main"})
    ok(pod.run())
    assert got(pod)["connections"]["configmaps"]["git"][0] == in_file({"branch": "main"})


def test_a_missing_mount_folder_is_a_missing_object(member):
    """Without even the folder (no ``..data``), an object outside Git is left out, and one of the
    cluster's file still shows as empty (the bundle applies it)."""
    import shutil

    model, rc, seed, pod, objects = member
    for path in ("/etc/kd/connections/configmaps/in-file", "/etc/kd/connections/configmaps/outside-cm"):
        shutil.rmtree(pod.path(path))
        pod.path(path).mkdir()
    ok(pod.run())
    assert got(pod)["connections"]["configmaps"] == {"git": [in_file()]}


def test_bundle_mounts_the_connected_clusters_secret_and_marks_applied_objects(tmp_path):
    model, rc, objects = render(tmp_path)
    sts = next(o for o in objects if o["kind"] == "StatefulSet")
    volumes = {v["name"]: v for v in sts["spec"]["template"]["spec"]["volumes"]}
    mounts = {m["name"]: m for m in sts["spec"]["template"]["spec"]["containers"][0]["volumeMounts"]}
    assert volumes["kd-conn-keys-0"]["secret"] == {"secretName": "vault-keys", "defaultMode": 0o440, "optional": True}
    assert mounts["kd-conn-keys-0"] == {"name": "kd-conn-keys-0", "mountPath": "/etc/kd/connections/clusters/vault",
                                        "readOnly": True}
    assert "kd-secret-keys" not in volumes  # ring names no secret_keys Secret of its own
    meta = next(o for o in objects if o["metadata"]["name"] == f"{rc.headless}-configmeta")["data"]
    fills = [line.split("\t") for line in meta["fills"].splitlines()]
    assert ["conn:vault:secret_keys:seed", "keys", "/etc/kd/connections/clusters/vault", "seed",
            "admin-password license"] in fills
    objs = {f[3].rsplit("/", 1)[1]: f[-1] for f in fills if f[0] == "obj"}
    assert objs == {"in-file": "applied", "outside-cm": "mounted", "gone-cm": "mounted", "outside-secret": "mounted"}


def test_no_secret_keys_secret_no_connected_keys(tmp_path):
    """A connected cluster without a secret_keys Secret: nothing to mount, nothing to fill."""
    model, rc, objects = render(tmp_path, vault=VAULT.replace("    kdrender.dev/secret-keys: vault-keys\n", "")
                                .replace("  annotations:\n", ""))
    sts = next(o for o in objects if o["kind"] == "StatefulSet")
    assert not any(v["name"].startswith("kd-conn-keys") for v in sts["spec"]["template"]["spec"]["volumes"])
    meta = next(o for o in objects if o["metadata"]["name"] == f"{rc.headless}-configmeta")["data"]
    assert "conn:" not in meta["fills"] and "kd-fill:conn:" not in meta["configmeta.json"]


def test_sealed_or_external_secrets_are_not_known_to_exist():
    """A SealedSecret or ExternalSecret becomes a Secret only once its controller made it: an empty
    mount of it may be a missing Secret."""
    from types import SimpleNamespace

    from kdrender.inpod import applied_with

    def cluster(*extras):
        return SimpleNamespace(extras=tuple(SimpleNamespace(data=e) for e in extras))

    sealed = {"kind": "SealedSecret", "metadata": {"name": "s"}}
    plain = {"kind": "Secret", "metadata": {"name": "s"}}
    cm = {"kind": "ConfigMap", "metadata": {"name": "c"}}
    assert applied_with(cluster(plain), "secrets", "s") and applied_with(cluster(cm), "configmaps", "c")
    assert not applied_with(cluster(sealed), "secrets", "s")
    assert not applied_with(cluster(cm), "secrets", "c") and not applied_with(cluster(), "configmaps", "c")
