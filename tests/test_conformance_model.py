"""The real KubeDirector examples (v1beta1 and the 2018 v1alpha1 files) load, validate and default.

The files are read in place (see conftest.CONFORMANCE); each test assembles its repo in memory,
because the two spark245 example clusters share one name and would collide in one repo.
"""

from __future__ import annotations

import pytest

from kdrender.load import RepoFiles, read_file
from kdrender.validate import validate_repo

V1BETA1 = "kubedirector.hpe.com/v1beta1"
V1ALPHA1 = "kubedirector.bluedata.io/v1alpha1"

# Example files KubeDirector's admission webhook itself would refuse, with the rule kdrender
# reports.  None today: every example is admitted (checked rule by rule against spec section 4).
# The 2018 service ids (spark_master, jupyter-notebook with 16 characters) break today's CRD
# pattern, not a webhook rule; kdrender keeps them for v1alpha1 files only.
WEBHOOK_REJECTS: dict[str, str] = {}


def test_every_conformance_file_loads(conformance, conformance_file):
    docs, problems = read_file(str(conformance), conformance_file)
    assert problems == []
    assert len(docs) == 1
    assert docs[0].kind in ("KubeDirectorApp", "KubeDirectorCluster")
    version = conformance_file.split("/")[0]
    assert docs[0].api_version == (V1BETA1 if version == "v1beta1" else V1ALPHA1)
    assert docs[0].positions[("metadata", "name")][0] > 1


def test_every_conformance_cluster_validates(conformance_model, conformance_cluster):
    version, name = conformance_cluster
    model, problems = conformance_model(version, name)
    rel = f"{version}/clusters/{name}"
    if rel in WEBHOOK_REJECTS:
        assert problems and all(p.rule == WEBHOOK_REJECTS[rel] for p in problems)
        return
    assert [p.text() for p in problems] == []
    # connected ConfigMaps/Secrets outside the repo are warned about (issue 10): nothing else
    assert [w for w in model.warnings if w.rule != "connected-objects"] == []
    [cluster] = model.clusters
    assert cluster.file == rel
    assert cluster.namespace == "default"
    assert cluster.api_version == (V1BETA1 if version == "v1beta1" else V1ALPHA1)
    # webhook defaults on every cluster
    assert cluster.spec["serviceType"] == "LoadBalancer"
    assert cluster.spec["appCatalog"] == "local"
    app_roles = {r["id"]: r for r in cluster.app.spec["roles"]}
    for role in cluster.spec["roles"]:
        assert isinstance(role["members"], int)
        assert role["members"] >= int(app_roles[role["id"]]["cardinality"].rstrip("+"))
    for role in cluster.app.spec["roles"]:
        assert role["imageRepoTag"]
        assert "configPackage" in role
        assert role["maxLogSizeDump"] == 256
    if version == "v1alpha1":
        # one deprecation notice per v1alpha1 file: the two catalog files and the cluster
        assert len(model.notices) == 3
        assert sorted(n.split(":")[0] for n in model.notices) == sorted(
            [f"v1alpha1/catalog/{n}" for n in ("cr-app-cassandra-3.11.json", "cr-app-spark221e2.json")] + [rel])
        assert all("kubedirector.bluedata.io/v1alpha1 is deprecated" in n for n in model.notices)
    else:
        assert model.notices == []


@pytest.mark.parametrize("version, count", [("v1beta1", 6), ("v1alpha1", 2)])
def test_whole_catalog_validates(conformance_model, version, count):
    model, problems = conformance_model(version)
    assert problems == []
    assert len(model.apps) == count
    assert model.clusters == []


def test_all_v1beta1_clusters_in_one_repo_collide_only_on_spark245(conformance, conformance_model):
    clusters = sorted(p.name for p in (conformance / "v1beta1" / "clusters").iterdir())
    model, problems = conformance_model("v1beta1", *clusters)
    assert [p.text() for p in problems] == [
        "v1beta1/clusters/cr-cluster-spark245.yaml:15:3: metadata.name: KubeDirectorCluster 'spark245-instance' "
        "in namespace 'default' is already defined in v1beta1/clusters/cr-cluster-spark245-stor.yaml:15"]
    without = [c for c in clusters if c != "cr-cluster-spark245.yaml"]
    model, problems = conformance_model("v1beta1", *without)
    assert problems == []
    assert len(model.clusters) == len(without) == 8


