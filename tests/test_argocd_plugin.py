"""kdrender as an Argo CD CMP: plugin.yaml's generate, run the way argocd-cmp-server runs it.

Every run goes through tests/cmp_harness.py: a copy of the whole repo in a fresh work dir, the
environment Argo CD builds (and nothing of this process's), the command exactly as plugin.yaml
writes it, as uid 999 when the tests run as root, and stdout parsed as the repo-server parses it.
Where output is compared with ``kdrender render``, the comparison is of parsed objects.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
import yaml

import cmp_harness as h
from conftest import conformance_files

PROJECT = h.PROJECT
REPO_CLUSTERS = sorted(p.name for p in (PROJECT / "clusters").glob("*.yaml"))
SYNC_WAVE = "argocd.argoproj.io/sync-wave"
TRACKING = "argocd.argoproj.io/tracking-id"
INSTANCE = "app.kubernetes.io/instance"


@pytest.fixture(scope="session")
def runtime() -> h.Runtime:
    rt, note = h.get_runtime()
    if rt is None:
        pytest.skip(f"cannot run kdrender as the CMP user: {note}")
    return rt


@pytest.fixture(scope="session")
def plugin() -> h.Plugin:
    return h.load_plugin()


@pytest.fixture
def render(runtime):
    """``render(repo, files)``: objects of ``kdrender render`` from the installation the plugin runs."""

    def go(repo, files):
        return h.render_cli(repo, files, runtime)

    return go


@pytest.fixture
def run(runtime, plugin):
    """``run(repo, app_path=".", **run_plugin_options)`` with this session's runtime and plugin.yaml."""

    def go(repo, app_path=".", **kwargs):
        return h.run_plugin(repo, app_path, runtime=runtime, plugin=plugin, **kwargs)

    return go


def make_repo(tmp_path: Path, clusters: dict, *, config: str | None = None, catalog: Path | None = None,
              name: str = "repo") -> Path:
    """A cluster repo in tmp_path: a copy of ``catalog`` (default: the project's), the given
    ``clusters/<file>: text`` and optionally kdrender.yaml."""
    root = tmp_path / name
    shutil.copytree(catalog or PROJECT / "catalog", root / "catalog")
    (root / "clusters").mkdir()
    for rel, text in clusters.items():
        path = root / "clusters" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    if config is not None:
        (root / "kdrender.yaml").write_text(config, encoding="utf-8")
    return root


def walk_metadata(obj, path=()):
    """Yield (path, labels/annotations dict) of every metadata block, nested templates included."""
    if isinstance(obj, dict):
        for key in ("labels", "annotations"):
            if isinstance(obj.get(key), dict):
                yield path + (key,), obj[key]
        for key, value in obj.items():
            yield from walk_metadata(value, path + (key,))
    elif isinstance(obj, list):
        for i, value in enumerate(obj):
            yield from walk_metadata(value, path + (i,))


def keys_anywhere(objects, key: str) -> list:
    return [(o["kind"], o["metadata"]["name"], p) for o in objects for p, d in walk_metadata(o) if key in d]


def assert_same_objects(generated: list, rendered: list) -> None:
    got, want = h.by_identity(generated), h.by_identity(rendered)
    assert sorted(got) == sorted(want), "generate and render produce different objects"
    for key in want:
        assert got[key] == want[key], f"{key} differs between generate and render"


CASSANDRA = (PROJECT / "clusters" / "cassandra311.yaml").read_text(encoding="utf-8")
NO_NAMESPACE = CASSANDRA.replace("  namespace: databases\n", "")


def test_cmp_user_can_run_kdrender(runtime):
    """As root, plugins run as uid 999: the console script and its interpreter must be runnable by it."""
    assert h.check_runnable(runtime.bin_dir, runtime.user) is None
    if os.geteuid() == 0:
        assert runtime.user == h.CMP_UID


# --------------------------------------------------------------------------------------------------
# The bundled examples

