"""Issue 10, what the bundle carries for the in-pod agent (the agent itself: test_agent.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from kdrender.pipeline import load_model, render_model
from kdrender.resolve import resolve_model

ROOT = Path(__file__).resolve().parent.parent


def render_repo(tmp_path: Path, cluster_text: str | None = None, extra: dict | None = None):
    repo = tmp_path / "repo"
    render_repo_files(tmp_path, cluster_text or (ROOT / "clusters" / "cassandra311.yaml").read_text())
    for rel, text in (extra or {}).items():
        (repo / rel).write_text(text)
    model = load_model(str(repo))
    objects = render_model(model)[0][2]
    return model, resolve_model(model).clusters[0], objects


def named(objects, kind, name):
    return next(o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name)


def test_readiness_service_lists_only_ready_members(tmp_path):
    _, rc, objects = render_repo(tmp_path)
    headless = named(objects, "Service", rc.headless)
    ready = named(objects, "Service", f"{rc.headless}-ready")
    assert headless["spec"]["publishNotReadyAddresses"] is True
    assert ready["spec"]["publishNotReadyAddresses"] is False
    assert ready["spec"]["clusterIP"] == "None" and ready["spec"]["selector"] == headless["spec"]["selector"]
    agent = named(objects, "ConfigMap", f"{rc.headless}-kd-agent")
    domain = f"{rc.headless}-ready.{rc.cluster.namespace}.svc.cluster.local"
    for role in rc.roles:
        assert f"KD_READY_DOMAIN='{domain}'\n" in agent["data"][f"{role.id}.env"]


CONNECTED = """\
apiVersion: kubedirector.hpe.com/v1beta1
kind: KubeDirectorCluster
metadata:
  name: ring
  annotations:
    kdrender.dev/configmap-types: "typed=git"
spec:
  app: cassandra311
  connections:
    configmaps: [typed, untyped]
    secrets: [creds]
  roles:
  - id: seed
    members: 2
    resources: {requests: {cpu: "1", memory: 1Gi}, limits: {cpu: "1", memory: 1Gi}}
    secretKeys:
    - name: license
"""


def test_validate_warns_about_what_cannot_be_checked_offline(tmp_path):
    import json

    from render_helpers import run_cli

    render_repo(tmp_path, CONNECTED)  # renders: warnings never stop a render
    result = run_cli("validate", str(tmp_path / "repo"), "--format", "json")
    assert result.exit_code == 0, result.stdout + result.stderr
    found = {(p["path"], p["rule"], p["level"]): p["message"] for p in json.loads(result.stdout)}
    typed = found[("spec.connections.configmaps[0]", "connected-objects", "warning")]
    assert "'typed' is not in this repo" in typed and "no kubedirector" not in typed
    untyped = found[("spec.connections.configmaps[1]", "connected-objects", "warning")]
    assert 'kdrender.dev/configmap-types: "untyped=<type>"' in untyped
    assert "kubedirector.hpe.com/secretType" in found[("spec.connections.secrets[0]", "connected-objects", "warning")]
    assert "kdrender.dev/secret-keys" in found[("spec.roles[0].secretKeys", "connected-objects", "warning")]


def test_adopted_status_tokens_are_never_rendered(tmp_path):
    import json

    from render_helpers import run_cli

    token = "d41d8cd98f00b204e9800998ecf8427e"
    text = CONNECTED + f"""status:
  clusterService: kdhs-abcde
  roles:
  - id: seed
    members:
    - {{pod: ring-seed-0, authToken: {token}}}
"""
    _, rc, objects = render_repo(tmp_path, text)
    assert token not in json.dumps(objects)
    result = run_cli("validate", str(tmp_path / "repo"))
    out = result.stdout + result.stderr
    assert "auth tokens of 1 member(s)" in out and "'kdhs-abcde-auth-tokens'" in out and token not in out


@pytest.mark.parametrize("edit, path", [
    (("configmaps: [typed, untyped]", "configmaps: [typed, ../../etc]"), "spec.connections.configmaps[1]"),
    (("secrets: [creds]", "secrets: [\"a\\tb\"]"), "spec.connections.secrets[0]"),
    (('kdrender.dev/configmap-types: "typed=git"', 'kdrender.dev/secret-keys: "Bad Name"'),
     'metadata.annotations["kdrender.dev/secret-keys"]'),
])
def test_connected_object_names_must_be_valid(tmp_path, edit, path):
    import json

    from render_helpers import run_cli

    render_repo_files(tmp_path, CONNECTED.replace(*edit))
    result = run_cli("validate", str(tmp_path / "repo"), "--format", "json")
    assert result.exit_code == 1
    found = [p for p in json.loads(result.stdout) if p["rule"] == "connection-names"]
    assert [p["path"] for p in found] == [path]


def render_repo_files(tmp_path: Path, cluster_text: str) -> None:
    repo = tmp_path / "repo"
    (repo / "catalog").mkdir(parents=True, exist_ok=True)
    (repo / "clusters").mkdir(exist_ok=True)
    (repo / "catalog" / "cassandra311.json").write_text((ROOT / "catalog" / "cassandra311.json").read_text())
    (repo / "clusters" / "c.yaml").write_text(cluster_text)


def test_go_json_escapes_like_kubedirectors_go():
    """Go 1.18 (KubeDirector's) writes \\u0008 and \\u000c, HTML characters escaped; an escaped
    backslash followed by b or f stays as it is."""
    from kdrender.render.configmeta import go_json

    assert go_json(["\b\f", "\\b", "a\\\b", "<&>"]) == '["\\u0008\\u000c","\\\\b","a\\\\\\u0008","\\u003c\\u0026\\u003e"]'
