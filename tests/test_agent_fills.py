"""Issue 10 points 1-3: what configmeta takes from the cluster, filled in by the agent in the pod.

End to end under bash, dash and busybox: kdrender renders a cluster that connects a ConfigMap and
a Secret, names a Secret for ``secret_keys`` and uses a ``hasAuthToken`` service; the rendered
ConfigMaps and fake mounts of those objects go into a fake container (test_agent.py), and the
configmeta.json the agent writes must be KubeDirector's, with the values from the mounts.  A canary
value proves no secret reaches the bundle, the agent's log or its state line.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import time
from pathlib import Path

import pytest
import yaml

from kdrender.pipeline import load_model, render_model
from kdrender.render.configmeta import configmeta, go_json
from kdrender.resolve import ResolvedModel, resolve_model
from test_agent import Pod, ok, shell  # noqa: F401 (fixture)

ROOT = Path(__file__).resolve().parent.parent
CANARY = "canary-s3cr3t-4f9a2c"
# every character Go's json.Marshal escapes, and some it does not
TRICKY = 'a "q" <b>&\\ é\u2028\u2029\n' + "".join(chr(i) for i in range(1, 32) if i != 10) + "\ttail\n\n"

CLUSTER = """\
apiVersion: kubedirector.hpe.com/v1beta1
kind: KubeDirectorCluster
metadata:
  name: ring
  namespace: data
  annotations:
    kdrender.dev/secret-types: "s3-creds=aws"
    kdrender.dev/configmap-types: "source-control=source-control"
    kdrender.dev/secret-keys: ring-keys
spec:
  app: cassandra311
  connections:
    configmaps: [source-control, not-typed]
    secrets: [s3-creds]
  roles:
  - id: seed
    members: 2
    resources: {requests: {cpu: "1", memory: 1Gi}, limits: {cpu: "1", memory: 1Gi}}
    secretKeys:
    - name: jdbc-password
    - name: license
  - id: worker
    members: 1
    resources: {requests: {cpu: "1", memory: 1Gi}, limits: {cpu: "1", memory: 1Gi}}
