"""object-name and name-collision: names of rendered objects must be valid and unique.

Checked by `kdrender validate` (and so by every command that renders), pointing at the
cluster's metadata.name.
"""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st

from kdrender.cli import main
from kdrender.k8s import dns1035_label, dns1123_label, label_value
from kdrender.names import label_value as names_label_value
from kdrender.names import mung, object_name, suffix

APP = """{
  "apiVersion": "kubedirector.hpe.com/v1beta1", "kind": "KubeDirectorApp",
  "metadata": {"name": "web"},
  "spec": {
    "label": {"name": "Web"}, "distroID": "x/web", "version": "1", "configSchemaVersion": 7,
    "defaultImageRepoTag": "nginx:1.27",
    "services": [{"id": "http", "label": {"name": "HTTP"}, "endpoint": {"port": 80, "urlScheme": "http"}}],
    "roles": [{"id": "front", "cardinality": "1+"}, {"id": "back", "cardinality": "0+"}],
    "config": {"selectedRoles": ["front"], "roleServices": [{"roleID": "front", "serviceIDs": ["http"]},
                                                          {"roleID": "back", "serviceIDs": ["http"]}]}
  }
}
"""

CLUSTER = """apiVersion: kubedirector.hpe.com/v1beta1
kind: KubeDirectorCluster
metadata:
  name: {name}
  namespace: web
spec:
  app: web
  roles:
  - id: front
    resources: {{limits: {{cpu: "1", memory: 1Gi}}}}
  - id: back
    members: 1
    resources: {{limits: {{cpu: "1", memory: 1Gi}}}}
"""


def validate(tmp_path, *names):
    (tmp_path / "catalog").mkdir()
    (tmp_path / "catalog" / "web.json").write_text(APP)
    (tmp_path / "clusters").mkdir()
    for i, name in enumerate(names):
        (tmp_path / "clusters" / f"c{i}.yaml").write_text(CLUSTER.format(name=name))
    result = CliRunner().invoke(main, ["validate", str(tmp_path)])
    return result.exit_code, result.output


def render(tmp_path, name, back_members=1):
    (tmp_path / "catalog").mkdir(exist_ok=True)
    (tmp_path / "catalog" / "web.json").write_text(APP)
    (tmp_path / "clusters").mkdir(exist_ok=True)
    path = tmp_path / "clusters" / "c.yaml"
    path.write_text(CLUSTER.format(name=name).replace("members: 1", f"members: {back_members}"))
    result = CliRunner().invoke(main, ["render", str(path), "--repo", str(tmp_path), "-o", "json"])
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]


def assert_valid_and_distinct(objects):
    names = [(o["kind"], o["metadata"]["name"]) for o in objects]
    assert len(names) == len(set(names))
    for kind, name in names:
        check = dns1035_label if kind == "Service" else dns1123_label
        assert check(name) is None, (kind, name)
        assert not name.endswith("-")
    for obj in objects:
        labels = dict(obj["metadata"].get("labels") or {})
        if obj["kind"] == "StatefulSet":
            labels.update(obj["spec"]["template"]["metadata"]["labels"])
            pods = [f"{obj['metadata']['name']}-{i}" for i in range(obj["spec"]["replicas"])]
            assert all(dns1123_label(p) is None for p in pods)
            # the controller-revision-hash label value is "<statefulset>-<10 digits>"
            assert len(obj["metadata"]["name"]) + 11 <= 63
        for value in labels.values():
            assert label_value(value) is None, value


@pytest.mark.parametrize("length", [45, 46, 47, 59, 63, 64, 253])
@pytest.mark.parametrize("back_members", [0, 2])
def test_long_cluster_names_give_valid_distinct_names(tmp_path, length, back_members):
    name = ("a-long-cluster-name-that-kubedirector-cuts-to-46-characters-" * 5)[:length - 1] + "x"
    objects = render(tmp_path, name, back_members)
    assert_valid_and_distinct(objects)
    statefulsets = sorted(o["metadata"]["name"] for o in objects if o["kind"] == "StatefulSet")
    assert len(statefulsets) == (2 if back_members else 1)
    [headless] = [o["metadata"]["name"] for o in objects if o["kind"] == "Service" and o["spec"].get("clusterIP") == "None"]
    # names of 46 characters or less are KubeDirector's munged names, unchanged; longer ones are
    # cut to 40 characters without a trailing '-' and end in '-<stable suffix of the full name>'
    assert headless == (name if length <= 46 else name[:40].rstrip("-") + "-" + suffix(name))
    for role in ["front"] + (["back"] if back_members else []):
        full = f"{name}-{role}"
        assert f"{name[:40].rstrip('-')}-{suffix(full)}" in statefulsets
    labels = objects[0]["metadata"]["labels"]
    assert labels["kubedirector.hpe.com/kdcluster"] == (name if length <= 63 else name[:57].rstrip("-.") + "-" + suffix(name))
    assert render(tmp_path, name, back_members) == objects  # deterministic


