"""Fixtures of the end-to-end suite (tests/e2e/test_e2e.py skips itself without a cluster).

Settings (environment):
  KDRENDER_E2E_KUBECONFIG      kubeconfig of a disposable cluster (required; nothing runs without it)
  KDRENDER_E2E_KUBECTL         kubectl to use (default: the venv's, then PATH, then the k8s-node kit's)
  KDRENDER_E2E_IMAGE           plain app image (default localhost/kdapp:1: python, setuptools, curl)
  KDRENDER_E2E_SYSTEMD_IMAGE   systemd app image (default localhost/kdapp-systemd:1)
  KDRENDER_E2E_STORAGE_CLASS   StorageClass of the clusters' volumes (default: local-hostpath when
                               the cluster has it, else the cluster's default class)
  KDRENDER_E2E_KEEP=1          keep the namespaces after the run (for debugging)
"""

from __future__ import annotations

import base64
import os
import secrets

import pytest

from . import e2e_app
from .e2e_kube import IMAGE, REPORT, Deployment, Kube, pod_ready, wait_for

KUBECONFIG = os.environ.get("KDRENDER_E2E_KUBECONFIG", "")
PKG_PORT = 8000


def pytest_terminal_summary(terminalreporter):
    if REPORT:
        terminalreporter.section("kdrender e2e measurements")
        for line in REPORT:
            terminalreporter.write_line(line)


@pytest.fixture(scope="session")
def kube() -> Kube:
    k = Kube(KUBECONFIG)
    k.run("get", "--raw", "/readyz")
    return k


@pytest.fixture(scope="session")
def run_id() -> str:
    return secrets.token_hex(2)


@pytest.fixture(scope="session")
def storage_class(kube) -> str:
    if os.environ.get("KDRENDER_E2E_STORAGE_CLASS"):
        return os.environ["KDRENDER_E2E_STORAGE_CLASS"]
    classes = kube.json("get", "storageclass")["items"]
    names = [c["metadata"]["name"] for c in classes]
    if "local-hostpath" in names:
        return "local-hostpath"
    for c in classes:
        notes = c["metadata"].get("annotations") or {}
        if notes.get("storageclass.kubernetes.io/is-default-class") == "true":
            return c["metadata"]["name"]
    pytest.fail(f"no StorageClass to use (have {names}); set KDRENDER_E2E_STORAGE_CLASS")


@pytest.fixture(scope="session")
def namespaces(kube):
    made: list = []
    yield made
    if os.environ.get("KDRENDER_E2E_KEEP") != "1":
        for ns in made:
            kube.delete_namespace(ns)


@pytest.fixture(scope="session")
def new_namespace(kube, namespaces, run_id):
    def make(name: str) -> str:
        ns = f"kde2e-{run_id}-{name}"
        kube.create_namespace(ns)
        namespaces.append(ns)
        return ns
    return make


@pytest.fixture(scope="session")
def package_server(kube, new_namespace) -> dict:
    """The setup package over HTTP from inside the cluster: python's http.server in the app
    image, serving a ConfigMap's binaryData."""
    ns = new_namespace("pkg")
    blob = e2e_app.package_tgz()

    labels = {"app": "pkgsrv"}
    kube.apply([
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "pkgsrv"},
         "binaryData": {"app.tgz": base64.b64encode(blob).decode()}},
        {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "pkgsrv", "labels": labels},
         "spec": {"terminationGracePeriodSeconds": 1, "automountServiceAccountToken": False,
                  "containers": [{"name": "app", "image": IMAGE, "imagePullPolicy": "IfNotPresent",
                                  "command": ["python3", "-m", "http.server", str(PKG_PORT), "--directory", "/srv"],
                                  "ports": [{"containerPort": PKG_PORT}],
                                  "readinessProbe": {"tcpSocket": {"port": PKG_PORT}, "periodSeconds": 2},
                                  "volumeMounts": [{"name": "pkg", "mountPath": "/srv"}]}],
                  "volumes": [{"name": "pkg", "configMap": {"name": "pkgsrv"}}]}},
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "pkgsrv"},
         "spec": {"selector": labels, "ports": [{"port": PKG_PORT, "targetPort": PKG_PORT}]}},
    ], ns)
    wait_for("the package server", lambda: pod_ready(kube.json("-n", ns, "get", "pod", "pkgsrv")), 120)
    return {"ns": ns, "pod": "pkgsrv", "url": f"http://pkgsrv.{ns}.svc.cluster.local:{PKG_PORT}/app.tgz"}


@pytest.fixture(scope="session")
def cgroup_mode(kube, package_server) -> str:
    """'v1' (legacy or hybrid: /sys/fs/cgroup is a tmpfs of controller mounts) or 'v2' (pure
    cgroup2 hierarchy), as a container on the node sees it."""
    fs = kube.exec(package_server["ns"], package_server["pod"], "stat -fc %T /sys/fs/cgroup").strip()
    return "v2" if fs == "cgroup2fs" else "v1"


@pytest.fixture(scope="session")
def make_deployment(kube, new_namespace, storage_class, tmp_path_factory):
    def make(short: str, cluster: dict, apps: list, poll_seconds: int = 10) -> Deployment:
        ns = new_namespace(short)
        root = tmp_path_factory.mktemp(f"repo-{short}")
        repo = e2e_app.Repo(root / "repo", storage_class, poll_seconds)
        for a in apps:
            repo.add_app(a)
        return Deployment(kube, ns, repo, cluster, root / "cache")
    return make


