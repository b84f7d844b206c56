"""object-name and name-collision: names of rendered objects must be valid and unique.

Checked by `kdrender validate` (and so by every command that renders), pointing at the
cluster's metadata.name.
"""

from __future__ import annotations

from click.testing import CliRunner

from kdrender.cli import main

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


def test_long_cluster_names_make_role_names_collide(tmp_path):
    name = "a" * 50
    code, out = validate(tmp_path, name)
    assert code == 1
    assert (f"clusters/c0.yaml:4:3: metadata.name: the StatefulSet of role 'back' and the StatefulSet of role "
            f"'front' would both be named '{'a' * 46}' (names are cut to 46 characters; shorten the cluster name)") in out


def test_member_service_name_must_start_with_a_letter(tmp_path):
    code, out = validate(tmp_path, "9lives")
    assert code == 1
    assert "clusters/c0.yaml:4:3: metadata.name: the headless Service would be named '9lives', which must" in out
    assert "clusters/c0.yaml:4:3: metadata.name: the member Service of role 'front' would be named '9lives-front-0'" in out
    assert "start with a letter" in out


def test_objects_of_two_clusters_may_not_collide(tmp_path):
    # "a-front-0" is both the member Service of cluster "a" and the headless Service of cluster "a-front-0"
    code, out = validate(tmp_path, "a", "a-front-0")
    assert code == 1
    assert "would be named 'a-front-0', the same as the" in out


def test_distinct_names_pass(tmp_path):
    code, out = validate(tmp_path, "alpha", "beta")
    assert code == 0, out
