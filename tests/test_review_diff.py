"""kdrender diff: per-object changes between a Git revision and the working tree, dangerous ones flagged."""

from __future__ import annotations

import os

import pytest

from conftest import edit
from review_helpers import APP, CLUSTER, commit, diff_json, git, git_repo, run, write


def objects(report: dict, status: str | None = None) -> dict:
    """``"Kind ns/name"`` -> object entry."""
    return {f"{o['kind']} {o['namespace']}/{o['name']}": o for o in report["objects"]
            if status is None or o["status"] == status}


def reasons(report: dict) -> str:
    return "\n".join(r for o in report["objects"] for r in o["reasons"])


@pytest.fixture
def repo(tmp_path):
    return git_repo(tmp_path / "repo")


def test_no_change_exits_0(repo):
    code, report = diff_json(repo)
    assert code == 0
    assert report["objects"] == [] and report["summary"]["dangerous"] == 0
    assert "merge base with main" in report["base"]


def test_two_commits_compared_with_base_ref(repo):
    first = git(repo, "rev-parse", "HEAD")
    commit(repo, "less cpu", {"clusters/web1.yaml": edit(CLUSTER, ('requests: {cpu: "1"', 'requests: {cpu: "500m"'))})
    assert diff_json(repo)[0] == 0  # HEAD is main: the working tree is clean
    code, report = diff_json(repo, "--base", "HEAD~1")
    assert code == 1
    sts = objects(report)["StatefulSet web/web1-controller"]
    assert sts["status"] == "changed" and sts["cluster"] == "web/web1" and sts["role"] == "controller"
    assert sts["changes"] == [{"path": "spec.template.spec.containers[name=app].resources.requests.cpu",
                               "change": "changed", "old": "1", "new": "500m"}]
    assert sts["reasons"] == []
    assert diff_json(repo, "--base", first)[1] == report | {"base": first[:12]}


def test_harmless_label(repo):
    write(repo, {"clusters/web1.yaml": edit(CLUSTER, ("  - id: worker\n", "  - id: worker\n    podLabels: {tier: batch}\n"))})
    code, report = diff_json(repo)
    assert code == 1, report
    changed = objects(report, "changed")
    assert set(changed) == {"StatefulSet web/web1-worker"}
    assert {c["path"] for c in changed["StatefulSet web/web1-worker"]["changes"]} == {
        "spec.template.metadata.labels.tier"}
    assert reasons(report) == ""


def test_harmless_resource_bump(repo):
    write(repo, {"clusters/web1.yaml": edit(CLUSTER, ('      limits: {cpu: "1", memory: 1Gi}\n    storage',
                                                       '      limits: {cpu: "2", memory: 2Gi}\n    storage'))})
    code, report = diff_json(repo)
    assert code == 1
    paths = {c["path"]: (c["old"], c["new"]) for c in objects(report)["StatefulSet web/web1-worker"]["changes"]}
    assert paths == {f"spec.template.spec.{c}[name={n}].resources.limits.{r}": old_new
                     for c, n in (("containers", "app"), ("initContainers", "init"))
                     for r, old_new in (("cpu", ("1", "2")), ("memory", ("1Gi", "2Gi")))}
    assert reasons(report) == ""


def test_harmless_scale_up(repo):
    write(repo, {"clusters/web1.yaml": edit(CLUSTER, ("members: 2 ", "members: 3 "))})
    code, report = diff_json(repo)
    assert code == 1
    assert set(objects(report, "added")) == {"Service web/web1-worker-2"}
    sts = objects(report)["StatefulSet web/web1-worker"]
    assert {"path": "spec.replicas", "change": "changed", "old": 2, "new": 3} in sts["changes"]
    assert reasons(report) == ""


