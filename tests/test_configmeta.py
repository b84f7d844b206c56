"""configmeta (spec section 3): the worked example of section 3.3, its structure, node ids and the cluster id.

kdrender's node ids are deterministic (not KubeDirector's counter): the tests check what matters
to the guest scripts: they are unique, and a member that stays keeps its id whatever happens to
the other members and roles.
"""

from __future__ import annotations

import copy
import json
import uuid

import pytest

from render_helpers import (
    CLUSTER, ILLUSTRATIVE, SPEC, by_name, conformance_params, conformance_repo, of_kind, resolve,
    spec_block, write_repo,
)

from kdrender.render.configmeta import configmeta

# spec section 3.3 (the file seen by kdss-h2c6v-1), verbatim
EXAMPLE_JSON = r"""
{
  "version": "7",
  "services": {
    "livy-server": {"1": {"livy-server": {"bdvlibrefkey": ["nodegroups", "1", "roles", "livy-server", "services", "livy-server"]}}},
    "spark-master": {"1": {"spark-master": {"bdvlibrefkey": ["nodegroups", "1", "roles", "spark-master", "services", "spark-master"]}}},
    "spark-web": {"1": {"spark-master": {"bdvlibrefkey": ["nodegroups", "1", "roles", "spark-master", "services", "spark-web"]}}},
    "spark-worker": {"1": {"spark-worker": {"bdvlibrefkey": ["nodegroups", "1", "roles", "spark-worker", "services", "spark-worker"]}}}
  },
  "nodegroups": {
    "1": {
      "roles": {
        "livy-server": {
          "services": {
            "livy-server": {
              "qualifiers": [], "name": "livy-server", "id": "livy-server",
              "hostnames": {"bdvlibrefkey": ["nodegroups", "1", "roles", "livy-server", "hostnames"]},
              "global_id": "1_livy-server_livy-server",
              "fqdns": {"bdvlibrefkey": ["nodegroups", "1", "roles", "livy-server", "fqdns"]},
              "exported_service": "",
              "endpoints": ["http://kdss-tz9wd-0.kdhs-7xq2m.analytics.svc.cluster.local:8998"],
              "authToken": ""
            }
          },
          "node_ids": ["2"],
          "hostnames": ["kdss-tz9wd-0.kdhs-7xq2m.analytics.svc.cluster.local"],
          "fqdns": ["kdss-tz9wd-0.kdhs-7xq2m.analytics.svc.cluster.local"],
          "fqdn_mappings": {"kdss-tz9wd-0.kdhs-7xq2m.analytics.svc.cluster.local": "2"},
          "flavor": {"storage": "n/a", "name": "n/a", "memory": "4096", "description": "n/a", "cores": "2"}
        },
        "spark-master": {
          "services": {
            "spark-master": {
              "qualifiers": [], "name": "Spark-master", "id": "spark-master",
              "hostnames": {"bdvlibrefkey": ["nodegroups", "1", "roles", "spark-master", "hostnames"]},
              "global_id": "1_spark-master_spark-master",
              "fqdns": {"bdvlibrefkey": ["nodegroups", "1", "roles", "spark-master", "fqdns"]},
              "exported_service": "",
              "endpoints": ["spark://kdss-b4n8r-0.kdhs-7xq2m.analytics.svc.cluster.local:7077"],
              "authToken": ""
            },
            "spark-web": {
              "qualifiers": [], "name": "Spark-web", "id": "spark-web",
              "hostnames": {"bdvlibrefkey": ["nodegroups", "1", "roles", "spark-master", "hostnames"]},
              "global_id": "1_spark-master_spark-web",
              "fqdns": {"bdvlibrefkey": ["nodegroups", "1", "roles", "spark-master", "fqdns"]},
              "exported_service": "",
              "endpoints": ["http://kdss-b4n8r-0.kdhs-7xq2m.analytics.svc.cluster.local:8080"],
              "authToken": ""
            }
          },
          "node_ids": ["1"],
          "hostnames": ["kdss-b4n8r-0.kdhs-7xq2m.analytics.svc.cluster.local"],
          "fqdns": ["kdss-b4n8r-0.kdhs-7xq2m.analytics.svc.cluster.local"],
          "fqdn_mappings": {"kdss-b4n8r-0.kdhs-7xq2m.analytics.svc.cluster.local": "1"},
          "flavor": {"storage": "n/a", "name": "n/a", "memory": "4096", "description": "n/a", "cores": "2"}
        },
        "spark-worker": {
          "services": {
            "spark-worker": {
              "qualifiers": [], "name": "spark-worker", "id": "spark-worker",
              "hostnames": {"bdvlibrefkey": ["nodegroups", "1", "roles", "spark-worker", "hostnames"]},
              "global_id": "1_spark-worker_spark-worker",
              "fqdns": {"bdvlibrefkey": ["nodegroups", "1", "roles", "spark-worker", "fqdns"]},
              "exported_service": "",
              "endpoints": ["http://kdss-h2c6v-0.kdhs-7xq2m.analytics.svc.cluster.local:8081",
                            "http://kdss-h2c6v-1.kdhs-7xq2m.analytics.svc.cluster.local:8081"],
              "authToken": ""
            }
          },
          "node_ids": ["3", "4"],
          "hostnames": ["kdss-h2c6v-0.kdhs-7xq2m.analytics.svc.cluster.local", "kdss-h2c6v-1.kdhs-7xq2m.analytics.svc.cluster.local"],
          "fqdns": ["kdss-h2c6v-0.kdhs-7xq2m.analytics.svc.cluster.local", "kdss-h2c6v-1.kdhs-7xq2m.analytics.svc.cluster.local"],
          "fqdn_mappings": {"kdss-h2c6v-0.kdhs-7xq2m.analytics.svc.cluster.local": "3",
                            "kdss-h2c6v-1.kdhs-7xq2m.analytics.svc.cluster.local": "4"},
          "flavor": {"storage": "n/a", "name": "n/a", "memory": "8192", "description": "n/a", "cores": "4"}
        }
      },
      "distro_id": "bluedata/spark245",
      "catalog_entry_version": "1.0",
      "config_metadata": null
    }
  },
  "distros": {"bluedata/spark245": {"1": {"bdvlibrefkey": ["nodegroups", "1"]}}},
  "cluster": {"name": "spark-instance", "isolated": false, "id": "6f1c2a9e-3b7d-4c1e-9a55-0d2f8e4b7c11",
              "config_metadata": {"1": {"bdvlibrefkey": ["nodegroups", "1", "config_metadata"]}}},
  "node": {"role_id": "spark-worker", "nodegroup_id": "1", "id": "4",
           "hostname": "kdss-h2c6v-1.kdhs-7xq2m.analytics.svc.cluster.local",
           "fqdn": "kdss-h2c6v-1.kdhs-7xq2m.analytics.svc.cluster.local",
           "domain": "kdhs-7xq2m.analytics.svc.cluster.local", "distro_id": "bluedata/spark245", "depends_on": {}},
  "connections": {"clusters": {}, "configmaps": {}, "secrets": {}}
}
"""
EXAMPLE_IDS = {"kdss-b4n8r-0": "1", "kdss-tz9wd-0": "2", "kdss-h2c6v-0": "3", "kdss-h2c6v-1": "4"}