"""


def render(tmp_path: Path, cluster_text: str = CLUSTER):
    repo = tmp_path / "repo"
    (repo / "catalog").mkdir(parents=True, exist_ok=True)
    (repo / "clusters").mkdir(exist_ok=True)
    app = json.loads((ROOT / "catalog" / "cassandra311.json").read_text())
    for service in app["spec"]["services"]:
        if service["id"] == "cassandra":
            service["endpoint"]["hasAuthToken"] = True
    (repo / "catalog" / "cassandra311.json").write_text(json.dumps(app))
    (repo / "clusters" / "ring.yaml").write_text(cluster_text)
    model = load_model(str(repo))
    objects = render_model(model)[0][2]
    rc = resolve_model(model).clusters[0]
    return model, rc, objects


def mount(root: Path, path: str, files: dict) -> None:
    """A ConfigMap or Secret volume as kubelet writes it: a version dir, ..data, and key links."""
    target = root / path.lstrip("/")
    target.mkdir(parents=True, exist_ok=True)
    old = os.readlink(target / "..data") if (target / "..data").is_symlink() else None
    version = target / f"..{time.time_ns()}"
    version.mkdir()
    for key, value in files.items():
        (version / key).write_bytes(value if isinstance(value, bytes) else value.encode())
    os.symlink(version.name, target / "..data_tmp")
    os.replace(target / "..data_tmp", target / "..data")
    for entry in target.iterdir():
        if not entry.name.startswith("..") and entry.name not in files:
            entry.unlink()
    for key in files:
        if not (target / key).is_symlink():
            os.symlink(f"..data/{key}", target / key)
    if old:
        import shutil
        shutil.rmtree(target / old)


@pytest.fixture
def member(tmp_path, shell):
    model, rc, objects = render(tmp_path)
    maps = {o["metadata"]["name"]: o for o in objects if o["kind"] == "ConfigMap"}
    meta = maps[f"{rc.headless}-configmeta"]["data"]
    agent = maps[f"{rc.headless}-kd-agent"]["data"]
    seed = next(r for r in rc.roles if r.id == "seed")
    pod = Pod(tmp_path / "pod", shell, pod=seed.pods[0])
    pod.install_rendered(agent, "seed")
    # what the cluster holds (never in Git): the connected objects and the two Secrets
    mount(pod.root, "/etc/kd/connections/configmaps/source-control", {"branch": "main", "repo": TRICKY})
    mount(pod.root, "/etc/kd/connections/configmaps/not-typed", {"k": "v"})
    mount(pod.root, "/etc/kd/connections/secrets/s3-creds", {"key": CANARY, "id": b"\x00\xffbin"})
    mount(pod.root, "/etc/kd/secret-keys", {"license": "L-123", "seed.jdbc-password": CANARY + "-pw"})
    mount(pod.root, "/etc/kd/auth-tokens", {"seed": "0123456789abcdef"})
    pod.publish({}, files=meta)
    return model, rc, seed, pod, objects


def expected(model, rc, seed) -> dict:
    doc = configmeta(rc, ResolvedModel(model, [rc]), seed, 0)
    roles = doc["nodegroups"]["1"]["roles"]
    roles["seed"]["secret_keys"] = {"jdbc-password": CANARY + "-pw", "license": "L-123"}
    for role in ("seed", "worker"):
        last = next(r for r in rc.roles if r.id == role).pods[-1]
        token = hashlib.sha256(f"0123456789abcdef:{last}".encode()).hexdigest()[:32]
        assert roles[role]["services"]["cassandra"]["authToken"] == f"\x00kd-fill:token:{role}"
        roles[role]["services"]["cassandra"]["authToken"] = token
        assert roles[role]["services"]["ssh"]["authToken"] == ""
    b64 = lambda s: base64.b64encode(s if isinstance(s, bytes) else s.encode()).decode()  # noqa: E731
    doc["connections"]["configmaps"] = {"source-control": [{
        "annotations": {}, "data": {"branch": "main", "repo": TRICKY},
        "labels": {"kubedirector.hpe.com/cmType": "source-control"},
        "metadata": {"name": "source-control"}}]}
    doc["connections"]["secrets"] = {"aws": [{
        "annotations": {}, "data": {"id": b64(b"\x00\xffbin"), "key": b64(CANARY)},
        "labels": {"kubedirector.hpe.com/secretType": b64("aws")}, "metadata": {"name": b64("s3-creds")}}]}
    return doc


def test_values_from_the_cluster_fill_configmeta(member):
    model, rc, seed, pod, objects = member
    result = pod.run()
    ok(result)
    text = pod.read("/etc/guestconfig/configmeta.json")
    assert json.loads(text) == expected(model, rc, seed)
    assert "kd-fill" not in text
    assert go_json(TRICKY) in text  # escaped byte for byte as Go's json.Marshal does
    # no secret value in the bundle, the agent's log, its state or its saved state
    bundle = yaml.safe_dump_all(objects)
    for where in (bundle, result.stdout, result.stderr, pod.state(), pod.read("/etc/guestconfig/kd-connections")):
        assert CANARY not in where
        assert base64.b64encode(CANARY.encode()).decode() not in where


def test_changed_connected_object_is_refilled_and_reconnects(member):
    model, rc, seed, pod, objects = member
    ok(pod.run())
    assert pod.startscript_calls() == ["--configure [gen=]"]
    ok(pod.run())  # nothing changed: nothing runs
    assert pod.startscript_calls() == ["--configure [gen=]"]
    mount(pod.root, "/etc/kd/connections/configmaps/source-control", {"branch": "release"})
    result = pod.run()
    ok(result)
    assert pod.startscript_calls() == ["--configure [gen=]", "--reconnect [gen=]"]
    got = json.loads(pod.read("/etc/guestconfig/configmeta.json"))
    assert got["connections"]["configmaps"]["source-control"][0]["data"] == {"branch": "release"}
    # a changed secret_keys value rewrites configmeta without --reconnect
    mount(pod.root, "/etc/kd/secret-keys", {"license": "L-456"})
    ok(pod.run())
    got = json.loads(pod.read("/etc/guestconfig/configmeta.json"))
    assert got["nodegroups"]["1"]["roles"]["seed"]["secret_keys"] == {"license": "L-456"}
    assert len(pod.startscript_calls()) == 2


def test_missing_objects_are_left_out_as_kubedirector_does(member):
    model, rc, seed, pod, objects = member
    import shutil
    for path in ("/etc/kd/connections/secrets/s3-creds", "/etc/kd/secret-keys"):
        shutil.rmtree(pod.path(path))
        pod.path(path).mkdir()  # an optional volume whose object does not exist: empty
    ok(pod.run())
    got = json.loads(pod.read("/etc/guestconfig/configmeta.json"))
    assert got["connections"]["secrets"] == {}
    assert "secret_keys" not in got["nodegroups"]["1"]["roles"]["seed"]


def test_auth_tokens_stable_across_restarts_and_kept_from_adoption(member):
    model, rc, seed, pod, objects = member
    ok(pod.run())
    first = json.loads(pod.read("/etc/guestconfig/configmeta.json"))
    pod.restart_container()
    ok(pod.run())
    again = json.loads(pod.read("/etc/guestconfig/configmeta.json"))
    roles = again["nodegroups"]["1"]["roles"]
    assert roles["seed"]["services"]["cassandra"]["authToken"] == \
        first["nodegroups"]["1"]["roles"]["seed"]["services"]["cassandra"]["authToken"]
    # a token recorded by KubeDirector (adopted cluster) is kept: key <pod> of the Secret
    last = seed.pods[-1]
    mount(pod.root, "/etc/kd/auth-tokens", {"seed": "0123456789abcdef", last: "d41d8cd98f00b204e9800998ecf8427e"})
    ok(pod.run())
    roles = json.loads(pod.read("/etc/guestconfig/configmeta.json"))["nodegroups"]["1"]["roles"]
    assert roles["seed"]["services"]["cassandra"]["authToken"] == "d41d8cd98f00b204e9800998ecf8427e"


def test_bundle_mounts_and_never_holds_values(tmp_path):
    model, rc, objects = render(tmp_path)
    sts = next(o for o in objects if o["kind"] == "StatefulSet" and o["metadata"]["labels"]["kubedirector.hpe.com/role"] == "seed")
    volumes = {v["name"]: v for v in sts["spec"]["template"]["spec"]["volumes"]}
    assert volumes["kd-secret-keys"]["secret"] == {"secretName": "ring-keys", "defaultMode": 0o440, "optional": True}
    assert volumes["kd-auth-tokens"]["secret"]["secretName"] == f"{rc.headless}-auth-tokens"
    meta = next(o for o in objects if o["metadata"]["name"] == f"{rc.headless}-configmeta")
    fills = meta["data"]["fills"].splitlines()
    assert any(line.startswith("obj\tconfigmaps\t\"source-control\"\t") for line in fills)
    assert not any("not-typed" in line for line in fills)  # no type known: left out like KubeDirector
    assert "kubedirector.hpe.com/kd-auth-token" not in json.dumps(objects)


def test_type_and_metadata_from_objects_the_repo_holds():
    """A ConfigMap of the cluster's file, a SealedSecret's or ExternalSecret's template labels give
    the type, labels and annotations (``Cluster.extras``, documents of the cluster's file); the
    annotation declares the type of objects created outside Git."""
    from types import SimpleNamespace

    from kdrender.inpod import connected_objects

    extras = (
        {"apiVersion": "v1", "kind": "ConfigMap",
         "metadata": {"name": "cm", "labels": {"kubedirector.hpe.com/cmType": "git", "team": "ml"},
                      "annotations": {"owner": "x"}}},
        SimpleNamespace(data={"apiVersion": "bitnami.com/v1alpha1", "kind": "SealedSecret", "metadata": {"name": "sealed"},
                              "spec": {"template": {"metadata": {"labels": {"kubedirector.hpe.com/secretType": "s3"}}}}}),
        {"apiVersion": "external-secrets.io/v1beta1", "kind": "ExternalSecret", "metadata": {"name": "es"},
         "spec": {"target": {"name": "from-vault", "template": {"metadata": {
             "labels": {"kubedirector.hpe.com/secretType": "vault"}}}}}},
    )
    cluster = SimpleNamespace(spec={"connections": {"configmaps": ["cm", "outside"],
                                                    "secrets": ["sealed", "from-vault", "unknown"]}}, extras=extras)
    got = connected_objects(cluster, {"kdrender.dev/configmap-types": "outside=declared"})
    assert got == [
        ("configmaps", "cm", "git", {"kubedirector.hpe.com/cmType": "git", "team": "ml"}, {"owner": "x"}, True),
        ("configmaps", "outside", "declared", {"kubedirector.hpe.com/cmType": "declared"}, {}, False),
        ("secrets", "sealed", "s3", {"kubedirector.hpe.com/secretType": "s3"}, {}, True),
        ("secrets", "from-vault", "vault", {"kubedirector.hpe.com/secretType": "vault"}, {}, True),
        ("secrets", "unknown", None, {}, {}, False),
    ]