def test_spark245_defaults(conformance_model):
    model, problems = conformance_model("v1beta1", "cr-cluster-spark245-stor.yaml")
    assert problems == []
    [cluster] = model.clusters
    assert cluster.name == "spark245-instance"
    roles = {r["id"]: r for r in cluster.spec["roles"]}
    assert roles["spark-master"]["members"] == 1  # unset, defaulted from cardinality "1"
    assert [roles[r]["members"] for r in ("livy-server", "spark-worker", "notebook-server")] == [1, 1, 1]
    assert roles["spark-master"]["storage"] == {"size": "40Gi"}  # no default class configured
    assert cluster.spec["serviceType"] == "LoadBalancer"
    assert cluster.spec["namingScheme"] == "CrNameRole"
    assert cluster.spec["connections"] == {"secrets": ["hpecp-ext-auth-secret"]}
    app = cluster.app.spec
    assert "defaultImageRepoTag" not in app and "defaultConfigPackage" not in app
    for role in app["roles"]:
        assert role["imageRepoTag"] == "bluedata/spark245:5.2.0.35"
        assert role["configPackage"] == {"packageURL": "file:///opt/configscripts/appconfig-5.2.0.35.tgz"}
        assert role["persistDirs"][-1] in ("/etc/hadoop", "/opt/jupyterhub/etc")  # each role's own list


def test_spark245_with_kdrender_settings(conformance_model):
    config = "defaultStorageClassName: fast\ndefaultServiceType: NodePort\nkdrender:\n  namespace: analytics\n"
    model, problems = conformance_model("v1beta1", "cr-cluster-spark245-stor.yaml", config=config)
    assert problems == []
    [cluster] = model.clusters
    assert cluster.namespace == "analytics"
    assert cluster.spec["serviceType"] == "NodePort"
    assert {r["storage"]["storageClassName"] for r in cluster.spec["roles"]} == {"fast"}
    model, _ = conformance_model("v1beta1", "cr-cluster-spark245-stor.yaml", config=config, namespace="other")
    assert model.clusters[0].namespace == "other"


def test_centos7_and_cassandra_defaults(conformance_model):
    model, problems = conformance_model("v1beta1", "cr-cluster-centos7-stor.yaml", "cr-cluster-cassandra311.yaml")
    assert problems == []
    centos = model.apps["centos7x"].spec["roles"][0]
    assert centos["configPackage"] is None  # defaultConfigPackage: null
    assert centos["persistDirs"] == ["/home"]
    assert centos["eventList"] == ["configure", "addnodes", "delnodes"]
    cassandra = {r["id"]: r for r in model.apps["cassandra311"].spec["roles"]}
    assert cassandra["seed"]["persistDirs"] == ["/var/lib/cassandra", "/var/log/cassandra", "/data"]
    assert model.apps["cassandra311"].spec["capabilities"] == ["SYS_RESOURCE", "IPC_LOCK"]
    by_name = {c.name: c for c in model.clusters}
    assert {r["id"]: r["members"] for r in by_name["cassandra-instance"].spec["roles"]} == {"seed": 2, "worker": 2}


def test_ngc_explicit_empty_persist_dirs(conformance_model):
    model, problems = conformance_model("v1beta1", "cr-cluster-ngc.yaml")
    assert problems == []
    [role] = model.apps["ngc-tensorflow"].spec["roles"]
    assert role["persistDirs"] == []  # defaultPersistDirs: [] is a default too
    assert role["imageRepoTag"] == "nvcr.io/nvidia/tensorflow:20.12-tf1-py3"
    assert role["minResources"] == {"memory": "2000Mi", "cpu": "2"}


