"""kdrender scale / set: in-place edits that keep everything but the intended lines, validated first."""

from __future__ import annotations

import difflib
import os
import re

import pytest

from conftest import CLUSTER_YAML
from review_helpers import APP, CLUSTER, run, write

from kdrender.review.edit import EditError, Select, parse_path, round_trip, set_value


def changed_lines(old: str, new: str) -> list:
    """The (removed, added) lines of a line diff."""
    out = []
    for line in difflib.ndiff(old.splitlines(), new.splitlines()):
        if line[:1] in "+-":
            out.append(line)
    return out


@pytest.fixture
def repo(tmp_path):
    root = tmp_path / "repo"
    write(root, {"catalog/web.yaml": APP, "clusters/web1.yaml": CLUSTER})
    return root


def test_scale_changes_only_the_members_line(repo):
    result = run("scale", str(repo / "clusters/web1.yaml"), "worker", "5", "--repo", str(repo))
    assert result.exit_code == 0, result.stderr
    assert result.stderr == "clusters/web1.yaml: role worker: members 2 -> 5\n"
    new = (repo / "clusters/web1.yaml").read_text()
    assert changed_lines(CLUSTER, new) == ["-     members: 2   # two to start with", "+     members: 5   # two to start with"]


def test_scale_adds_members_after_the_id(repo):
    write(repo, {"clusters/web1.yaml": CLUSTER_YAML})
    result = run("scale", str(repo / "clusters/web1.yaml"), "worker", "3", "--repo", str(repo))
    assert result.exit_code == 0
    # controller has no members line (KubeDirector defaults it); setting it inserts one line
    ok = run("scale", str(repo / "clusters/web1.yaml"), "controller", "1", "--repo", str(repo))
    assert ok.exit_code == 0 and ok.stderr == "clusters/web1.yaml: role controller: members (default) -> 1\n"
    assert changed_lines(CLUSTER_YAML, (repo / "clusters/web1.yaml").read_text()) == [
        "+     members: 1", "-     members: 2", "+     members: 3"]


def test_invalid_scale_is_refused_and_nothing_written(repo):
    before = (repo / "clusters/web1.yaml").read_bytes()
    result = run("scale", str(repo / "clusters/web1.yaml"), "controller", "2", "--repo", str(repo))
    assert result.exit_code == 1
    assert "clusters/web1.yaml:12:5: spec.roles[0].members: Invalid member count for role(controller)" in result.stderr \
        or "spec.roles[0].members" in result.stderr
    assert "the edit would make it invalid; nothing was written" in result.stderr
    assert (repo / "clusters/web1.yaml").read_bytes() == before
    assert sorted(os.listdir(repo / "clusters")) == ["web1.yaml"]


def test_unknown_role(repo):
    result = run("scale", str(repo / "clusters/web1.yaml"), "master", "1", "--repo", str(repo))
    assert result.exit_code == 1
    assert "the cluster has no role 'master' (roles: controller, worker)" in result.stderr


def test_set_keeps_quoting_and_flow_style(repo):
    result = run("set", str(repo / "clusters/web1.yaml"), "spec.roles[controller].resources.requests.cpu", "500m",
                 "--repo", str(repo))
    assert result.exit_code == 0, result.stderr
    assert result.stderr == "clusters/web1.yaml: spec.roles[controller].resources.requests.cpu: 1 -> 500m\n"
    assert changed_lines(CLUSTER, (repo / "clusters/web1.yaml").read_text()) == [
        '-       requests: {cpu: "1", memory: 1Gi}', '+       requests: {cpu: "500m", memory: 1Gi}']


def test_set_a_number_into_a_string_field_stays_a_string(repo):
    result = run("set", str(repo / "clusters/web1.yaml"), "spec.roles[1].resources.limits.cpu", "2", "--repo", str(repo))
    assert result.exit_code == 0
    assert changed_lines(CLUSTER, (repo / "clusters/web1.yaml").read_text()) == [
        '-       limits: {cpu: "1", memory: 1Gi}', '+       limits: {cpu: "2", memory: 1Gi}']