@pytest.mark.parametrize("app_path", ["clusters", "."])
def test_whole_clusters_folder_equals_render(run, app_path, render):
    result = run(PROJECT, app_path)
    objects = result.check()
    assert objects, "the bundled examples render objects"
    assert result.stdout.lstrip().startswith("{"), "generate writes a JSON stream"
    assert_same_objects(objects, render(PROJECT, [PROJECT / "clusters" / f for f in REPO_CLUSTERS]))


def applicationset_apps() -> list:
    appset = yaml.safe_load((PROJECT / "deploy" / "argocd" / "applicationset.yaml").read_text(encoding="utf-8"))
    return h.applicationset_applications(appset, PROJECT)


def test_applicationset_makes_one_application_per_cluster_file():
    files = [rel for rel, _ in applicationset_apps()]
    assert files == [f"clusters/{f}" for f in REPO_CLUSTERS]
    names = [app["metadata"]["name"] for _, app in applicationset_apps()]
    assert len(set(names)) == len(names), "Application names must be unique"


@pytest.mark.parametrize("cluster_file", REPO_CLUSTERS)
def test_applicationset_application_per_cluster_file(run, cluster_file, render):
    """Each Application the ApplicationSet generates renders exactly its one cluster file."""
    (app,) = [app for rel, app in applicationset_apps() if rel == f"clusters/{cluster_file}"]
    args = h.application_run_args(app)
    objects = run(PROJECT, **args).check()
    assert_same_objects(objects, render(PROJECT, [PROJECT / "clusters" / cluster_file]))
    namespaces = {o["metadata"].get("namespace") for o in objects}
    assert namespaces == {args["namespace"]}, "the destination namespace is the cluster's namespace"


def test_example_application(run, render):
    app = yaml.safe_load((PROJECT / "deploy" / "argocd" / "application.yaml").read_text(encoding="utf-8"))
    args = h.application_run_args(app)
    files = [PROJECT / args["app_path"] / g for p in args["parameters"] if p["name"] == "clusters" for g in p["array"]]
    objects = run(PROJECT, **args).check()
    assert_same_objects(objects, render(PROJECT, files))


# --------------------------------------------------------------------------------------------------
# The KubeDirector conformance clusters, one cluster per repo (two v1beta1 clusters share a name)

def test_conformance_clusters(run, tmp_path, conformance, conformance_cluster, render):
    version, name = conformance_cluster
    repo = make_repo(tmp_path, {name: (conformance / version / "clusters" / name).read_text(encoding="utf-8")},
                     catalog=conformance / version / "catalog", config="kdrender:\n  namespace: kd-conformance\n")
    objects = run(repo, "clusters", namespace="kd-conformance",
                  parameters=[{"name": "clusters", "array": [name]}]).check()
    assert objects
    assert {o["metadata"].get("namespace") for o in objects} == {"kd-conformance"}
    assert_same_objects(objects, render(repo, [repo / "clusters" / name]))


def test_conformance_folder(run, tmp_path, conformance, render):
    """Every conformance cluster of a version at once, from the repo root. One repo per version; of
    the two clusters named spark245-instance only one can be in a repo (the other is covered above)."""
    for version in ("v1beta1", "v1alpha1"):
        names = [n for n in conformance_files(version, "clusters") if n != "cr-cluster-spark245-stor.yaml"]
        repo = make_repo(tmp_path, {n: (conformance / version / "clusters" / n).read_text(encoding="utf-8")
                                    for n in names}, catalog=conformance / version / "catalog",
                         config="kdrender:\n  namespace: kd-conformance\n", name=version)
        objects = run(repo, ".", namespace="kd-conformance").check()
        assert len({o["metadata"]["labels"]["kubedirector.hpe.com/kdcluster"] for o in objects}) == len(names)
        assert_same_objects(objects, render(repo, [repo / "clusters" / n for n in names]))


# --------------------------------------------------------------------------------------------------
# Failures: non-zero exit, nothing on stdout, a message that names the file

