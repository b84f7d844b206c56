"""Stage 3, defaulting: what KubeDirector's admission webhook fills in (spec sections 1.2-1.4, 4, 5)."""

from __future__ import annotations

import copy

import pytest

from kdrender.default import DEFAULT_MAX_LOG_SIZE_DUMP, default_app, default_cluster

CONTROLLER = '    cardinality: "1"\n'
WORKER = '    cardinality: "0+"\n'
C_ROLE = "  - id: controller\n"
PACKAGE = "https://example.com/web/appconfig.tgz"


def after(anchor, lines):
    return anchor, anchor + lines


def roles(result) -> dict:
    return {r["id"]: r for r in result.model.apps["web"].spec["roles"]}


def cluster_roles(result) -> dict:
    [cluster] = result.model.clusters
    return {r["id"]: r for r in cluster.spec["roles"]}


# --- KubeDirectorApp ---------------------------------------------------------------------------

def test_app_defaults_are_pushed_into_roles_and_removed(kd):
    app = kd.edit(kd.APP, after("  configSchemaVersion: 7\n",
                                f"  defaultConfigPackage: {{packageURL: {PACKAGE}}}\n"
                                "  defaultPersistDirs: [/data]\n"
                                "  defaultEventList: [configure]\n"
                                "  defaultMaxLogSizeDump: 1024\n"),
                  after(CONTROLLER, "    imageRepoTag: docker.io/own:1\n    maxLogSizeDump: 0\n"))
    result = kd.run(app)
    assert result.texts == []
    spec = result.model.apps["web"].spec
    for key in ("defaultImageRepoTag", "defaultConfigPackage", "defaultPersistDirs", "defaultEventList",
                "defaultMaxLogSizeDump"):
        assert key not in spec
    controller, worker = roles(result)["controller"], roles(result)["worker"]
    assert controller["imageRepoTag"] == "docker.io/own:1"
    assert worker["imageRepoTag"] == "docker.io/library/nginx:1.25"
    assert controller["configPackage"] == worker["configPackage"] == {"packageURL": PACKAGE}
    assert controller["configPackage"] is not worker["configPackage"]  # copies, not one shared object
    assert worker["persistDirs"] == ["/data"] and worker["eventList"] == ["configure"]
    assert controller["maxLogSizeDump"] == 0  # explicit 0 is kept
    assert worker["maxLogSizeDump"] == 1024


def test_config_package_explicit_null_vs_absent(kd):
    app = kd.edit(kd.APP, after("  configSchemaVersion: 7\n", f"  defaultConfigPackage: {{packageURL: {PACKAGE}}}\n"),
                  after(CONTROLLER, "    configPackage: null\n"))
    result = kd.run(app)
    assert result.texts == []
    assert roles(result)["controller"]["configPackage"] is None  # null means "no package"
    assert roles(result)["worker"]["configPackage"] == {"packageURL": PACKAGE}


def test_config_package_without_any_default_is_null(kd):
    result = kd.run()
    for role in roles(result).values():
        assert "configPackage" in role and role["configPackage"] is None


def test_default_config_package_null(kd):
    app = kd.edit(kd.APP, after("  configSchemaVersion: 7\n", "  defaultConfigPackage: null\n"),
                  after(CONTROLLER, f"    configPackage: {{packageURL: {PACKAGE}, useNewSetupLayout: true}}\n"))
    result = kd.run(app)
    assert roles(result)["controller"]["configPackage"] == {"packageURL": PACKAGE, "useNewSetupLayout": True}
    assert roles(result)["worker"]["configPackage"] is None


def test_default_persist_dirs_vs_explicit_empty_list(kd):
    app = kd.edit(kd.APP, after("  configSchemaVersion: 7\n", "  defaultPersistDirs: [/data, /var/log/web]\n"),
                  after(CONTROLLER, "    persistDirs: []\n"))
    result = kd.run(app)
    assert roles(result)["controller"]["persistDirs"] == []  # an explicit [] counts as set
    assert roles(result)["worker"]["persistDirs"] == ["/data", "/var/log/web"]


def test_no_persist_dirs_or_events_without_defaults(kd):
    for role in roles(kd.run()).values():
        assert "persistDirs" not in role and "eventList" not in role


def test_max_log_size_dump_256(kd):
    result = kd.run()
    assert DEFAULT_MAX_LOG_SIZE_DUMP == 256
    assert [r["maxLogSizeDump"] for r in roles(result).values()] == [256, 256]


def test_app_spec_defaults(kd):
    spec = kd.run().model.apps["web"].spec
    assert spec["capabilities"] == [] and spec["systemdRequired"] is False
    assert spec["config"]["configMeta"] is None