def test_names_that_are_not_cut_do_not_change():
    assert object_name("spark-instance-spark-master") == "spark-instance-spark-master"
    assert object_name("Centos7.vanilla_centos") == "centos7-vanilla-centos"
    assert object_name("x" * 46) == "x" * 46
    assert object_name("x" * 47) == "x" * 40 + "-" + suffix("x" * 47)


def test_dotted_cluster_name(tmp_path):
    objects = render(tmp_path, "ubuntu18.04")
    assert_valid_and_distinct(objects)
    names = {o["metadata"]["name"] for o in objects}
    assert {"ubuntu18-04", "ubuntu18-04-front", "ubuntu18-04-front-0", "ubuntu18-04-back"} <= names
    assert objects[0]["metadata"]["labels"]["kubedirector.hpe.com/kdcluster"] == "ubuntu18.04"


def test_names_that_start_with_a_digit_get_a_prefix(tmp_path):
    objects = render(tmp_path, "9lives")
    assert_valid_and_distinct(objects)
    assert {"kd-9lives", "kd-9lives-front", "kd-9lives-front-0"} <= {o["metadata"]["name"] for o in objects}


def test_roles_that_mung_alike_collide(tmp_path):
    app = APP.replace('"id": "front"', '"id": "a.b"').replace('"id": "back"', '"id": "a_b"').replace(
        '"front"', '"a.b"').replace('"back"', '"a_b"')
    (tmp_path / "catalog").mkdir()
    (tmp_path / "catalog" / "web.json").write_text(app)
    (tmp_path / "clusters").mkdir()
    (tmp_path / "clusters" / "c0.yaml").write_text(
        CLUSTER.format(name="web").replace("id: front", "id: a.b").replace("id: back", "id: a_b"))
    result = CliRunner().invoke(main, ["validate", str(tmp_path)])
    assert result.exit_code == 1
    assert ("clusters/c0.yaml:4:3: metadata.name: the StatefulSet of role 'a_b' and the StatefulSet of role 'a.b' "
            "would both be named 'web-a-b'") in result.output


def test_objects_of_two_clusters_may_not_collide(tmp_path):
    # "a-front-0" is both the member Service of cluster "a" and the headless Service of cluster "a-front-0"
    code, out = validate(tmp_path, "a", "a-front-0")
    assert code == 1
    assert "would be named 'a-front-0', the same as the" in out


def test_distinct_names_pass(tmp_path):
    code, out = validate(tmp_path, "alpha", "beta")
    assert code == 0, out


_LABEL = r"[a-z0-9]([-a-z0-9]{0,20}[a-z0-9])?"


@given(st.from_regex(rf"\A{_LABEL}(\.{_LABEL}){{0,8}}\Z").filter(lambda n: len(n) <= 253),
       st.lists(st.from_regex(r"\A[A-Za-z0-9]([-A-Za-z0-9_.]{0,20}[A-Za-z0-9])?\Z"), min_size=1, max_size=4,
                unique_by=lambda r: r.lower().replace("_", "-").replace(".", "-")))
def test_every_cluster_name_gives_valid_distinct_object_names(cluster, roles):
    headless = object_name(cluster)
    statefulsets = [object_name(f"{cluster}-{role}") for role in roles]
    for name in [headless] + statefulsets:
        assert len(name) <= 46 and dns1035_label(name) is None and dns1035_label(name + "-999") is None
    assert len(set(statefulsets)) == len(statefulsets)
    assert label_value(names_label_value(cluster)) is None
    if len(cluster) <= 46 and cluster[0].isalpha():
        assert headless == mung(cluster)  # names that are not cut do not change
