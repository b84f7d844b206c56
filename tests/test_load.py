"""Stage 1, load: parsing with positions, duplicate keys, several documents per file, repo layout."""

from __future__ import annotations

import os

import pytest

from kdrender.load import Document, check_inside, find_files, load_repo, parse_json, parse_text, parse_yaml, read_file
from kdrender.problems import format_path
from kdrender.validate import validate_repo


def test_positions_of_keys_and_items():
    [doc], problems = parse_yaml("a: 1\nb:\n  - x\n  - {c: 2}\n", "f.yaml")
    assert problems == []
    assert doc.data == {"a": 1, "b": ["x", {"c": 2}]}
    assert doc.positions[()] == (1, 1)
    assert doc.positions[("a",)] == (1, 1)
    assert doc.positions[("b",)] == (2, 1)
    assert doc.positions[("b", 0)] == (3, 5)
    assert doc.positions[("b", 1, "c")] == (4, 6)


def test_where_falls_back_to_the_nearest_written_ancestor():
    [doc], _ = parse_yaml("spec:\n  roles:\n  - id: a\n", "f.yaml")
    assert doc.where(("spec", "roles", 0, "members")) == (3, 5)
    assert doc.where(("nothing", "here")) == (1, 1)
    problem = doc.problem(("spec", "roles", 0, "members"), "is missing", "r")
    assert problem.text() == "f.yaml:3:5: spec.roles[0].members: is missing"


def test_format_path():
    assert format_path(("spec", "roles", 1, "members")) == "spec.roles[1].members"
    assert format_path(()) == ""


def test_several_documents_per_file_and_empty_documents_skipped():
    text = "---\n---\na: 1\n---\n# only a comment\n---\nb: 2\n...\n---\n"
    docs, problems = parse_yaml(text, "f.yaml")
    assert problems == []
    assert [d.data for d in docs] == [{"a": 1}, {"b": 2}]
    assert docs[1].positions[("b",)] == (7, 1)
    assert docs[0].index < docs[1].index


def test_duplicate_key_in_yaml():
    docs, problems = parse_yaml("spec:\n  app: a\n  roles: []\n  app: b\n", "clusters/x.yaml")
    assert [p.text() for p in problems] == [
        "clusters/x.yaml:4:3: spec.app: duplicate key 'app' (first defined at line 2); "
        "YAML would silently keep only the last one"]
    assert problems[0].rule == "duplicate-key"
    assert docs[0].data["spec"]["app"] == "b"


def test_duplicate_key_in_json_keeps_positions():
    text = '{\n  "kind": "A",\n  "spec": {"x": 1},\n  "kind": "B"\n}\n'
    [doc], problems = parse_json(text, "catalog/a.json")
    assert [p.text() for p in problems] == [
        "catalog/a.json:4:3: kind: duplicate key 'kind' (first defined at line 2); "
        "YAML would silently keep only the last one"]
    assert doc.data == {"kind": "B", "spec": {"x": 1}}
    assert doc.where(("spec", "x")) == (3, 12)  # other problems in the file still point at their line


def test_non_string_key_is_a_problem():
    _, problems = parse_yaml("spec:\n  1: x\n", "f.yaml")
    assert [p.text() for p in problems] == ["f.yaml:2:3: spec: mapping key 1 must be a string (quote it)"]


def test_json_with_tabs_loads_with_positions():
    # tabs are white space in JSON; YAML parsers reject them (libyaml at least before a document)
    text = '\t{\n\t"kind":\t"KubeDirectorApp",\n\t"spec": {\n\t\t"roles": [\n\t\t\t{"id": "a"}\n\t\t]\n\t}\n}\n'
    assert parse_yaml(text, "x.yaml")[1][0].rule == "syntax"
    [doc], problems = parse_json(text, "catalog/a.json")
    assert problems == []
    assert doc.data == {"kind": "KubeDirectorApp", "spec": {"roles": [{"id": "a"}]}}
    assert doc.where(("spec", "roles", 0, "id")) == (5, 5)  # a tab counts as one column


def test_anchors_aliases_and_merge_keys():
    [doc], problems = parse_yaml("base: &b {cpu: '1', memory: 1Gi}\nlimits:\n  <<: *b\n  cpu: '2'\ncopy: *b\n", "f.yaml")
    assert problems == []
    assert doc.data == {"base": {"cpu": "1", "memory": "1Gi"}, "limits": {"cpu": "2", "memory": "1Gi"},
                        "copy": {"cpu": "1", "memory": "1Gi"}}
    assert doc.data["copy"] is not doc.data["base"]
    assert doc.positions[("limits", "cpu")] == (4, 3)
    # overriding a merged key is what "<<" is for; writing a key twice is still a duplicate
    _, problems = parse_yaml("base: &b {cpu: '1'}\nlimits:\n  <<: *b\n  cpu: '2'\n  cpu: '3'\n", "f.yaml")
    assert [(p.line, p.path, p.rule) for p in problems] == [(5, "limits.cpu", "duplicate-key")]