def test_default_app_is_pure():
    spec = {"defaultImageRepoTag": "img", "roles": [{"id": "a", "cardinality": "1"}],
            "config": {"selectedRoles": ["a"], "roleServices": []}}
    before = copy.deepcopy(spec)
    out = default_app(spec)
    assert spec == before
    assert out["roles"][0] == {"id": "a", "cardinality": "1", "imageRepoTag": "img", "configPackage": None,
                               "maxLogSizeDump": 256}


def test_role_without_image_is_not_defaulted_further():
    out = default_app({"roles": [{"id": "a", "cardinality": "1"}], "defaultPersistDirs": ["/d"],
                       "config": {"selectedRoles": [], "roleServices": []}})
    assert out["roles"][0] == {"id": "a", "cardinality": "1"}


# --- KubeDirectorCluster -----------------------------------------------------------------------

def test_cluster_defaults_without_config(kd):
    result = kd.run()
    [cluster] = result.model.clusters
    assert cluster.spec["serviceType"] == "LoadBalancer"
    assert cluster.spec["namingScheme"] == "CrNameRole"  # kdrender's default (KubeDirector's is UID)
    assert cluster.spec["appCatalog"] == "local"
    assert cluster.namespace == "default"
    assert cluster.api_version == "kubedirector.hpe.com/v1beta1"
    assert cluster.app is result.model.apps["web"]
    assert cluster_roles(result)["controller"]["members"] == 1  # from cardinality "1"
    assert cluster_roles(result)["worker"]["members"] == 2  # as written


def test_members_from_cardinality():
    app = {"roles": [{"id": "a", "cardinality": "3"}, {"id": "b", "cardinality": "2+"}, {"id": "c", "cardinality": "0+"}]}
    spec = {"roles": [{"id": "a"}, {"id": "b"}, {"id": "c"}, ]}
    out = default_cluster(spec, app, {"defaultServiceType": "NodePort", "defaultNamingScheme": "UID"})
    assert [r["members"] for r in out["roles"]] == [3, 2, 0]
    assert "members" not in spec["roles"][0]  # the input is not changed
    assert (out["serviceType"], out["namingScheme"]) == ("NodePort", "UID")


def test_service_type_and_naming_scheme_from_kdrender_yaml(kd):
    config = "defaultServiceType: NodePort\ndefaultNamingScheme: UID\n"
    [cluster] = kd.run(config=config).model.clusters
    assert (cluster.spec["serviceType"], cluster.spec["namingScheme"]) == ("NodePort", "UID")
    own = kd.edit(kd.CLUSTER, after("  app: web\n", "  serviceType: ClusterIP\n  namingScheme: CrNameRole\n"))
    [cluster] = kd.run(cluster=own, config=config).model.clusters
    assert (cluster.spec["serviceType"], cluster.spec["namingScheme"]) == ("ClusterIP", "CrNameRole")


def test_storage_class_from_kdrender_yaml(kd):
    cluster = kd.edit(kd.CLUSTER, after(C_ROLE, "    storage: {size: 10Gi}\n"),
                      after("    members: 2\n", "    storage: {size: 5Gi, storageClassName: fast}\n"))
    result = kd.run(cluster=cluster, config="defaultStorageClassName: standard\n")
    assert result.texts == []
    assert cluster_roles(result)["controller"]["storage"] == {"size": "10Gi", "storageClassName": "standard"}
    assert cluster_roles(result)["worker"]["storage"] == {"size": "5Gi", "storageClassName": "fast"}
    # without a default the cluster's default StorageClass is used: nothing is filled in
    result = kd.run(cluster=cluster)
    assert cluster_roles(result)["controller"]["storage"] == {"size": "10Gi"}


def test_storage_class_is_not_added_to_roles_without_storage(kd):
    result = kd.run(config="defaultStorageClassName: standard\n")
    assert all("storage" not in role for role in cluster_roles(result).values())


def test_default_secret_is_copied_into_roles_without_secret(kd):
    cluster = kd.edit(kd.CLUSTER, after("  app: web\n", "  defaultSecret: {name: shared, mountPath: /etc/shared}\n"),
                      after(C_ROLE, "    secret: {name: own, mountPath: /etc/own, defaultMode: 256}\n"))
    result = kd.run(cluster=cluster)
    assert result.texts == []
    assert cluster_roles(result)["controller"]["secret"] == {"name": "own", "mountPath": "/etc/own", "defaultMode": 256}
    assert cluster_roles(result)["worker"]["secret"] == {"name": "shared", "mountPath": "/etc/shared"}


def test_namespace_from_kdrender_yaml_and_from_the_file(kd):
    other = kd.edit(kd.CLUSTER, ("  name: web1\n", "  name: web2\n  namespace: explicit\n"))
    result = kd.run(files={"clusters/web2.yaml": other}, config="kdrender:\n  namespace: team-a\n")
    assert [(c.namespace, c.name) for c in result.model.clusters] == [("explicit", "web2"), ("team-a", "web1")]
    result = kd.run(config="kdrender:\n  namespace: team-a\n", namespace="override")
    assert result.model.clusters[0].namespace == "override"