class Cluster:
    """The section 2.8/3.3 cluster, resolved: ``doc(role, ordinal)`` is that member's configmeta."""

    def __init__(self, root, app_text, scheme="UID", edits=(), name="spark-instance", namespace="analytics"):
        text = CLUSTER.format(scheme=scheme)
        for old, new in edits:
            assert text.count(old) == 1, old
            text = text.replace(old, new)
        text = text.replace("name: spark-instance", f"name: {name}").replace("namespace: analytics",
                                                                             f"namespace: {namespace}")
        write_repo(root, {"catalog/cr-app-spark245.json": app_text, "clusters/c.yaml": text})
        self.model, self.resolved = resolve(root)
        (self.rc,) = self.resolved.clusters
        self.roles = {r.id: r for r in self.rc.roles}

    def doc(self, role_id, ordinal):
        return configmeta(self.rc, self.resolved, self.roles[role_id], ordinal)

    def ids(self) -> dict:
        """pod -> node id, from every member's own configmeta."""
        out = {}
        for role in self.rc.roles:
            for i, pod in enumerate(role.pods):
                node = self.doc(role.id, i)["node"]
                out[pod] = node["id"]
        return out


def workers(n):
    return ("  - id: spark-worker\n    members: 2\n", f"  - id: spark-worker\n    members: {n}\n")


LIVY = """  - id: livy-server
    members: 1
    resources:
      requests: {cpu: "2", memory: 4Gi}
      limits: {cpu: "2", memory: 4Gi}
"""