def test_scale_down_with_storage_is_dangerous(repo):
    write(repo, {"clusters/web1.yaml": edit(CLUSTER, ("members: 2 ", "members: 1 "))})
    code, report = diff_json(repo)
    assert code == 3
    # one member left: its PodDisruptionBudget (only for roles of two or more) goes too
    assert set(objects(report, "removed")) == {"Service web/web1-worker-1", "PodDisruptionBudget web/web1-worker"}
    (reason,) = objects(report)["StatefulSet web/web1-worker"]["reasons"]
    assert reason.startswith("scale-down of role worker from 2 to 1 members with storage: pods web1-worker-1 are deleted")


def test_scale_down_without_storage_is_not_dangerous(tmp_path):
    repo = git_repo(tmp_path / "repo", {"clusters/web1.yaml": edit(CLUSTER, ("    storage:\n      size: 10Gi\n", ""))})
    write(repo, {"clusters/web1.yaml": edit(CLUSTER, ("    storage:\n      size: 10Gi\n", ""), ("members: 2 ", "members: 1 "))})
    code, report = diff_json(repo)
    assert code == 1 and reasons(report) == ""


def test_storage_size_change_is_dangerous(repo):
    write(repo, {"clusters/web1.yaml": edit(CLUSTER, ("size: 10Gi", "size: 20Gi"))})
    code, report = diff_json(repo)
    assert code == 3
    found = objects(report)["StatefulSet web/web1-worker"]["reasons"]
    assert found[0].startswith("storage size of claim template p changes from 10Gi to 20Gi")
    assert found[1].startswith("changes spec.volumeClaimTemplates, which Kubernetes cannot update")


def test_immutable_statefulset_field_is_dangerous(repo):
    write(repo, {"clusters/web1.yaml": edit(CLUSTER, ("size: 10Gi", "size: 10Gi\n      storageClassName: fast"))})
    code, report = diff_json(repo)
    assert code == 3
    sts = objects(report)["StatefulSet web/web1-worker"]
    assert [c["path"] for c in sts["changes"]] == ["spec.volumeClaimTemplates[metadata.name=p].spec.storageClassName"]
    assert sts["reasons"] == [r for r in sts["reasons"] if "spec.volumeClaimTemplates" in r] != []


def test_removed_role_is_dangerous(repo):
    write(repo, {"clusters/web1.yaml": CLUSTER[:CLUSTER.index("  - id: worker")]})
    code, report = diff_json(repo)
    assert code == 3
    removed = objects(report, "removed")
    assert set(removed) == {"StatefulSet web/web1-worker", "Service web/web1-worker-0", "Service web/web1-worker-1",
                            "PodDisruptionBudget web/web1-worker"}
    (reason,) = removed["StatefulSet web/web1-worker"]["reasons"]
    assert reason.startswith("role worker of cluster web/web1 is removed: its pods are deleted and its PVCs stay")
    assert "claim templates: p" in reason


def test_removed_cluster_is_dangerous(repo):
    write(repo, {"clusters/web1.yaml": None})
    code, report = diff_json(repo)
    assert code == 3
    assert {o["status"] for o in report["objects"]} == {"removed"}
    assert objects(report)["StatefulSet web/web1-controller"]["reasons"] == [
        "cluster web/web1 is removed: its pods are deleted"]
    assert objects(report)["StatefulSet web/web1-worker"]["reasons"][0].startswith(
        "cluster web/web1 is removed: its pods are deleted and its PVCs stay")


def test_service_type_change_is_dangerous(repo):
    write(repo, {"clusters/web1.yaml": edit(CLUSTER, ("serviceType: ClusterIP", "serviceType: LoadBalancer"))})
    code, report = diff_json(repo)
    assert code == 3
    svc = objects(report)["Service web/web1-controller-0"]
    assert {"path": "spec.type", "change": "changed", "old": "ClusterIP", "new": "LoadBalancer"} in svc["changes"]
    assert svc["reasons"] == ["Service type changes from ClusterIP to LoadBalancer: external addresses and node ports change"]


