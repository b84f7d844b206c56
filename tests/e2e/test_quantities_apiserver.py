"""Quantities against a real API server (issue 18): what kdrender writes is what the API server stores.

Opt-in: set ``KDRENDER_E2E_KUBECONFIG`` to a kubeconfig (and ``KDRENDER_E2E_KUBECTL`` to kubectl
when it is not on PATH).  The test creates a namespace, server-side dry-runs StatefulSets
rendered from a cluster full of tricky quantities (``kubectl apply --dry-run=server -o json``),
compares every quantity field the API server returns with the bundle (resources of every
container, claim template sizes, emptyDir sizeLimits), and deletes the namespace.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import uuid

import pytest

from kdrender.pipeline import load_model, render_model
from kdrender.quantity import canonical

KUBECONFIG = os.environ.get("KDRENDER_E2E_KUBECONFIG")
KUBECTL = os.environ.get("KDRENDER_E2E_KUBECTL") or shutil.which("kubectl")

if not KUBECONFIG:
    pytest.skip("set KDRENDER_E2E_KUBECONFIG to run against a real API server", allow_module_level=True)

# (cpu, memory) of one role each; limits and requests alike
# (sub-milli cpu is stored rounded up to 1m: the API server's defaulting of every ResourceList)
RESOURCES = [
    ("0.5", "1024Mi"), ("1000m", "1000M"), ("0.1", "1.5Gi"), ("100m", "1Ki"), ("12000m", "1024"), ("1e3", "1e3"),
    ("2e-3", "0.5Ti"), ("1.5", "2048Ki"), ("500u", 2), ("1n", "1e9"), ("0.0000000001", "9223372036854775807"),
    (0.5, "7Ei"), (2, "1.5k"), ("+1", "+1Gi"), ("1.", "1.Mi"), ("1.500", "1.500M"), ("9223372036854775807m", "1000000000m"),
    ("1e-5000", "4096Mi"), ("10e2", "0.5Gi"), (1.5e3, 1.5e6), ("1.0001", "2.5e3"), ("1000000n", "1e-0"),
]
STORAGE = ["1.5Gi", "1024Mi", "1000M", "10e9", "0.5Ti", "+20Gi", "1000Mi"]
SHARED_MEMORY = ["1024Mi", "0.5Gi", "1e6", "1.500G"]
BLOCK_STORAGE = ["2048Mi", "1e9", "0.25Ti"]


def quoted(value) -> str:
    return json.dumps(value)  # JSON is YAML: strings stay strings, numbers stay numbers


def repo_files() -> dict:
    n = len(RESOURCES)
    app_roles = "".join(f"  - {{id: r{i}, cardinality: \"1\"}}\n" for i in range(n))
    app = ("apiVersion: kubedirector.hpe.com/v1beta1\nkind: KubeDirectorApp\nmetadata: {name: q}\nspec:\n"
           "  label: {name: Quantities}\n  distroID: test/q\n  version: \"1.0\"\n  configSchemaVersion: 7\n"
           "  defaultImageRepoTag: docker.io/library/busybox:1.36\n  services: []\n  roles:\n" + app_roles +
           "  config:\n    selectedRoles: [" + ", ".join(f"r{i}" for i in range(n)) + "]\n    roleServices: []\n")
    roles = ""
    for i, (cpu, memory) in enumerate(RESOURCES):
        res = f"{{cpu: {quoted(cpu)}, memory: {quoted(memory)}, ephemeral-storage: {quoted(memory)}}}"
        roles += f"  - id: r{i}\n    members: 1\n    resources:\n      limits: {res}\n      requests: {res}\n"
        if i < len(STORAGE):
            roles += f"    storage: {{size: {quoted(STORAGE[i])}, storageClassName: standard}}\n"
        if i < len(SHARED_MEMORY):
            roles += f"    sharedMemory: {quoted(SHARED_MEMORY[i])}\n"
        if i < len(BLOCK_STORAGE):
            roles += (f"    blockStorage: {{size: {quoted(BLOCK_STORAGE[i])}, storageClassName: fast, "
                      "pathPrefix: /dev/xvd, numDevices: 1}\n")
    cluster = ("apiVersion: kubedirector.hpe.com/v1beta1\nkind: KubeDirectorCluster\nmetadata: {name: q1}\n"
               "spec:\n  app: q\n  roles:\n" + roles)
    return {"catalog/q.yaml": app, "clusters/q1.yaml": cluster,
            "kdrender.yaml": "kdrender:\n  kubernetesVersion: \"1.36\"\n"}


def quantities(sts: dict) -> dict:
    """Every quantity field of a StatefulSet: {where: text}."""
    out = {}
    template = sts["spec"]["template"]["spec"]
    for container in template.get("containers", []) + template.get("initContainers", []):
        for kind, values in (container.get("resources") or {}).items():
            for name, text in values.items():
                out[f"{container['name']}.{kind}.{name}"] = text
    for claim in sts["spec"].get("volumeClaimTemplates", []):
        for name, text in claim["spec"]["resources"]["requests"].items():
            out[f"claim.{claim['metadata']['name']}.{name}"] = text
    for volume in template.get("volumes", []):
        if "sizeLimit" in (volume.get("emptyDir") or {}):
            out[f"emptyDir.{volume['name']}"] = volume["emptyDir"]["sizeLimit"]
    return out


def kubectl(*args, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([KUBECTL, "--kubeconfig", KUBECONFIG, *args], input=stdin, capture_output=True,
                          text=True, timeout=120)


@pytest.fixture(scope="module")
def namespace():
    if not KUBECTL:
        pytest.skip("kubectl not found (set KDRENDER_E2E_KUBECTL)")
    name = f"kdrender-quantities-{uuid.uuid4().hex[:8]}"
    created = kubectl("create", "namespace", name)
    assert created.returncode == 0, created.stderr
    yield name
    kubectl("delete", "namespace", name, "--wait=false")


@pytest.fixture(scope="module")
def statefulsets(tmp_path_factory):
    root = tmp_path_factory.mktemp("quantities")
    for rel, text in repo_files().items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text, encoding="utf-8")
    [(_, _, objects)] = render_model(load_model(str(root)))
    return [o for o in objects if o["kind"] == "StatefulSet"]


def test_the_api_server_stores_every_quantity_as_rendered(namespace, statefulsets):
    assert len(statefulsets) == len(RESOURCES)
    rendered = {}
    for sts in statefulsets:
        sts = json.loads(json.dumps(sts))
        sts["metadata"]["namespace"] = namespace
        rendered[sts["metadata"]["name"]] = sts
    stream = {"apiVersion": "v1", "kind": "List", "items": list(rendered.values())}
    applied = kubectl("apply", "--dry-run=server", "-o", "json", "-n", namespace, "-f", "-", stdin=json.dumps(stream))
    assert applied.returncode == 0, applied.stderr
    stored = json.loads(applied.stdout)
    items = stored["items"] if stored.get("kind") == "List" else [stored]
    assert sorted(item["metadata"]["name"] for item in items) == sorted(rendered)
    compared = 0
    for item in items:
        mine, theirs = quantities(rendered[item["metadata"]["name"]]), quantities(item)
        assert theirs == mine, item["metadata"]["name"]
        assert all(canonical(text) == text for text in mine.values())
        compared += len(mine)
    assert compared >= len(RESOURCES) * 6 + len(STORAGE) + len(SHARED_MEMORY) + len(BLOCK_STORAGE)


def test_the_inputs_as_written_would_be_stored_differently(namespace, statefulsets):
    """The reason for canonical form: sent as the cluster file spells them, many values come back
    rewritten (which Argo CD shows as OutOfSync forever)."""
    sts = json.loads(json.dumps(statefulsets[0]))
    sts["metadata"]["namespace"] = namespace
    cpu, memory = RESOURCES[0]
    app = next(c for c in sts["spec"]["template"]["spec"]["containers"] if c["name"] == "app")
    app["resources"] = {"limits": {"cpu": cpu, "memory": memory}}
    applied = kubectl("apply", "--dry-run=server", "-o", "json", "-n", namespace, "-f", "-", stdin=json.dumps(sts))
    assert applied.returncode == 0, applied.stderr
    limits = next(c for c in json.loads(applied.stdout)["spec"]["template"]["spec"]["containers"]
                  if c["name"] == "app")["resources"]["limits"]
    assert limits == {"cpu": canonical(cpu), "memory": canonical(memory)} != {"cpu": cpu, "memory": memory}



def test_rendering_canonical_over_the_stored_spelling_changes_nothing(namespace, statefulsets):
    """README "Upgrading": a StatefulSet applied from a bundle written before (``cpu: 0.5``,
    ``memory: 1024Mi`` as written) is not changed by the canonical bundle: the API server stored
    these values canonical already (``kubectl diff`` finds nothing to change), while a spelling it
    keeps as written (``1.500``) does change."""
    sts = json.loads(json.dumps(statefulsets[0]))
    sts["metadata"]["namespace"] = namespace
    sts["spec"]["replicas"] = 0  # no pods, whether or not a controller runs

    def spelled(cpu, memory) -> dict:
        old = json.loads(json.dumps(sts))
        for container in old["spec"]["template"]["spec"]["containers"] + old["spec"]["template"]["spec"].get(
                "initContainers", []):
            res = {"cpu": cpu, "memory": memory, "ephemeral-storage": memory}
            container["resources"] = {"limits": dict(res), "requests": dict(res)}
        return old

    def server_side(verb: str, obj: dict) -> subprocess.CompletedProcess:
        return kubectl(verb, "--server-side", "--field-manager=kdrender-e2e", "-f", "-", stdin=json.dumps(obj))

    assert quantities(spelled(*RESOURCES[0])) != quantities(sts)
    for (cpu, memory), changes in ((RESOURCES[0], False), (("1.500", "+1Gi"), True)):
        old, new = spelled(cpu, memory), spelled(canonical(cpu, True), canonical(memory, True))
        assert quantities(old) != quantities(new)
        applied = server_side("apply", old)
        assert applied.returncode == 0, applied.stderr
        diff = server_side("diff", new)
        assert diff.returncode == (1 if changes else 0), diff.stdout + diff.stderr
        assert (canonical(cpu) in diff.stdout) == changes
    kubectl("delete", "statefulset", sts["metadata"]["name"], "-n", namespace, "--wait=false")