def test_set_creates_missing_mappings(repo):
    result = run("set", str(repo / "clusters/web1.yaml"), 'spec.roles[worker].podLabels["example.com/tier"]', "batch",
                 "--repo", str(repo))
    assert result.exit_code == 0, result.stderr
    assert changed_lines(CLUSTER, (repo / "clusters/web1.yaml").read_text()) == [
        "+     podLabels:", "+       example.com/tier: batch"]


def test_set_storage_size_unquoted(repo):
    assert run("set", str(repo / "clusters/web1.yaml"), "spec.roles[worker].storage.size", "20Gi",
               "--repo", str(repo)).exit_code == 0
    assert changed_lines(CLUSTER, (repo / "clusters/web1.yaml").read_text()) == [
        "-       size: 10Gi", "+       size: 20Gi"]


def test_invalid_set_is_refused(repo):
    before = (repo / "clusters/web1.yaml").read_bytes()
    result = run("set", str(repo / "clusters/web1.yaml"), "spec.serviceType", "Internet", "--repo", str(repo))
    assert result.exit_code == 1
    assert "clusters/web1.yaml:9:3: spec.serviceType: 'Internet' is not one of" in result.stderr
    assert (repo / "clusters/web1.yaml").read_bytes() == before


def test_indentation_and_document_markers_kept(repo):
    text = ("---\n# first\napiVersion: kubedirector.hpe.com/v1beta1\nkind: KubeDirectorCluster\nmetadata:\n"
            "    name: a\n    namespace: web\nspec:\n    app: web\n    roles:\n      - id: controller   # the one\n"
            "        members: 1\n        resources: {limits: {cpu: 1, memory: 1Gi}}\n---\napiVersion: kubedirector.hpe.com/v1beta1\nkind: KubeDirectorCluster\n"
            "metadata:\n    name: b\n    namespace: web\nspec:\n    app: web\n    roles:\n      - id: controller\n"
            "        resources: {limits: {cpu: 1, memory: 1Gi}}\n      - id: worker\n        members: 1\n"
            "        resources: {limits: {cpu: 1, memory: 1Gi}}\n")
    write(repo, {"clusters/two.yaml": text})
    ambiguous = run("scale", str(repo / "clusters/two.yaml"), "worker", "2", "--repo", str(repo))
    assert ambiguous.exit_code == 1 and "holds several clusters; name one with --cluster" in ambiguous.stderr
    result = run("scale", str(repo / "clusters/two.yaml"), "worker", "2", "--cluster", "b", "--repo", str(repo))
    assert result.exit_code == 0, result.stderr
    assert changed_lines(text, (repo / "clusters/two.yaml").read_text()) == [
        "-         members: 1", "+         members: 2"]
    assert (repo / "clusters/two.yaml").read_text().count("members: 1") == 1


def test_scale_of_kubedirector_files_changes_one_line(conformance, conformance_cluster):
    """KubeDirector's own example files (odd layouts included): scaling the first role touches one line."""
    import yaml

    version, name = conformance_cluster
    path = conformance / version / "clusters" / name
    if path.suffix not in (".yaml", ".yml"):
        pytest.skip("JSON files are not edited")
    text = path.read_text(encoding="utf-8")
    assert round_trip(text, lambda doc: None) == (text, False)
    edited, normalized = round_trip(text, lambda doc: set_value(doc, ("spec", "roles", 0, "members"), 7, after="id"))
    # a dash alone on its line is the one layout ruamel.yaml cannot keep around an edit in that item
    assert normalized == bool(re.search(r"^ *- *$", text, re.M))
    if not normalized:
        lines = changed_lines(text, edited)
        assert len([line for line in lines if line.startswith("+")]) == 1, lines
        assert len([line for line in lines if line.startswith("-")]) <= 1, lines
    old, new = yaml.safe_load(text), yaml.safe_load(edited)
    old["spec"]["roles"][0]["members"] = 7
    assert new == old