@pytest.mark.parametrize("text", ["a: &x [*x]\n", "a: &x {b: [1, *x]}\n"])
def test_recursive_alias_is_a_problem_not_a_crash(text):
    docs, problems = parse_yaml(text, "f.yaml")
    assert docs == []
    assert [p.text() for p in problems] == ["f.yaml:1:4: invalid YAML: an alias refers to a node that contains it"]


def test_alias_expansion_is_bounded():
    from kdrender.budget import Budget

    laughs = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{n}: &{n} [{', '.join(['*' + p] * 10)}]\n" for p, n in zip("abcde", "bcdef"))
    docs, problems = parse_yaml(laughs, "f.yaml", Budget(nodes=1000))
    assert docs == []
    assert [p.rule for p in problems] == ["budget"]
    assert problems[0].message == ("over budget: more than 1000 values in this file, aliases expanded "
                                   "(limits.nodes in kdrender.yaml); not read")


def test_malformed_yaml():
    docs, problems = parse_yaml("spec:\n  roles: [a, b\n  app: x\n", "clusters/x.yaml")
    assert docs == []
    [problem] = problems
    assert (problem.file, problem.rule, problem.line) == ("clusters/x.yaml", "syntax", 3)
    assert problem.message.startswith("invalid YAML: ")


def test_malformed_json():
    docs, problems = parse_text('{\n  "a": 1,\n  "b": \n}\n', "catalog/x.json")
    assert docs == []
    assert [p.text() for p in problems] == ["catalog/x.json:4:1: invalid JSON: Expecting value"]


def test_yaml_suffixes_decide_the_parser():
    assert parse_text("a: 1\n", "x.yml")[0][0].data == {"a": 1}
    assert parse_text('{"a": 1}', "x.json")[0][0].data == {"a": 1}


def test_read_file_bom_and_encoding(tmp_path):
    (tmp_path / "bom.yaml").write_bytes(b"\xef\xbb\xbfa: 1\n")
    (tmp_path / "latin1.yaml").write_bytes(b"a: \xe9\n")
    assert read_file(str(tmp_path), "bom.yaml")[0][0].data == {"a": 1}
    docs, problems = read_file(str(tmp_path), "latin1.yaml")
    assert docs == [] and problems[0].text().startswith("latin1.yaml:1:1: file is not UTF-8")
    docs, problems = read_file(str(tmp_path), "missing.yaml")
    assert docs == [] and problems[0].message.startswith("cannot read file")


@pytest.mark.parametrize("rel", ["../x.yaml", "clusters/../../x.yaml", "/etc/passwd"])
def test_paths_may_not_leave_the_repo(tmp_path, rel):
    problem = check_inside(str(tmp_path), rel)
    assert problem is not None and "leaves the repo" in problem.message
    assert read_file(str(tmp_path), rel) == ([], [problem])


def test_symlink_out_of_the_repo_is_a_problem(kd, tmp_path):
    outside = tmp_path / "outside.yaml"
    outside.write_text(kd.CLUSTER)
    root = kd.write({"catalog/web.yaml": kd.APP})
    os.symlink(outside, root / "clusters" / "escape.yaml")
    repo = load_repo(str(root))
    assert repo.clusters == []
    assert [p.text() for p in repo.problems] == [
        "clusters/escape.yaml:1:1: path resolves outside the repo (a symlink pointing out of it)"]
    model, problems = validate_repo(repo)
    assert [p.rule for p in problems] == ["load"] and model.clusters == []


def test_symlink_inside_the_repo_is_refused_too(kd):
    # never read through a link, even one that stays in the repo: its target can change unseen in review
    root = kd.write({"catalog/web.yaml": kd.APP, "shared/web1.yaml": kd.CLUSTER})
    os.symlink(root / "shared" / "web1.yaml", root / "clusters" / "web1.yaml")
    model, problems = validate_repo(load_repo(str(root)))
    assert [p.text() for p in problems] == [
        "clusters/web1.yaml:1:1: clusters/web1.yaml is a symbolic link; kdrender reads no file through a link "
        "(commit the file itself)"]
    assert model.clusters == []


def test_symlinked_folders_are_not_followed(kd, tmp_path):
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "web1.yaml").write_text(kd.CLUSTER)
    root = kd.write({})
    os.symlink(tmp_path / "elsewhere", root / "clusters" / "linked")
    assert find_files(str(root), "clusters") == []


def test_find_files(kd):
    root = kd.write({
        "clusters/b.yaml": "", "clusters/a/z.yml": "", "clusters/a/y.json": "", "clusters/README.md": "",
        "clusters/.hidden.yaml": "", "clusters/.git/x.yaml": "", "clusters/notes.txt": "",
    })
    assert find_files(str(root), "clusters") == ["clusters/a/y.json", "clusters/a/z.yml", "clusters/b.yaml"]
    assert find_files(str(root), "missing") == []


