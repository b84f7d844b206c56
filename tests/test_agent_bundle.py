"""End to end: the ConfigMaps kdrender renders, fed to the real agent.

The rendered configmeta and agent ConfigMaps are mounted into a fake container (see
test_agent.py for the fakes), the agent configures the member, and the configmeta.json it
assembles must equal the configmeta kdrender computes for that member.  A re-render with one
more worker must then make the running member call ``--addnodes`` with the new FQDN.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kdrender.pipeline import load_model, render_model
from kdrender.render.configmeta import configmeta, ready_domain
from kdrender.resolve import ResolvedModel, resolve_model
from test_agent import Pod

ROOT = Path(__file__).resolve().parent.parent


def rendered(tmp_path: Path, workers: int):
    repo = tmp_path / f"repo-{workers}"
    (repo / "catalog").mkdir(parents=True)
    (repo / "clusters").mkdir()
    (repo / "catalog" / "cassandra311.json").write_text((ROOT / "catalog" / "cassandra311.json").read_text())
    (repo / "clusters" / "cassandra311.yaml").write_text((ROOT / "clusters" / "cassandra311.yaml").read_text())
    model = load_model(str(repo))
    for role in model.clusters[0].spec["roles"]:
        if role["id"] == "worker":
            role["members"] = workers
    objects = render_model(model)[0][2]
    maps = {o["metadata"]["name"]: o["data"] for o in objects if o["kind"] == "ConfigMap"}
    meta = next(v for k, v in maps.items() if k.endswith("-configmeta"))
    agent = next(v for k, v in maps.items() if k.endswith("-kd-agent"))
    rc = resolve_model(model).clusters[0]
    return model, rc, meta, agent


@pytest.fixture
def member(tmp_path):
    model, rc, meta, agent = rendered(tmp_path, 2)
    seed = next(r for r in rc.roles if r.id == "seed")
    pod = Pod(tmp_path / "pod", ["dash"], pod=seed.pods[0])
    pod.install_rendered(agent, "seed")
    pod.publish({}, files=meta)
    return model, rc, seed, pod


def test_agent_assembles_the_rendered_configmeta(member):
    model, rc, seed, pod = member
    result = pod.run()
    assert result.returncode == 0, result.stdout + result.stderr
    assert pod.ready() and pod.state() == "configured"
    got = json.loads(pod.read("/etc/guestconfig/configmeta.json"))
    # kdrender's own view of this member's configmeta (the model is what the bundle came from)
    resolved = ResolvedModel(model, [rc])
    assert got == configmeta(rc, resolved, seed, 0)
    assert got["node"]["fqdn"] == rc.fqdn(seed.pods[0])
    assert pod.startscript_calls() == ["--configure [gen=]"]


def test_rerendered_configmeta_makes_the_member_add_the_new_worker(member, tmp_path):
    model, rc, seed, pod = member
    assert pod.run().returncode == 0
    _, rc3, meta3, _ = rendered(tmp_path, 3)
    new = next(r for r in rc3.roles if r.id == "worker").pods[2]
    # the new worker resolves, and is Ready: its address has a name under the readiness Service
    (pod.fake / "hosts").write_text(f"{rc3.fqdn(new)} 10.4.0.9\n10-4-0-9.{ready_domain(rc3)}\n")
    pod.publish({}, files=meta3)
    assert pod.run().returncode == 0
    assert pod.startscript_calls() == [
        "--configure [gen=]",
        f"--addnodes --nodegroup 1 --role worker --fqdns {rc3.fqdn(new)} [gen=]",
    ]
    assert json.loads(pod.read("/etc/guestconfig/configmeta.json"))["nodegroups"]["1"]["roles"]["worker"]["fqdns"][-1] \
        == rc3.fqdn(new)