def notebook(members=1, first=False):
    """Add the notebook-server role (cardinality 0+, so it may also be removed again)."""
    role = f"""  - id: notebook-server
    members: {members}
    resources:
      requests: {{cpu: "1", memory: 2Gi}}
      limits: {{cpu: "1", memory: 2Gi}}
"""
    return (LIVY, role + LIVY) if first else (LIVY, LIVY + role)


def test_section_3_3_reproduced(tmp_path, spark245_app):
    """The file seen by the second worker, equal to the spec's after mapping names, node ids and the cluster id."""
    c = Cluster(tmp_path, spark245_app)
    names = {ILLUSTRATIVE["hs"]: c.rc.headless}
    names.update({ILLUSTRATIVE[r.id]: r.statefulset for r in c.rc.roles})
    rendered_ids = c.ids()

    def rename(value):
        if isinstance(value, dict):
            return {rename(k): rename(v) for k, v in value.items()}
        if isinstance(value, list):
            return [rename(v) for v in value]
        if isinstance(value, str):
            for old, new in names.items():
                value = value.replace(old, new)
        return value

    pod_of_example_id = {v: rename(k) for k, v in EXAMPLE_IDS.items()}

    def new_id(example_id):
        return rendered_ids[pod_of_example_id[example_id]]

    want = rename(json.loads(EXAMPLE_JSON))
    for role in want["nodegroups"]["1"]["roles"].values():
        role["node_ids"] = [new_id(i) for i in role["node_ids"]]
        role["fqdn_mappings"] = {f: new_id(i) for f, i in role["fqdn_mappings"].items()}
    want["node"]["id"] = new_id(want["node"]["id"])
    want["cluster"]["id"] = c.rc.cluster_id
    got = c.doc("spark-worker", 1)
    assert got == want


def test_structure(tmp_path, spark245_app):
    c = Cluster(tmp_path, spark245_app)
    doc = c.doc("spark-master", 0)
    assert doc["version"] == "7"
    ng = doc["nodegroups"]["1"]
    assert set(ng["roles"]) == {"spark-master", "livy-server", "spark-worker"}
    assert ng["distro_id"] == "bluedata/spark245" and ng["catalog_entry_version"] == "1.0"
    assert ng["config_metadata"] is None
    assert doc["distros"] == {"bluedata/spark245": {"1": {"bdvlibrefkey": ["nodegroups", "1"]}}}
    assert doc["cluster"]["name"] == "spark-instance" and doc["cluster"]["isolated"] is False
    assert doc["cluster"]["config_metadata"] == {"1": {"bdvlibrefkey": ["nodegroups", "1", "config_metadata"]}}
    assert doc["connections"] == {"clusters": {}, "configmaps": {}, "secrets": {}}
    # every top-level service refkey resolves to that role's service
    assert set(doc["services"]) == {"spark-web", "spark-master", "livy-server", "spark-worker"}
    for sid, by_group in doc["services"].items():
        for role_id, ref in by_group["1"].items():
            path = ref["bdvlibrefkey"]
            assert path == ["nodegroups", "1", "roles", role_id, "services", sid]
            node = doc
            for part in path:
                node = node[part]
            assert node["id"] == sid and node["global_id"] == f"1_{role_id}_{sid}"
    domain = f"{c.rc.headless}.analytics.svc.cluster.local"
    for role_id, role in ng["roles"].items():
        pods = c.roles[role_id].pods
        assert role["fqdns"] == [f"{pod}.{domain}" for pod in pods]
        assert role["hostnames"] == role["fqdns"]
        assert len(role["node_ids"]) == len(pods) == len(set(role["node_ids"]))
        assert role["fqdn_mappings"] == dict(zip(role["fqdns"], role["node_ids"]))
        for service in role["services"].values():
            assert service["hostnames"] == {"bdvlibrefkey": ["nodegroups", "1", "roles", role_id, "hostnames"]}
            assert service["fqdns"] == {"bdvlibrefkey": ["nodegroups", "1", "roles", role_id, "fqdns"]}
            assert service["qualifiers"] == [] and service["authToken"] == "" and service["exported_service"] == ""
            scheme, port = {"spark-web": ("http", 8080), "spark-master": ("spark", 7077),
                            "livy-server": ("http", 8998), "spark-worker": ("http", 8081)}[service["id"]]
            assert service["endpoints"] == [f"{scheme}://{fqdn}:{port}" for fqdn in role["fqdns"]]
    flavors = {r: ng["roles"][r]["flavor"] for r in ng["roles"]}
    assert flavors["spark-master"] == {"storage": "n/a", "name": "n/a", "memory": "4096", "description": "n/a",
                                       "cores": "2"}
    assert flavors["livy-server"]["memory"] == "4096" and flavors["livy-server"]["cores"] == "2"
    assert flavors["spark-worker"]["memory"] == "8192" and flavors["spark-worker"]["cores"] == "4"
    # node section of every member
    for role_id, role in ng["roles"].items():
        for i, fqdn in enumerate(role["fqdns"]):
            node = c.doc(role_id, i)["node"]
            assert node == {"role_id": role_id, "nodegroup_id": "1", "id": role["node_ids"][i], "hostname": fqdn,
                            "fqdn": fqdn, "domain": domain, "distro_id": "bluedata/spark245", "depends_on": {}}
            # the shared part is the same for every member
            other = c.doc(role_id, i)
            del other["node"]
            shared = copy.deepcopy(doc)
            del shared["node"]
            assert other == shared