def test_broken_cluster_file(run, tmp_path):
    repo = make_repo(tmp_path, {"cassandra.yaml": CASSANDRA, "broken.yaml": "apiVersion: [unclosed\nkind: x\n"})
    result = run(repo, "clusters")
    assert result.returncode != 0
    assert result.stdout == ""
    assert "clusters/broken.yaml" in result.stderr


def test_invalid_cluster_file(run, tmp_path):
    repo = make_repo(tmp_path, {"bad.yaml": CASSANDRA.replace("app: cassandra311", "app: no-such-app")})
    result = run(repo, "clusters")
    assert result.returncode != 0
    assert result.stdout == ""
    assert "clusters/bad.yaml" in result.stderr


def test_zero_clusters_is_an_error(run, tmp_path):
    repo = make_repo(tmp_path, {})
    result = run(repo, "clusters")
    assert result.returncode != 0 and result.stdout == ""
    assert "allow-empty" in result.stderr


def test_no_matching_cluster_file_is_an_error(run, tmp_path):
    repo = make_repo(tmp_path, {"cassandra.yaml": CASSANDRA})
    result = run(repo, "clusters", parameters=[{"name": "clusters", "array": ["typo.yaml"]}])
    assert result.returncode != 0 and result.stdout == ""


@pytest.mark.parametrize("how", ["parameter", "env"])
def test_zero_clusters_allowed(run, tmp_path, how):
    repo = make_repo(tmp_path, {})
    if how == "parameter":
        result = run(repo, "clusters", parameters=[{"name": "allow-empty", "string": "true"}])
    else:
        result = run(repo, "clusters", env=[{"name": "KDRENDER_ALLOW_EMPTY", "value": "true"}])
    assert result.check() == []


def test_bad_parameter_value(run, tmp_path):
    repo = make_repo(tmp_path, {"cassandra.yaml": CASSANDRA})
    result = run(repo, "clusters", parameters=[{"name": "sync-waves", "string": "maybe"}])
    assert result.returncode != 0 and result.stdout == ""
    assert "sync-waves" in result.stderr


# --------------------------------------------------------------------------------------------------
# Parameters, env and the build environment change the output

def test_app_namespace_for_clusters_without_namespace(run, tmp_path):
    other = CASSANDRA.replace("name: cassandra-persistent", "name: cassandra-two")
    repo = make_repo(tmp_path, {"a.yaml": NO_NAMESPACE, "b.yaml": other},
                     config="kdrender:\n  namespace: from-config\n")
    objects = run(repo, "clusters", namespace="team-a").check()
    by_cluster = {}
    for obj in objects:
        by_cluster.setdefault(obj["metadata"]["labels"]["kubedirector.hpe.com/kdcluster"], set()).add(
            obj["metadata"].get("namespace"))
    assert by_cluster == {"cassandra-persistent": {"team-a"}, "cassandra-two": {"databases"}}
    # the namespace parameter wins over the destination namespace; without either, kdrender.yaml decides
    objects = run(repo, "clusters", namespace="team-a", parameters=[{"name": "namespace", "string": "team-b"}],
                  ).check()
    assert "team-b" in {o["metadata"].get("namespace") for o in objects}
    objects = run(repo, "clusters", namespace="").check()
    assert "from-config" in {o["metadata"].get("namespace") for o in objects}


def test_sync_waves_parameter(run, tmp_path):
    repo = make_repo(tmp_path, {"cassandra.yaml": CASSANDRA})
    assert keys_anywhere(run(repo, "clusters").check(), SYNC_WAVE), "sync waves are on by default"
    objects = run(repo, "clusters", parameters=[{"name": "sync-waves", "string": "false"}]).check()
    assert objects and keys_anywhere(objects, SYNC_WAVE) == []


def test_instance_label_env(run, tmp_path):
    repo = make_repo(tmp_path, {"cassandra.yaml": CASSANDRA})
    assert keys_anywhere(run(repo, "clusters").check(), INSTANCE), "the instance label is on by default"
    objects = run(repo, "clusters", env=[{"name": "KDRENDER_INSTANCE_LABEL", "value": "false"}]).check()
    assert objects and keys_anywhere(objects, INSTANCE) == []


