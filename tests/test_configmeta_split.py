"""Issue 8: every rendered ConfigMap stays under 1 MiB, whatever the cluster size KubeDirector allows.

The configmeta of a 1,000-member cluster with realistic names is about 1.3 MB: kdrender splits it
over several ConfigMaps projected into one volume, and the agent joins them again (only when all of
them are of one version).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kdrender.pipeline import load_model, render_model
from kdrender.names import LISTED_SHARDS
from kdrender.render.configmeta import configmeta, shard
from kdrender.resolve import ResolvedModel, resolve_model
from test_agent import Pod

ROOT = Path(__file__).resolve().parent.parent
MIB = 1024 * 1024


def big_cluster(tmp_path: Path, workers: int = 998):
    """cassandra311 with 2 seeds and ``workers`` workers, long realistic names."""
    repo = tmp_path / "repo"
    (repo / "catalog").mkdir(parents=True)
    (repo / "clusters").mkdir()
    (repo / "catalog" / "cassandra311.json").write_text((ROOT / "catalog" / "cassandra311.json").read_text())
    text = (ROOT / "clusters" / "cassandra311.yaml").read_text()
    text = text.replace("name: cassandra-persistent", "name: customer-events-cassandra-production-eu")
    text = text.replace("namespace: databases", "namespace: platform-data-services-prod")
    text = text.replace("  - id: worker\n    members: 2\n", f"  - id: worker\n    members: {workers}\n")
    (repo / "clusters" / "c.yaml").write_text(text)
    model = load_model(str(repo))
    objects = render_model(model)[0][2]
    rc = resolve_model(model).clusters[0]
    return model, rc, objects


@pytest.fixture(scope="module")
def thousand(tmp_path_factory):
    return big_cluster(tmp_path_factory.mktemp("big"))


def data_size(obj: dict) -> int:
    """What the API server counts against the 1 MiB limit: the bytes of every key and value."""
    return sum(len(k.encode()) + len(v.encode()) for k, v in obj.get("data", {}).items())


def test_thousand_members_every_configmap_under_1_mib(thousand):
    model, rc, objects = thousand
    assert sum(r.members for r in rc.roles) == 1000
    maps = [o for o in objects if o["kind"] == "ConfigMap"]
    meta = [o for o in maps if o["metadata"]["name"].startswith(f"{rc.headless}-configmeta")]
    whole = sum(data_size(o) for o in meta)
    assert whole > 1.2 * MIB  # the case the issue describes: one ConfigMap could not hold it
    assert len(meta) >= 2
    for obj in maps:
        assert data_size(obj) < MIB
        assert len(json.dumps(obj, separators=(",", ":")).encode()) < MIB  # the serialized object too
    # every pod template projects all of them (the first required, the others optional)
    for sts in (o for o in objects if o["kind"] == "StatefulSet"):
        volume = next(v for v in sts["spec"]["template"]["spec"]["volumes"] if v["name"] == "kd-configmeta")
        sources = [s["configMap"] for s in volume["projected"]["sources"]]
        assert [s["name"] for s in sources[:len(meta)]] == [o["metadata"]["name"] for o in meta]
        assert len(sources) == LISTED_SHARDS and "optional" not in sources[0]
        assert all(s["optional"] is True for s in sources[1:])


def projection(maps: list) -> dict:
    """What kubelet writes into the projected volume: the keys of all ConfigMaps in one directory."""
    files: dict = {}
    for data in maps:
        assert not set(files) & set(data), "two ConfigMaps of one projection share a key"
        files.update(data)
    return files


def test_agent_joins_the_split_configmeta(thousand, tmp_path):
    model, rc, objects = thousand
    meta = [o["data"] for o in objects if o["kind"] == "ConfigMap"
            and o["metadata"]["name"].startswith(f"{rc.headless}-configmeta")]
    agent = next(o["data"] for o in objects if o["kind"] == "ConfigMap" and o["metadata"]["name"].endswith("-kd-agent"))
    worker = next(r for r in rc.roles if r.id == "worker")
    pod = Pod(tmp_path / "pod", ["dash"], pod=worker.pods[700])
    pod.install_rendered(agent, "worker")

    # Argo CD has applied only the first ConfigMap of a new version: the agent does not use the mix
    stale = dict(meta[1])
    stale[next(k for k in stale if k.startswith("shard."))] = "0123456789abcdef\n"
    pod.publish({}, files=projection([meta[0], stale, *meta[2:]]))
    result = pod.run()
    assert result.returncode == 1 and "cannot read" in pod.state()
    assert not pod.path("/etc/guestconfig/configmeta.json").exists()

    pod.publish({}, files=projection(meta))
    result = pod.run()
    assert result.returncode == 0, result.stdout + result.stderr
    got = json.loads(pod.read("/etc/guestconfig/configmeta.json"))
    assert got == configmeta(rc, ResolvedModel(model, [rc]), worker, 700)


def test_shard_cuts_large_values_on_character_boundaries():
    value = "ä" * 1000  # 2 bytes per character
    maps = shard([("configmeta.json", value), ("members", "m\n")], budget=600)
    assert len(maps) > 1
    files = projection(maps)
    joined = files["configmeta.json"] + "".join(files[f"configmeta.json.{i}"] for i in range(1, 10)
                                                if f"configmeta.json.{i}" in files)
    assert joined == value
    count, version = files["shards"].split()
    assert int(count) == len(maps)
    assert all(files[f"shard.{i}"] == version + "\n" for i in range(1, len(maps)))
    for data in maps:
        assert sum(len(k.encode()) + len(v.encode()) for k, v in data.items()) <= 600


def test_small_cluster_is_one_configmap_without_shard_keys():
    assert shard([("configmeta.json", "{}"), ("members", "a b\n")]) == [{"configmeta.json": "{}", "members": "a b\n"}]


def test_more_configmaps_than_pod_templates_list_are_all_projected(tmp_path, monkeypatch):
    """A configmeta that needs more ConfigMaps than the LISTED_SHARDS every pod template projects
    (here: a smaller budget instead of a much larger cluster) gets all of them listed."""
    import kdrender.render.configmeta as cm

    monkeypatch.setattr(cm, "SHARD_BUDGET", 64 * 1024)
    model, rc, objects = big_cluster(tmp_path, workers=300)
    meta = [o["metadata"]["name"] for o in objects if o["kind"] == "ConfigMap"
            and o["metadata"]["name"].startswith(f"{rc.headless}-configmeta")]
    assert len(meta) > LISTED_SHARDS
    for sts in (o for o in objects if o["kind"] == "StatefulSet"):
        volume = next(v for v in sts["spec"]["template"]["spec"]["volumes"] if v["name"] == "kd-configmeta")
        assert [s["configMap"]["name"] for s in volume["projected"]["sources"]] == meta