def test_quirk_services_of_roles_without_members(tmp_path, spark245_app):
    """Top-level ``services`` lists every role of the cluster with the service, even with 0 members
    (KubeDirector's quirk); ``nodegroups.1.roles`` only roles with members."""
    c = Cluster(tmp_path, spark245_app, edits=[notebook(0)])
    doc = c.doc("spark-master", 0)
    assert doc["services"]["jupyter-nb"] == {"1": {"notebook-server": {"bdvlibrefkey": [
        "nodegroups", "1", "roles", "notebook-server", "services", "jupyter-nb"]}}}
    assert "notebook-server" not in doc["nodegroups"]["1"]["roles"]


def test_configmap_matches_configmeta(tmp_path, spark245_app):
    """The configmeta ConfigMap: the shared document (compact JSON, no node) plus one node file per member
    join into exactly configmeta() of that member."""
    c = Cluster(tmp_path, spark245_app)
    from kdrender.render import render_cluster

    objects = render_cluster(c.rc, c.resolved)
    cm = by_name(of_kind(objects, "ConfigMap"))[f"{c.rc.headless}-configmeta"]
    shared_text = cm["data"]["configmeta.json"]
    assert "\n" not in shared_text and ", " not in shared_text and ": " not in shared_text
    shared = json.loads(shared_text)
    assert "node" not in shared
    for role in c.rc.roles:
        for i, pod in enumerate(role.pods):
            node = json.loads(cm["data"][f"{pod}.node.json"])
            assert {**shared, "node": node} == c.doc(role.id, i)
    members = cm["data"]["members"].splitlines()
    assert sorted(members) == sorted(f"{r.id} {c.rc.fqdn(p)}" for r in c.rc.roles for p in r.pods)


def test_node_ids_stable(tmp_path, spark245_app):
    """Unique in every render; a member that stays keeps its id across scale up, scale down, role
    removal, role addition and role reordering; an id never moves to another member."""
    variants = {
        "base": [],
        "up": [workers(3)],
        "down": [workers(1)],
        "notebook": [notebook()],  # role added; "base" is the same cluster with it removed
        "notebook-first": [notebook(first=True), workers(4)],
        "notebook-0": [notebook(0)],
    }
    renders = {label: Cluster(tmp_path / label, spark245_app, edits=edits).ids() for label, edits in variants.items()}
    # livy-server moved to the end of the roles list
    livy_last = CLUSTER.format(scheme="UID").replace(LIVY, "") + LIVY
    write_repo(tmp_path / "livy-last", {"catalog/cr-app-spark245.json": spark245_app, "clusters/c.yaml": livy_last})
    model, resolved = resolve(tmp_path / "livy-last")
    (rc,) = resolved.clusters
    assert [r.id for r in rc.roles] == ["spark-master", "spark-worker", "livy-server"]
    renders["livy-last"] = {pod: configmeta(rc, resolved, r, i)["node"]["id"]
                            for r in rc.roles for i, pod in enumerate(r.pods)}

    base = renders["base"]
    assert len(base) == 4
    assert len(renders["up"]) == 5 and len(renders["down"]) == 3 and len(renders["notebook"]) == 5
    assert len(renders["notebook-0"]) == 4
    for label, ids in renders.items():
        assert len(set(ids.values())) == len(ids), (label, ids)
        assert all(v.isdigit() and int(v) >= 1 for v in ids.values())
        for other_label, other in renders.items():  # every pair: scale up/down, role added/removed/moved
            for pod in set(ids) & set(other):
                assert ids[pod] == other[pod], (label, other_label, pod)
    owners = {}
    for ids in renders.values():
        for pod, node_id in ids.items():
            assert owners.setdefault(node_id, pod) == pod, f"id {node_id} given to {owners[node_id]} and {pod}"