# --- kdrender.yaml -------------------------------------------------------------------------------

KD_CONFIG = """\
apiVersion: kubedirector.hpe.com/v1beta1
kind: KubeDirectorConfig
metadata:
  name: kd-global-config
  namespace: kubedirector
spec:
  defaultServiceType: NodePort
  defaultStorageClassName: fast
  nativeSystemdSupport: true
  requiredSecretPrefix: web-
"""


def test_kubedirector_config_kdrender_yaml_is_accepted_as_is(kd):
    cluster = kd.edit(kd.CLUSTER, after(C_ROLE, "    storage: {size: 10Gi}\n"))
    result = kd.run(cluster=cluster, config=KD_CONFIG)
    assert result.texts == []
    assert result.model.config.source == "kdrender.yaml"
    assert result.model.config.get("nativeSystemdSupport") is True
    assert result.model.config.get("requiredSecretPrefix") == "web-"
    assert result.model.config.namespace == "default"  # the KubeDirectorConfig's own namespace is not the clusters'
    [c] = result.model.clusters
    assert c.spec["serviceType"] == "NodePort"
    assert cluster_roles(result)["controller"]["storage"]["storageClassName"] == "fast"


def test_kubedirector_config_settings_are_checked(kd):
    # the requiredSecretPrefix of a kind: KubeDirectorConfig kdrender.yaml applies
    cluster = kd.edit(kd.CLUSTER, after("  app: web\n", "  defaultSecret: {name: creds, mountPath: /etc/c}\n"))
    result = kd.run(cluster=cluster, config=KD_CONFIG)
    assert [p.rule for p in result.problems] == ["secret-prefix"]


def test_kd_defaults_of_the_config():
    from kdrender.config import make_config

    config = make_config(None, None)
    assert config.settings == {
        "defaultServiceType": "LoadBalancer", "nativeSystemdSupport": False, "requiredSecretPrefix": "",
        "clusterSvcDomainBase": ".svc.cluster.local", "defaultNamingScheme": "CrNameRole",
        "backupClusterStatus": False, "allowRestoreWithoutConnections": False,
    }
    assert config.namespace == "default" and config.kubernetes_version == (1, 29)
    assert make_config({"defaultServiceType": None}, {"kubernetesVersion": "v1.31.2"}).kubernetes_version == (1, 31)


@pytest.mark.parametrize("config, expected", [
    ("defaultServiceTyp: NodePort\n",
     "kdrender.yaml:1:1: defaultServiceTyp: unknown field 'defaultServiceTyp'; did you mean 'defaultServiceType'?"),
    ("kdrender:\n  namespce: apps\n",
     "kdrender.yaml:2:3: kdrender.namespce: unknown field 'namespce'; did you mean 'namespace'?"),
    (KD_CONFIG.replace("  defaultServiceType:", "  defaultServiceTyp:"),
     "kdrender.yaml:7:3: spec.defaultServiceTyp: unknown field 'defaultServiceTyp'; did you mean 'defaultServiceType'?"),
    ("defaultServiceType: External\n",
     "kdrender.yaml:1:1: defaultServiceType: 'External' is not one of: ClusterIP, NodePort, LoadBalancer"),
    (KD_CONFIG.replace("spec:\n", "spec: 5\nstatus:\n"),
     "kdrender.yaml:6:1: spec: must be a mapping, not 5"),
    (KD_CONFIG.replace("name: kd-global-config", "name: my-config"),
     "kdrender.yaml:4:3: metadata.name: 'my-config' is not one of: kd-global-config"),
    ("- a\n", "kdrender.yaml:1:1: kdrender.yaml must be a mapping of settings"),
], ids=["typo", "option-typo", "kind-typo", "enum", "spec-type", "config-name", "not-a-mapping"])
def test_kdrender_yaml_problems(kd, config, expected):
    result = kd.run(config=config)
    assert result.texts == [expected]
    assert result.model.clusters  # a broken kdrender.yaml still lets the clusters be checked


def test_kdrender_options_only_and_kubedirector_config_in_catalog(kd):
    config = KD_CONFIG.replace("  namespace: kubedirector\n", "")
    result = kd.run(files={"catalog/kd-config.yaml": config}, config="kdrender:\n  namespace: apps\n")
    assert result.texts == []
    assert result.model.config.namespace == "apps"
    assert result.model.config.get("defaultServiceType") == "NodePort"
    assert result.model.config.source == "catalog/kd-config.yaml"


def test_settings_in_two_places(kd):
    result = kd.run(files={"catalog/kd-config.yaml": KD_CONFIG}, config="defaultServiceType: ClusterIP\n")
    assert result.texts == ["catalog/kd-config.yaml:1:1: KubeDirectorConfig settings are already defined in "
                            "kdrender.yaml; keep them in one place"]
    assert result.model.config.get("defaultServiceType") == "ClusterIP"
