"""Adopting a cluster KubeDirector runs: a KubeDirectorCluster exported with its status
(``kubectl get kdcluster -o yaml``) keeps KubeDirector's object names, node ids and cluster id,
so the StatefulSets, their PVCs (``p-<pod>``) and the guests' configmeta stay what they are.
"""

from __future__ import annotations

import json

from render_helpers import CLUSTER, ILLUSTRATIVE, by_name, of_kind, resolve, write_repo
from test_configmeta import EXAMPLE_IDS, EXAMPLE_JSON

from kdrender.pipeline import load_model, render_model
from kdrender.render.configmeta import configmeta

UID = "6f1c2a9e-3b7d-4c1e-9a55-0d2f8e4b7c11"  # the cluster id of the spec's section 3.3 example


def status(last_node_id=4) -> str:
    roles = []
    for role, ss in (("spark-master", "kdss-b4n8r"), ("livy-server", "kdss-tz9wd"), ("spark-worker", "kdss-h2c6v")):
        members = [{"pod": pod, "service": f"s-{pod}", "pvc": f"p-{pod}", "nodeID": int(node), "state": "configured"}
                   for pod, node in EXAMPLE_IDS.items() if pod.startswith(ss)]
        roles.append({"id": role, "statefulSet": ss, "members": members})
    doc = {"state": "configured", "clusterService": ILLUSTRATIVE["hs"], "lastNodeID": last_node_id,
           "generationUID": "x", "roles": roles}
    return "status: " + json.dumps(doc) + "\n"


def exported(edits=()) -> str:
    text = CLUSTER.format(scheme="UID").replace("  namespace: analytics\n", f"  namespace: analytics\n  uid: {UID}\n"
                                                                           "  resourceVersion: \"4711\"\n")
    for old, new in edits:
        text = text.replace(old, new)
    return text + status()


def test_section_3_3_reproduced_exactly_when_adopting(tmp_path, spark245_app):
    write_repo(tmp_path, {"catalog/app.json": spark245_app, "clusters/c.yaml": exported()})
    model, resolved = resolve(tmp_path)
    (rc,) = resolved.clusters
    worker = next(r for r in rc.roles if r.id == "spark-worker")
    assert configmeta(rc, resolved, worker, 1) == json.loads(EXAMPLE_JSON)


def test_adopted_names_selectors_and_claims(tmp_path, spark245_app):
    write_repo(tmp_path, {"catalog/app.json": spark245_app, "clusters/c.yaml": exported()})
    objects = render_model(load_model(str(tmp_path)))[0][2]
    services = by_name(of_kind(objects, "Service"))
    assert set(services) == {"kdhs-7xq2m", "kdhs-7xq2m-ready", "s-kdss-b4n8r-0", "s-kdss-tz9wd-0", "s-kdss-h2c6v-0", "s-kdss-h2c6v-1"}
    statefulsets = by_name(of_kind(objects, "StatefulSet"))
    assert set(statefulsets) == {"kdss-b4n8r", "kdss-tz9wd", "kdss-h2c6v"}
    master = statefulsets["kdss-b4n8r"]
    assert master["spec"]["serviceName"] == "kdhs-7xq2m"
    # KubeDirector's selector (all its pod labels), since a selector cannot change
    assert master["spec"]["selector"]["matchLabels"] == {
        "kubedirector.hpe.com/kdcluster": "spark-instance", "kubedirector.hpe.com/kdapp": "spark245",
        "kubedirector.hpe.com/appCatalog": "local", "kubedirector.hpe.com/role": "spark-master",
        "kubedirector.hpe.com/headless": "spark-instance"}
    labels = master["spec"]["template"]["metadata"]["labels"]
    assert master["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert [t["metadata"]["name"] for t in master["spec"]["volumeClaimTemplates"]] == ["p"]  # PVC p-kdss-b4n8r-0 stays


def test_new_members_get_ids_above_kubedirectors_last_id(tmp_path, spark245_app):
    text = exported([("  - id: spark-worker\n    members: 2\n", "  - id: spark-worker\n    members: 3\n")])
    write_repo(tmp_path, {"catalog/app.json": spark245_app, "clusters/c.yaml": text})
    _, resolved = resolve(tmp_path)
    (rc,) = resolved.clusters
    worker = next(r for r in rc.roles if r.id == "spark-worker")
    ids = [worker.node_id(i) for i in range(3)]
    assert ids[:2] == ["3", "4"]  # KubeDirector's
    assert int(ids[2]) > 4 and ids[2] not in {"1", "2", "3", "4"}
    assert worker.pods[2] == "kdss-h2c6v-2"


def test_a_cluster_without_status_is_not_adopted(tmp_path, spark245_app):
    write_repo(tmp_path, {"catalog/app.json": spark245_app, "clusters/c.yaml": CLUSTER.format(scheme="UID")})
    objects = render_model(load_model(str(tmp_path)))[0][2]
    for sts in of_kind(objects, "StatefulSet"):
        assert not sts["metadata"]["name"].startswith(tuple(ILLUSTRATIVE.values()))
        assert set(sts["spec"]["selector"]["matchLabels"]) == {"kubedirector.hpe.com/kdcluster",
                                                               "kubedirector.hpe.com/role"}