def test_env_value_is_substituted_and_parameter_beats_env(run, tmp_path):
    repo = make_repo(tmp_path, {"cassandra.yaml": NO_NAMESPACE})
    # plugin env values are env-substituted against the build environment ($ARGOCD_APP_NAME)
    objects = run(repo, "clusters", app_name="kd-ns", namespace="",
                  env=[{"name": "KDRENDER_NAMESPACE", "value": "$ARGOCD_APP_NAME"}]).check()
    assert {o["metadata"]["namespace"] for o in objects} == {"kd-ns"}
    objects = run(repo, "clusters", env=[{"name": "KDRENDER_SYNC_WAVES", "value": "false"}],
                  parameters=[{"name": "sync-waves", "string": "true"}]).check()
    assert keys_anywhere(objects, SYNC_WAVE)


def _retention(objects) -> list:
    return [o["spec"].get("persistentVolumeClaimRetentionPolicy") for o in objects if o["kind"] == "StatefulSet"]


@pytest.mark.parametrize("version, kept", [("1.26", False), ("1.26.15", False), ("1.29", True), ("1.32.4", True)])
def test_kube_version(run, tmp_path, version, kept):
    """StatefulSet persistentVolumeClaimRetentionPolicy (beta, on by default from 1.27) is left out
    for older target clusters."""
    repo = make_repo(tmp_path, {"cassandra.yaml": CASSANDRA})
    retention = _retention(run(repo, "clusters", kube_version=version).check())
    assert retention and all(bool(r) == kept for r in retention)


def test_kubernetes_version_parameter_beats_kube_version(run, tmp_path):
    repo = make_repo(tmp_path, {"cassandra.yaml": CASSANDRA})
    objects = run(repo, "clusters", kube_version="1.29.0",
                  parameters=[{"name": "kubernetes-version", "string": "1.26"}]).check()
    assert not any(_retention(objects))


def test_announced_defaults_are_the_defaults(run, tmp_path, plugin):
    """Argo CD does not send announced defaults; sending them explicitly must change nothing."""
    repo = make_repo(tmp_path, {"cassandra.yaml": NO_NAMESPACE})
    defaults = []
    for a in plugin.announcements:
        entry = {"name": a["name"]}
        for key in ("string", "array", "map"):
            if key in a:
                entry[key] = a[key]
        defaults.append(entry)
    plain = run(repo, "clusters", namespace="team-a").check()
    explicit = run(repo, "clusters", namespace="team-a", parameters=defaults).check()
    assert plain == explicit


# --------------------------------------------------------------------------------------------------
# What must never be in the output

@pytest.mark.parametrize("params", [[], [{"name": "instance-label", "string": "false"}]], ids=["default", "no-instance"])
def test_no_tracking_metadata(run, params):
    objects = run(PROJECT, "clusters", parameters=params).check()
    assert keys_anywhere(objects, TRACKING) == [], "Argo CD adds its tracking annotation itself"
    if params:
        assert keys_anywhere(objects, INSTANCE) == []
    # label tracking: the instance label must never reach selectors or claim templates, or Argo CD
    # would treat the pods' PVCs as its own and prune them
    for obj in objects:
        spec = obj.get("spec") or {}
        assert INSTANCE not in (spec.get("selector") or {}).get("matchLabels", {}), obj["metadata"]["name"]
        if obj["kind"] == "Service":
            assert INSTANCE not in (spec.get("selector") or {}), obj["metadata"]["name"]
        for vct in spec.get("volumeClaimTemplates") or []:
            assert INSTANCE not in ((vct.get("metadata") or {}).get("labels") or {}), obj["metadata"]["name"]


SECRET = "s3cr3t-Pl41nt3xt-VALUE"
ENCRYPTED = "ZW5jcnlwdGVkLXNlY3JldC12YWx1ZQ=="
MASTER_KEY = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"