def test_rename_is_delete_and_create(repo):
    write(repo, {"clusters/web1.yaml": edit(CLUSTER, ("name: web1", "name: web2"))})
    code, report = diff_json(repo)
    assert code == 3
    old, new = objects(report)["StatefulSet web/web1-worker"], objects(report)["StatefulSet web/web2-worker"]
    assert (old["status"], new["status"]) == ("removed", "added")
    assert any(r.startswith("renamed to web/web2-worker: Kubernetes deletes the old object") for r in old["reasons"])
    assert new["reasons"] == ["renamed from web/web1-worker: delete + create"]
    assert objects(report)["Service web/web2"]["reasons"] == ["renamed from web/web1: delete + create"]


def test_text_output_plain_unless_a_terminal(repo):
    write(repo, {"clusters/web1.yaml": edit(CLUSTER, ("members: 2 ", "members: 1 "))})
    plain = run("diff", str(repo))
    assert plain.exit_code == 3
    assert "\x1b[" not in plain.stdout
    assert "~ StatefulSet web/web1-worker  (cluster web/web1, role worker)" in plain.stdout
    assert "    ~ spec.replicas: 2 -> 1" in plain.stdout
    assert "    DANGER: scale-down of role worker" in plain.stdout
    assert plain.stdout.rstrip().endswith("\n0 added, 1 changed, 2 removed; 1 dangerous")
    colored = run("diff", str(repo), "--color")
    assert "\x1b[31m" in colored.stdout and click_unstyle(colored.stdout) == plain.stdout


def click_unstyle(text: str) -> str:
    import click

    return click.unstyle(text)


def test_markdown_for_a_pull_request_comment(repo):
    write(repo, {"clusters/web1.yaml": edit(CLUSTER, ("members: 2 ", "members: 1 "))})
    result = run("diff", str(repo), "--format", "markdown")
    assert result.exit_code == 3
    md = result.stdout
    assert md.startswith("### kdrender diff: merge base with main")
    assert "**:warning: 1 dangerous change; review before merging:**" in md
    assert "| ~ :warning: | StatefulSet web/web1-worker | web/web1 | worker | 1 |" in md
    assert "```diff\n- spec.replicas: 2\n+ spec.replicas: 1\n```" in md


def test_repo_in_a_subfolder_of_the_git_repository(tmp_path):
    top = tmp_path / "top"
    top.mkdir()
    git(top, "init", "-q", "-b", "main")
    write(top / "kd", {"catalog/web.yaml": APP, "clusters/web1.yaml": CLUSTER})
    write(top, {"README": "not kdrender's\n"})
    commit(top, "base")
    write(top / "kd", {"clusters/web1.yaml": edit(CLUSTER, ("members: 2 ", "members: 3 "))})
    code, report = diff_json(top / "kd")
    assert code == 1 and set(objects(report, "added")) == {"Service web/web1-worker-2"}


def test_new_repo_folder_counts_everything_as_added(tmp_path):
    top = tmp_path / "top"
    top.mkdir()
    git(top, "init", "-q", "-b", "main")
    commit(top, "empty")
    write(top / "kd", {"catalog/web.yaml": APP, "clusters/web1.yaml": CLUSTER})
    code, report = diff_json(top / "kd")
    assert code == 1 and {o["status"] for o in report["objects"]} == {"added"}


def test_working_tree_and_index_untouched(repo):
    write(repo, {"clusters/web1.yaml": edit(CLUSTER, ("members: 2 ", "members: 3 "))})
    git(repo, "add", "clusters/web1.yaml")
    write(repo, {"clusters/web1.yaml": edit(CLUSTER, ("members: 2 ", "members: 4 "))})
    before = git(repo, "status", "--porcelain=v1"), (repo / "clusters/web1.yaml").read_text()
    assert diff_json(repo)[0] == 1
    assert (git(repo, "status", "--porcelain=v1"), (repo / "clusters/web1.yaml").read_text()) == before