def test_paths():
    assert parse_path('spec.roles[worker].members') == ("spec", "roles", Select("id", "worker"), "members")
    assert parse_path('spec.roles[1].secretKeys[name=a.b]') == ("spec", "roles", 1, "secretKeys", Select("name", "a.b"))
    assert parse_path('metadata.labels["a.b/c"]') == ("metadata", "labels", "a.b/c")
    for bad in ("", ".spec", "spec..roles", "spec roles", "spec.roles[", "spec.roles[worker"):
        with pytest.raises(EditError):
            parse_path(bad)


def test_symlinks_and_outside_files_refused(repo, tmp_path):
    outside = tmp_path / "outside.yaml"
    outside.write_text(CLUSTER)
    os.symlink(outside, repo / "clusters" / "link.yaml")
    for target, message in ((repo / "clusters/link.yaml", "is a symlink"), (outside, "not inside the repo"),
                            (repo / "catalog/web.yaml", "only .yaml/.yml cluster files below clusters/")):
        result = run("set", str(target), "spec.serviceType", "NodePort", "--repo", str(repo))
        assert result.exit_code == 1 and message in result.stderr, result.stderr
    assert outside.read_text() == CLUSTER


def test_symlinked_clusters_folder_refused(tmp_path):
    root = tmp_path / "repo"
    write(root, {"catalog/web.yaml": APP})
    write(tmp_path / "elsewhere", {"web1.yaml": CLUSTER})
    os.symlink(tmp_path / "elsewhere", root / "clusters")
    result = run("scale", str(root / "clusters/web1.yaml"), "worker", "3", "--repo", str(root))
    assert result.exit_code == 1 and "symlink" in result.stderr
    assert (tmp_path / "elsewhere/web1.yaml").read_text() == CLUSTER


def test_file_mode_kept(repo):
    os.chmod(repo / "clusters/web1.yaml", 0o640)
    assert run("scale", str(repo / "clusters/web1.yaml"), "worker", "3", "--repo", str(repo)).exit_code == 0
    assert os.stat(repo / "clusters/web1.yaml").st_mode & 0o777 == 0o640


def test_line_endings_and_byte_order_mark_kept(repo):
    crlf = "\ufeff" + CLUSTER.replace("\n", "\r\n")
    (repo / "clusters/web1.yaml").write_bytes(crlf.encode("utf-8"))
    assert run("scale", str(repo / "clusters/web1.yaml"), "worker", "3", "--repo", str(repo)).exit_code == 0
    assert (repo / "clusters/web1.yaml").read_bytes() == crlf.replace("members: 2 ", "members: 3 ").encode("utf-8")


@pytest.mark.parametrize("value, message", [
    ("!!python/object/apply:os.system [echo hi]", "VALUE is not valid YAML: could not determine a constructor"),
    ("!custom x", "VALUE is not valid YAML: could not determine a constructor"),
    ("[1", "VALUE is not valid YAML"),
])
def test_values_are_plain_yaml(repo, value, message):
    result = run("set", str(repo / "clusters/web1.yaml"), "spec.serviceType", value, "--repo", str(repo))
    assert result.exit_code == 1 and message in result.stderr and "Traceback" not in result.stderr
    assert (repo / "clusters/web1.yaml").read_text() == CLUSTER


@pytest.mark.parametrize("text", ["", "a: [\n", "kind: KubeDirectorCluster\nspec: [1]\n", "- 1\n- 2\n"])
def test_odd_files_are_refused_cleanly(repo, text):
    write(repo, {"clusters/odd.yaml": text})
    for args in (("scale", "worker", "1"), ("set", "spec.roles[worker].members", "1")):
        result = run(args[0], str(repo / "clusters/odd.yaml"), *args[1:], "--repo", str(repo))
        assert result.exit_code == 1 and "kdrender: " in result.stderr and "Traceback" not in result.stderr
    assert (repo / "clusters/odd.yaml").read_text() == text