def _with_secret_keys(text: str) -> str:
    anchor = "  - id: seed\n    members: 2\n"
    assert text.count(anchor) == 1
    return text.replace(anchor, anchor + f"    secretKeys:\n    - name: password\n      value: {SECRET}\n"
                                          f"    - name: token\n      encryptedValue: {ENCRYPTED}\n")


def test_no_secret_values_in_output_or_stderr(run, tmp_path):
    # a plaintext value is refused (never only left out); the encrypted one of an exported
    # cluster (it has a status) is kept encrypted and never rendered
    plain = make_repo(tmp_path, {"cassandra.yaml": _with_secret_keys(CASSANDRA)},
                      config=f"masterEncryptionKey: {MASTER_KEY}\n", name="plain")
    exported = make_repo(tmp_path, {"cassandra.yaml": _with_secret_keys(CASSANDRA).replace(
        f"    - name: password\n      value: {SECRET}\n", "") + "status: {state: configured}\n"},
        config=f"masterEncryptionKey: {MASTER_KEY}\n", name="exported")
    refused, rendered = run(plain, "clusters"), run(exported, "clusters")
    assert refused.returncode == 1 and refused.stdout == ""
    assert "spec.roles[0].secretKeys[0].value: plaintext secret key 'password' must not be in Git" in refused.stderr
    assert rendered.check()
    for result in (refused, rendered):
        for secret in (SECRET, ENCRYPTED, MASTER_KEY):
            assert secret not in result.stdout and secret not in result.stderr


def test_no_secret_values_in_errors(run, tmp_path):
    bad_key = "zz-not-hex-" + SECRET
    repo = make_repo(tmp_path, {"cassandra.yaml": _with_secret_keys(CASSANDRA).replace(
        "app: cassandra311", "app: no-such-app")}, config=f"masterEncryptionKey: {bad_key}\n")
    result = run(repo, "clusters")
    assert result.returncode != 0 and result.stdout == ""
    for secret in (SECRET, ENCRYPTED, bad_key):
        assert secret not in result.stderr


# --------------------------------------------------------------------------------------------------
# The harness itself: Argo CD's environment, user, timeout and output rules

def _probe_plugin(tmp_path: Path, script: str, runtime: h.Runtime) -> h.Plugin:
    path = tmp_path / "probe-plugin.yaml"
    path.write_text(yaml.safe_dump({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "ConfigManagementPlugin", "metadata": {"name": "probe"},
        "spec": {"generate": {"command": [runtime.python, "-c"], "args": [script]}},
    }), encoding="utf-8")
    return h.load_plugin(path)


PROBE = """
import json, os
print(json.dumps({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "probe"},
                  "data": {"env": json.dumps(dict(os.environ)), "uid": str(os.getuid()), "cwd": os.getcwd(),
                           "writable": str(os.access(".", os.W_OK))}}))
"""


