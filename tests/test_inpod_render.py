"""Issue 10, what the bundle carries for the in-pod agent (the agent itself: test_agent.py)."""

from __future__ import annotations

from pathlib import Path

from kdrender.pipeline import load_model, render_model
from kdrender.resolve import resolve_model

ROOT = Path(__file__).resolve().parent.parent


def render_repo(tmp_path: Path, cluster_text: str | None = None, extra: dict | None = None):
    repo = tmp_path / "repo"
    (repo / "catalog").mkdir(parents=True, exist_ok=True)
    (repo / "clusters").mkdir(exist_ok=True)
    (repo / "catalog" / "cassandra311.json").write_text((ROOT / "catalog" / "cassandra311.json").read_text())
    (repo / "clusters" / "c.yaml").write_text(cluster_text or (ROOT / "clusters" / "cassandra311.yaml").read_text())
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
