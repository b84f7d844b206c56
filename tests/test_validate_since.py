"""``kdrender validate --since REF`` (kdrender/since.py): only what changed since REF is loaded, and
its problems are exactly the full validate's, cross-cluster rules included."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from render_helpers import PROJECT, run_cli
from test_incremental import commit, connected, git, repo  # noqa: F401  (the fixture)

from kdrender import since

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")

SPARK = (PROJECT / "clusters" / "spark221e2.yaml").read_text()


def problems(root: Path, *extra: str) -> tuple[int, list, str]:
    result = run_cli("validate", str(root), "--format", "json", *extra)
    assert "Traceback" not in result.stderr
    return result.exit_code, sorted(json.dumps(p, sort_keys=True) for p in json.loads(result.stdout)), result.stderr


def same_as_full(root: Path, ref: str = "HEAD") -> list:
    """validate --since REF gives the full validate's problems; returns them."""
    code, got, _ = problems(root, "--since", ref)
    full_code, full, _ = problems(root)
    assert (code, got) == (full_code, full)
    return full


def loaded(root: Path, ref: str = "HEAD") -> list:
    model, _, note, files = since.validate_since(str(root), ref)
    assert note is None and model is not None
    return sorted(files)


def test_nothing_changed_loads_nothing(repo):
    assert loaded(repo) == []
    result = run_cli("validate", str(repo), "--since", "HEAD")
    assert result.exit_code == 0 and "0 cluster files changed since HEAD" in result.stderr


def test_a_changed_cluster_loads_it_and_the_clusters_it_involves(repo):
    path = repo / "clusters" / "conn-a.yaml"
    path.write_text(path.read_text().replace("members: 2", "members: 3", 1))
    assert loaded(repo) == ["clusters/conn-a.yaml", "clusters/conn-b.yaml"]  # conn-b connects to conn-a
    path.write_text(path.read_text().replace("members: 3", "members: -1", 1))
    assert any("members" in p for p in same_as_full(repo))


@pytest.fixture(params=["patterns", "listing"])
def picked(request, monkeypatch):
    """Git picks the files of the names out of golden/ (patterns), or kdrender from the whole
    listing (more names than a command line should carry)."""
    from kdrender import incremental

    if request.param == "listing":
        monkeypatch.setattr(incremental, "MAX_PATTERNS", 0)
    return request.param


def test_git_patterns_match_only_the_names_they_escape(tmp_path):
    from kdrender.incremental import Worktree

    folder = tmp_path / "golden" / "ns" / "b"
    folder.mkdir(parents=True)
    for name in ("x*.yaml", "xy.yaml", "x?.yaml"):
        (folder / name).write_text("a: 1\n")
    (tmp_path / "golden" / "ns" / "b" / "deep").mkdir()
    (tmp_path / "golden" / "ns" / "b" / "deep" / "x*.yaml").write_text("a: 1\n")
    git(tmp_path, "init", "-q")
    git(tmp_path, "add", "-A")
    tree = Worktree(str(tmp_path))
    assert [(k, sorted(p for p, _ in files)) for k, files in tree.golden_bundles("golden/ns/", {"x*.yaml"})] \
        == [("ns/b", ["ns/b/x*.yaml"])]
    assert list(tree.golden_bundles("golden/ns/", set())) == []


def test_a_new_cluster_whose_objects_take_an_unchanged_clusters_names(repo, picked):
    # its headless Service is the member Service of spark-instance's controller
    (repo / "clusters" / "new.yaml").write_text(connected(SPARK, "spark-instance-controller-0"))
    assert "clusters/spark221e2.yaml" in loaded(repo)
    found = same_as_full(repo)
    assert any("the same as the member Service of role 'controller' of cluster 'spark-instance'" in p for p in found)