def test_harness_environment(runtime, tmp_path):
    repo = make_repo(tmp_path, {"cassandra.yaml": CASSANDRA})
    result = h.run_plugin(repo, "clusters", runtime=runtime, plugin=_probe_plugin(tmp_path, PROBE, runtime),
                          app_name="probe-app", namespace="ns1",
                          parameters=[{"name": "clusters", "array": ["a.yaml", "b.yaml"]},
                                      {"name": "sync-waves", "string": "false"},
                                      {"name": "labels", "map": {"team.x": "data"}}],
                          env=[{"name": "KDRENDER_X", "value": "${ARGOCD_APP_NAMESPACE}-$$HOME"}])
    (obj,) = result.check()
    env = json.loads(obj["data"]["env"])
    assert env["ARGOCD_APP_NAME"] == "probe-app" and env["ARGOCD_APP_NAMESPACE"] == "ns1"
    assert env["ARGOCD_APP_SOURCE_PATH"] == "clusters"
    assert env["PARAM_CLUSTERS_0"] == "a.yaml" and env["PARAM_CLUSTERS_1"] == "b.yaml"
    assert env["PARAM_SYNC_WAVES"] == "false" and env["PARAM_LABELS_TEAM_X"] == "data"
    assert json.loads(env["ARGOCD_APP_PARAMETERS"])[0] == {"name": "clusters", "array": ["a.yaml", "b.yaml"]}
    assert env["ARGOCD_ENV_KDRENDER_X"] == "ns1-$HOME"
    assert env["KUBE_VERSION"] == h.DEFAULT_KUBE_VERSION and "apps/v1/StatefulSet" in env["KUBE_API_VERSIONS"]
    assert "PYTEST_CURRENT_TEST" not in env and "VIRTUAL_ENV" not in env, "not the test process's environment"
    assert obj["data"]["cwd"].endswith("/repo/clusters")
    assert obj["data"]["writable"] == "True", "the work dir belongs to the plugin user, as in the sidecar"
    if os.geteuid() == 0:
        assert obj["data"]["uid"] == str(h.CMP_UID), "as root, plugins run as uid 999"
    else:
        assert obj["data"]["uid"] == str(os.getuid())


def test_harness_timeout(runtime, tmp_path):
    plugin = _probe_plugin(tmp_path, "import time; time.sleep(30)", runtime)
    result = h.run_plugin(make_repo(tmp_path, {}), runtime=runtime, plugin=plugin, timeout=1)
    assert result.timed_out and not result.ok and result.duration < 10


@pytest.mark.parametrize("stdout, ok", [
    ('{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a"}}\n{"apiVersion":"v1","kind":"Service",'
     '"metadata":{"name":"b"}}\n', True),
    ("---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\n---\n", True),
    ('{"apiVersion":"v1","kind":"List","items":[{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a"}}]}', True),
    ("", True),
    ("rendering 3 clusters...\n", False),
    ('{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"a"}}\nnotice: done\n', False),
    ('{"apiVersion":"v1","metadata":{"name":"a"}}', False),
    ('{"apiVersion":"v1","kind":"ConfigMap","metadata":{}}', False),
    ("- a\n- b\n", False),
])
def test_harness_parses_like_argocd(stdout, ok):
    if ok:
        for obj in h.parse_manifests(stdout):
            assert obj["kind"] != "List"
    else:
        with pytest.raises(h.ManifestError):
            h.parse_manifests(stdout)


def test_generate_is_quick(run):
    """Well inside Argo CD's 60 s budget (which also pays for shipping the repo)."""
    result = run(PROJECT, "clusters")
    result.check()
    assert result.duration < 10


def test_kube_api_versions_without_a_rendered_kind_fails(run, tmp_path):
    repo = make_repo(tmp_path, {"cassandra.yaml": CASSANDRA})
    served = ",".join(v for v in h.DEFAULT_KUBE_API_VERSIONS.split(",") if v != "apps/v1/StatefulSet")
    result = run(repo, "clusters", kube_api_versions=served)
    assert not result.ok and result.stdout == ""
    assert "apps/v1/StatefulSet" in result.stderr


def test_kube_api_versions_with_group_versions_only_is_enough(run, tmp_path):
    repo = make_repo(tmp_path, {"cassandra.yaml": CASSANDRA})
    assert run(repo, "clusters", kube_api_versions="v1,apps/v1,policy/v1,networking.k8s.io/v1").check()


def test_old_kube_version_leaves_out_newer_service_fields(run, tmp_path):
    repo = make_repo(tmp_path, {"cassandra.yaml": CASSANDRA})
    services = [o for o in run(repo, "clusters", kube_version="1.21.5").check() if o["kind"] == "Service"]
    assert services and not any("internalTrafficPolicy" in s["spec"] or "allocateLoadBalancerNodePorts" in s["spec"]
                                for s in services)
    services = [o for o in run(repo, "clusters", kube_version="1.29.0").check() if o["kind"] == "Service"]
    assert all(s["spec"]["internalTrafficPolicy"] == "Cluster" for s in services)