def test_load_repo_sorts_documents_by_kind(kd):
    config = ("apiVersion: kubedirector.hpe.com/v1beta1\nkind: KubeDirectorConfig\n"
              "metadata: {name: kd-global-config}\nspec: {defaultServiceType: NodePort}\n")
    root = kd.write({
        "catalog/web.yaml": kd.APP + "---\n" + config,
        "clusters/all.yaml": kd.APP.replace("name: web", "name: web2") + "---\n" + kd.CLUSTER,
    }, config="kdrender:\n  namespace: apps\n")
    repo = load_repo(str(root))
    assert repo.problems == []
    assert [(d.file, d.name) for d in repo.catalog] == [("catalog/web.yaml", "web"), ("clusters/all.yaml", "web2")]
    assert [(d.file, d.kind) for d in repo.configs] == [("kdrender.yaml", None), ("catalog/web.yaml", "KubeDirectorConfig")]
    assert [(d.file, d.index, d.name) for d in repo.clusters] == [("clusters/all.yaml", 1, "web1")]
    model, problems = validate_repo(repo)
    assert problems == []
    assert sorted(model.apps) == ["web", "web2"]
    assert model.config.get("defaultServiceType") == "NodePort"
    assert model.clusters[0].namespace == "apps"


def test_load_repo_cluster_files_restricts_the_clusters(kd):
    root = kd.write({"catalog/web.yaml": kd.APP, "clusters/web1.yaml": kd.CLUSTER,
                     "clusters/broken.yaml": "a: [\n"})
    repo = load_repo(str(root), ["clusters/web1.yaml"])
    assert repo.problems == [] and [d.file for d in repo.clusters] == ["clusters/web1.yaml"]
    assert [p.rule for p in load_repo(str(root)).problems] == ["syntax"]


def test_several_clusters_in_one_file(kd):
    web2 = kd.CLUSTER.replace("name: web1", "name: web2")
    result = kd.run(cluster="# two clusters\n---\n" + kd.CLUSTER + "---\n---\n" + web2)
    assert result.texts == []
    assert [(c.name, c.file) for c in result.model.clusters] == [("web1", "clusters/web1.yaml"),
                                                                 ("web2", "clusters/web1.yaml")]


def test_problem_in_second_document_points_at_its_own_line(kd):
    web2 = kd.CLUSTER.replace("name: web1", "name: web2").replace("members: 2", "members: -1")
    result = kd.run(cluster=kd.CLUSTER + "---\n" + web2)
    # the second document starts on line 17; its members is line 13 of it
    assert result.texts == ["clusters/web1.yaml:29:5: spec.roles[1].members: -1 is less than the minimum of 0"]


def test_empty_files_are_fine(kd):
    result = kd.run(files={"clusters/empty.yaml": "", "clusters/comments.yaml": "# nothing yet\n---\n"})
    assert result.texts == [] and len(result.model.clusters) == 1


@pytest.mark.parametrize("text, expected", [
    ("apiVersion: v1\nkind: Secret\nmetadata: {name: s}\n",
     "clusters/other.yaml:2:1: kind: a Secret in a cluster file goes into the bundle of the file's "
     "KubeDirectorCluster; this file has none; keep it in the file of the cluster it belongs to"),
    ("apiVersion: v1\nmetadata: {name: s}\n",
     "clusters/other.yaml:1:1: kind None is not a KubeDirector kind (expected KubeDirectorCluster)"),
    ("- a\n- b\n", "clusters/other.yaml:1:1: a KubeDirectorCluster must be a mapping, not list"),
])
def test_non_kubedirector_documents_in_clusters(kd, text, expected):
    result = kd.run(files={"clusters/other.yaml": text})
    assert result.texts == [expected]
    assert [c.name for c in result.model.clusters] == ["web1"]  # the rest of the repo is still checked


def test_non_kubedirector_kind_in_catalog(kd):
    result = kd.run(files={"catalog/x.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n"})
    assert result.texts == ["catalog/x.yaml:2:1: kind: kind 'ConfigMap' is not a KubeDirector kind "
                            "(expected KubeDirectorApp)"]


def test_kubedirector_cluster_in_catalog_is_not_checked_as_an_app(kd):
    # (checked as an app, a cluster without roles used to crash the defaulting)
    cluster = "apiVersion: kubedirector.hpe.com/v1beta1\nkind: KubeDirectorCluster\nspec: {app: web, roles: []}\n"
    result = kd.run(files={"catalog/web9.yaml": cluster})
    assert result.texts == ["catalog/web9.yaml:2:1: kind: kind 'KubeDirectorCluster' does not belong here "
                            "(expected KubeDirectorApp)"]


def test_kubedirector_app_as_kdrender_yaml(kd):
    result = kd.run(config=kd.APP)
    assert result.texts == ["kdrender.yaml:2:1: kind: kind 'KubeDirectorApp' does not belong here "
                            "(expected KubeDirectorConfig)"]
    assert result.model.config.get("defaultServiceType") == "LoadBalancer"


def test_document_properties():
    doc = Document("f", 0, {"kind": "K", "apiVersion": "v", "metadata": {"name": 3}})
    assert (doc.kind, doc.api_version, doc.name) == ("K", "v", "")
    assert Document("f", 0, ["x"]).kind is None