def test_cluster_id_is_stable_uuid5(tmp_path, spark245_app):
    from kdrender.resolve import CLUSTER_ID_NAMESPACE

    a = Cluster(tmp_path / "a", spark245_app).rc.cluster_id
    b = Cluster(tmp_path / "b", spark245_app, edits=[workers(5), notebook()]).rc.cluster_id
    c = Cluster(tmp_path / "c", spark245_app, scheme="CrNameRole").rc.cluster_id
    assert a == b == c
    assert uuid.UUID(a).version == 5
    assert a == str(uuid.uuid5(uuid.UUID(CLUSTER_ID_NAMESPACE), "analytics/spark-instance"))
    assert CLUSTER_ID_NAMESPACE == str(uuid.uuid5(uuid.NAMESPACE_DNS, "kdrender.dev"))
    assert Cluster(tmp_path / "d", spark245_app, namespace="other").rc.cluster_id != a
    assert Cluster(tmp_path / "e", spark245_app, name="spark-other").rc.cluster_id != a


@pytest.mark.parametrize("version,name", conformance_params())
def test_conformance_configmeta_consistent(tmp_path, version, name):
    """For every conformance cluster with a setup package: the ConfigMap's documents are consistent."""
    root = conformance_repo(tmp_path, version, name)
    model, resolved = resolve(root)
    (rc,) = resolved.clusters
    from kdrender.render import render_cluster

    objects = render_cluster(rc, resolved)
    cms = by_name(of_kind(objects, "ConfigMap"))
    if not any(r.package for r in rc.roles):
        assert not cms
        return
    shared = json.loads(cms[f"{rc.headless}-configmeta"]["data"]["configmeta.json"])
    all_ids = []
    for role in rc.roles:
        if role.members == 0:
            assert role.id not in shared["nodegroups"]["1"]["roles"]
            continue
        entry = shared["nodegroups"]["1"]["roles"][role.id]
        assert entry["fqdns"] == [rc.fqdn(p) for p in role.pods] == entry["hostnames"]
        assert entry["fqdn_mappings"] == dict(zip(entry["fqdns"], entry["node_ids"]))
        all_ids += entry["node_ids"]
        limits = role.spec["resources"]["limits"]
        assert entry["flavor"]["cores"] == str(limits["cpu"])
        memory = str(limits["memory"])
        assert memory.endswith("Gi") and entry["flavor"]["memory"] == str(int(memory[:-2]) * 1024)
        for i, pod in enumerate(role.pods):
            doc = configmeta(rc, resolved, role, i)
            assert doc["node"]["id"] == entry["node_ids"][i] and doc["node"]["fqdn"] == entry["fqdns"][i]
    assert len(all_ids) == len(set(all_ids))


def test_embedded_configmeta_matches_spec():
    if not SPEC.is_file():
        pytest.skip(f"spec not found at {SPEC}")
    assert json.loads(spec_block("### 3.3", "json")) == json.loads(EXAMPLE_JSON)


def test_maps_in_go_json_marshal_order(tmp_path, spark245_app):
    """Go's json.Marshal writes map keys sorted: the role keys of ``services.<id>.1`` and
    ``fqdn_mappings`` too (12 workers: ``...-10`` sorts before ``...-2``)."""
    app = json.loads(spark245_app)
    for entry in app["spec"]["config"]["roleServices"]:  # one service offered by every role
        entry["serviceIDs"] = sorted(set(entry["serviceIDs"]) | {"spark-worker"})
    c = Cluster(tmp_path, json.dumps(app), edits=[workers(12)])
    from kdrender.render import render_cluster

    objects = render_cluster(c.rc, c.resolved)
    cm = by_name(of_kind(objects, "ConfigMap"))[f"{c.rc.headless}-configmeta"]
    shared = json.loads(cm["data"]["configmeta.json"])  # dicts keep the text's key order
    multi_role = [sid for sid, by_ng in shared["services"].items() if len(by_ng["1"]) > 1]
    assert multi_role, "the test needs a service of several roles"
    for by_ng in shared["services"].values():
        assert list(by_ng["1"]) == sorted(by_ng["1"])
    mappings = shared["nodegroups"]["1"]["roles"]["spark-worker"]["fqdn_mappings"]
    assert len(mappings) == 12 and list(mappings) == sorted(mappings)
    assert list(mappings) != list(shared["nodegroups"]["1"]["roles"]["spark-worker"]["fqdns"])