def test_tensorflow_gpu_min_resources_are_enforced(conformance, conformance_model):
    model, problems = conformance_model("v1beta1", "cr-cluster-tensorflow-gpu-dockerhub.yaml")
    assert problems == []
    # the same cluster without its GPU request is refused, as KubeDirector would
    repo = RepoFiles(str(conformance))
    for name in ("cr-app-tensorflow-gpu-dockerhub.json",):
        repo.catalog += read_file(str(conformance), f"v1beta1/catalog/{name}")[0]
    [doc] = read_file(str(conformance), "v1beta1/clusters/cr-cluster-tensorflow-gpu-dockerhub.yaml")[0]
    del doc.data["spec"]["roles"][0]["resources"]["requests"]["nvidia.com/gpu"]
    repo.clusters.append(doc)
    _, problems = validate_repo(repo)
    assert [p.text() for p in problems] == [
        'v1beta1/clusters/cr-cluster-tensorflow-gpu-dockerhub.yaml:10:7: spec.roles[0].resources.requests: '
        'Specified resource("nvidia.com/gpu") value("0") for role("controller") is invalid. Minimum value must be "1".']


def test_v1alpha1_spark221e2(conformance_model):
    model, problems = conformance_model("v1alpha1", "cr-cluster-spark221e2.yaml")
    assert problems == []
    app = model.apps["spark221e2"]
    assert app.file == "v1alpha1/catalog/cr-app-spark221e2.json"
    spec = app.spec
    assert spec["distroID"] == "bluedata/spark221e2"
    assert spec["configSchemaVersion"] == 7  # from setup_package.config_api_version
    assert spec["systemdRequired"] is True
    roles = {r["id"]: r for r in spec["roles"]}
    assert roles["controller"]["imageRepoTag"] == "docker.io/bluedata/sparkbase:2.0"  # role image.repoTag
    assert roles["jupyter"]["imageRepoTag"] == "docker.io/bluedata/jupyter:2.2"
    package = {"packageURL": "https://s3.amazonaws.com/bluek8s/kubedirector/spark221e2/appconfig.tgz"}
    assert all(r["configPackage"] == package for r in roles.values())  # app setup_package pushed down
    assert all("image" not in r for r in roles.values())
    assert spec["config"]["selectedRoles"] == ["controller", "worker", "jupyter"]
    assert spec["config"]["roleServices"][0] == {
        "roleID": "controller", "serviceIDs": ["ssh", "spark", "spark_master", "spark_worker"]}
    assert [s["id"] for s in spec["services"]] == ["ssh", "spark", "spark_master", "spark_worker", "jupyter-notebook"]
    assert spec["services"][1]["endpoint"] == {"urlScheme": "http", "path": "/", "isDashboard": True, "port": 8080}
    [cluster] = model.clusters
    assert cluster.name == "spark-instance"
    assert cluster.api_version == V1ALPHA1
    assert {r["id"]: r["members"] for r in cluster.spec["roles"]} == {"controller": 1, "worker": 2, "jupyter": 1}
    assert cluster.spec["serviceType"] == "LoadBalancer"


def test_v1alpha1_cassandra(conformance_model):
    model, problems = conformance_model("v1alpha1", "cr-cluster-cassandra311.yaml")
    assert problems == []
    spec = model.apps["cassandra311"].spec
    assert spec["configSchemaVersion"] == 7
    for role in spec["roles"]:
        assert role["imageRepoTag"] == "docker.io/bluedata/cassandra:3.0"  # app image.repoTag
        assert role["persistDirs"] == ["/data"]  # app persist_dirs
        assert role["configPackage"] == {
            "packageURL": "https://s3.amazonaws.com/bluek8s/kubedirector/cassandra311/appconfig.tgz"}
    assert spec["capabilities"][:1] == ["SYS_RESOURCE"]


def test_v1alpha1_clusters_need_the_v1alpha1_catalog(conformance):
    repo = RepoFiles(str(conformance))
    repo.clusters += read_file(str(conformance), "v1alpha1/clusters/cr-cluster-spark221e2.yaml")[0]
    _, problems = validate_repo(repo)
    assert [p.rule for p in problems] == ["app-exists"]
    assert problems[0].text().startswith("v1alpha1/clusters/cr-cluster-spark221e2.yaml:6:3: spec.app: "
                                         "Invalid app(spark221e2).")


def test_crd_files_are_not_kubedirector_objects(conformance):
    repo = RepoFiles(str(conformance))
    repo.clusters += read_file(str(conformance), "kubedirector.hpe.com_kubedirectorclusters_crd.yaml")[0]
    _, problems = validate_repo(repo)
    [problem] = problems
    assert problem.message == ("kind 'CustomResourceDefinition' is not a KubeDirector kind "
                               "(expected KubeDirectorCluster)")
    assert problem.path == "kind"