@pytest.mark.parametrize("ref", ["--output=/tmp/x", "-h", "HEAD;rm", "a b", "HEAD\n", "nosuchbranch"])
def test_ref_is_input(repo, ref, tmp_path):
    result = run("diff", str(repo), "--base", ref)
    assert result.exit_code == 2
    assert "cannot read the base revision" in result.stderr
    assert result.stdout == ""
    assert not (tmp_path / "x").exists()


def test_broken_working_tree_is_trouble_not_a_traceback(repo):
    write(repo, {"clusters/web1.yaml": edit(CLUSTER, ("members: 1", "members: 0"))})
    result = run("diff", str(repo))
    assert result.exit_code == 2 and result.stdout == ""
    assert "clusters/web1.yaml:12:5: spec.roles[0].members:" in result.stderr
    assert "the working tree does not render" in result.stderr


def test_not_a_git_repository(tmp_path):
    write(tmp_path / "plain", {"catalog/web.yaml": APP, "clusters/web1.yaml": CLUSTER})
    result = run("diff", str(tmp_path / "plain"), "--base", "HEAD")
    assert result.exit_code == 2 and "cannot read the base revision" in result.stderr


def test_symlinks_in_the_base_revision_are_not_followed(tmp_path):
    outside = tmp_path / "outside.yaml"
    outside.write_text(CLUSTER.replace("name: web1", "name: leaked"))
    repo = git_repo(tmp_path / "repo")
    os.symlink(outside, repo / "clusters" / "evil.yaml")
    commit(repo, "a symlink pointing out of the repo")
    os.unlink(repo / "clusters" / "evil.yaml")
    code, report = diff_json(repo, "--base", "HEAD")
    assert code == 0, report  # the base never saw the file the link points to


def test_base_with_problems_is_compared_as_far_as_it_renders(tmp_path):
    broken = edit(CLUSTER, ("members: 1", "members: 0"))
    repo = git_repo(tmp_path / "repo", {"clusters/web1.yaml": broken, "clusters/web2.yaml": CLUSTER.replace("web1", "web2")})
    write(repo, {"clusters/web1.yaml": CLUSTER})
    result = run("diff", str(repo), "--format", "json")
    assert result.exit_code == 1
    assert "notice: the base revision merge base with main" in result.stderr and "has 1 problem " in result.stderr
    report = __import__("json").loads(result.stdout)
    assert {o["cluster"] for o in report["objects"]} == {"web/web1"}
    assert {o["status"] for o in report["objects"]} == {"added"}


def test_pvc_retention_turning_to_delete_is_dangerous(repo):
    write(repo, {"kdrender.yaml": "kdrender:\n  pvcRetention: {whenDeleted: Retain, whenScaled: Delete}\n"})
    code, report = diff_json(repo)
    assert code == 3
    assert objects(report)["StatefulSet web/web1-worker"]["reasons"] == [
        "PVC retention whenScaled becomes Delete: PVCs (and their data) are deleted when the role scales down"]
    assert objects(report)["StatefulSet web/web1-controller"]["reasons"] == []  # no storage, nothing to lose


def test_markdown_fits_a_comment():
    from kdrender.review import report
    from kdrender.review.diff import Change, ObjectDiff

    diffs = [ObjectDiff("changed", "ConfigMap", "ns", f"cm{i}", "ns/c",
                        changes=[Change(f"data.k{j}", "a" * 150, "b" * 150) for j in range(20)]) for i in range(100)]
    md = report.markdown(diffs, "base", "head")
    assert len(md) <= report.MAX_COMMENT + 200
    assert "more objects left out to fit a comment; run `kdrender diff` for all of them" in md
    assert md.rstrip().endswith("0 added, 100 changed, 0 removed")
    assert md.count("| ~ | ConfigMap ns/cm") == 100  # the table keeps every object