def test_a_new_cluster_taking_a_name_an_unchanged_cluster_reserves_without_writing_it(repo, picked):
    # spark211-instance writes no readiness Service, but its name is reserved (resolve.object_names)
    assert not (repo / "golden" / "analytics" / "spark211-instance" / "service-spark211-instance-ready.yaml").exists()
    (repo / "clusters" / "new.yaml").write_text(connected(SPARK, "spark211-instance-ready"))
    assert "clusters/spark211up.yaml" in loaded(repo)
    found = same_as_full(repo)
    assert any("the same as the readiness Service of cluster 'spark211-instance'" in p for p in found)
    assert since._reserved("a") >= {"configmap-a-configmeta-1.yaml", "configmap-a-kd-agent.yaml", "service-a-ready.yaml"}
    for name in since._reserved("a-b"):  # each reserved name leads back to the files that show it
        assert since._sources(name) >= {"service-a-b.yaml", "configmap-a-b-configmeta.yaml", name}
    assert since._sources("statefulset-a-b.yaml") == {"statefulset-a-b.yaml"}


def test_a_duplicate_name_in_a_new_file(repo):
    (repo / "clusters" / "again.yaml").write_text((repo / "clusters" / "conn-a.yaml").read_text())
    assert "clusters/conn-a.yaml" in loaded(repo)
    assert any("already defined" in p for p in same_as_full(repo))


def test_a_deleted_cluster_that_another_connects_to(repo):
    (repo / "clusters" / "conn-a.yaml").unlink()
    assert loaded(repo) == ["clusters/conn-b.yaml"]
    found = same_as_full(repo)
    assert found and all("clusters/conn-b.yaml" in p for p in found)


def test_a_changed_app_loads_its_clusters(repo):
    path = repo / "catalog" / "spark221e2.json"
    path.write_text(path.read_text().replace('"distroID": "bluedata/spark221e2"', '"distroID": "bluedata/spark221e3"'))
    assert loaded(repo) == ["clusters/conn-a.yaml", "clusters/conn-b.yaml", "clusters/spark221e2.yaml"]
    same_as_full(repo)
    (repo / "catalog" / "spark221e2.json").write_text("{")
    assert any("catalog/spark221e2.json" in p for p in same_as_full(repo))


def test_against_the_target_branch_after_build_and_commit(repo):
    base = git(repo, "rev-parse", "HEAD").strip()
    path = repo / "clusters" / "caffe2.yaml"
    path.write_text(path.read_text().replace("\nmetadata:\n", "\nmetadata:\n  labels: {team: a}\n", 1))
    assert run_cli("build", str(repo)).exit_code == 0
    commit(repo, "one cluster")
    assert loaded(repo, base) == ["clusters/caffe2.yaml"]
    assert loaded(repo) == []  # against HEAD itself everything is vouched for (the documented trust model)
    same_as_full(repo, base)


@pytest.mark.parametrize("how", ["no git", "no record", "config", "bad ref"])
def test_everything_is_validated_when_the_record_cannot_be_used(repo, how):
    ref = "HEAD"
    if how == "no git":
        shutil.rmtree(repo / ".git")
    elif how == "no record":
        (repo / "kdrender.record").unlink()
    elif how == "config":
        (repo / "kdrender.yaml").write_text((repo / "kdrender.yaml").read_text() + "# comment\n")
    else:
        ref = "no-such-branch"
    path = repo / "clusters" / "conn-b.yaml"
    path.write_text(path.read_text().replace("members: 2", "members: -1", 1))
    result = run_cli("validate", str(repo), "--since", ref)
    assert result.exit_code == 1 and "note:" in result.stderr and "members" in result.stdout
    assert "Traceback" not in result.stderr
    model, _, note, _ = since.validate_since(str(repo), ref)
    assert model is None and note


def test_since_and_base_do_not_mix(repo):
    result = run_cli("validate", str(repo), "--since", "HEAD", "--base", "HEAD")
    assert result.exit_code == 2 and "--since" in result.stderr


@pytest.mark.parametrize("ref", ["--output={out}", "-h", "HEAD:../x", "a..b", "HEAD\n"])
def test_a_hostile_ref_validates_everything(repo, ref):
    out = repo.parent / "written"
    result = run_cli("validate", str(repo), f"--since={ref.format(out=out)}")
    assert result.exit_code == 0 and "note:" in result.stderr and "Traceback" not in result.stderr
    assert not out.exists()
