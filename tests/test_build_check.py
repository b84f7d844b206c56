"""``kdrender build`` and ``kdrender check``: the golden/ layout, the comparison and its failure modes."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from render_helpers import CONFORMANCE, PROJECT, make_multi_repo, project_repo, run_cli, tree_bytes, yaml_docs


@pytest.fixture
def repo(tmp_path) -> Path:
    """A freshly built multi-cluster repo."""
    if not CONFORMANCE.is_dir():
        pytest.skip(f"conformance files not found at {CONFORMANCE}")
    root = make_multi_repo(tmp_path / "repo")
    result = run_cli("build", str(root))
    assert result.exit_code == 0, result.output
    return root


def cluster_folders(golden: Path) -> list[Path]:
    return sorted(p.parent for p in golden.glob("*/*/kustomization.yaml"))


def test_layout(repo):
    """golden/<ns>/<cluster>/<kind>-<name>.yaml, one object per file, plus a kustomization listing them all."""
    golden = repo / "golden"
    folders = cluster_folders(golden)
    assert len(folders) == 9
    assert sorted(str(p.relative_to(golden)) for p in folders) == sorted(
        ["legacy/spark-instance"] + [f"examples/{n}" for n in (
            "cassandra-instance", "cassandra-persistent", "centos7", "centos7-persistent", "jupyter-notebook",
            "ngc-tensorflow-cluster", "spark245-instance", "tensorflow-gpu-jupyter")])
    assert {p.relative_to(golden).parts[:2] for p in golden.rglob("*") if p.is_file()} == {
        p.relative_to(golden).parts for p in folders}
    for folder in folders:
        namespace, cluster = folder.relative_to(golden).parts
        kustomization = yaml.safe_load((folder / "kustomization.yaml").read_text())
        assert kustomization["apiVersion"] == "kustomize.config.k8s.io/v1beta1"
        assert kustomization["kind"] == "Kustomization"
        resources = kustomization["resources"]
        files = sorted(p.name for p in folder.iterdir() if p.name != "kustomization.yaml")
        assert sorted(resources) == files and len(set(resources)) == len(resources)
        kinds = []
        for name in files:
            docs = yaml_docs((folder / name).read_text())
            assert len(docs) == 1, name
            obj = docs[0]
            assert name == f"{obj['kind'].lower()}-{obj['metadata']['name']}.yaml"
            assert obj["metadata"]["namespace"] == namespace
            assert obj["metadata"]["labels"]["kubedirector.hpe.com/kdcluster"] == cluster
            kinds.append(obj["kind"])
        assert {"Service", "StatefulSet"} <= set(kinds)
        assert set(kinds) <= {"Service", "StatefulSet", "ConfigMap", "PodDisruptionBudget", "NetworkPolicy"}
    # no staging folders left behind
    assert [p.name for p in repo.iterdir() if p.name.startswith(".")] == []


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not on PATH")
def test_kubectl_kustomize_accepts_the_folders(repo):
    golden = repo / "golden"
    for folder in cluster_folders(golden)[:3] + [golden / "examples" / "spark245-instance"]:
        proc = subprocess.run(["kubectl", "kustomize", str(folder)], capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0, proc.stderr
        objects = yaml_docs(proc.stdout)
        listed = yaml.safe_load((folder / "kustomization.yaml").read_text())["resources"]
        assert len(objects) == len(listed)
        assert sorted(f"{o['kind'].lower()}-{o['metadata']['name']}.yaml" for o in objects) == sorted(listed)


def test_check_passes_after_build(repo):
    result = run_cli("check", str(repo))
    assert result.exit_code == 0, result.output
    assert result.stdout == ""


def test_check_names_missing_extra_and_changed_files(repo):
    golden = repo / "golden"
    folder = golden / "examples" / "centos7"
    missing = folder / "service-centos7-vanilla-centos-0.yaml"
    missing.unlink()
    (folder / "configmap-stray.yaml").write_text("apiVersion: v1\nkind: ConfigMap\n")
    changed = golden / "examples" / "cassandra-instance" / "statefulset-cassandra-instance-seed.yaml"
    changed.write_text(changed.read_text().replace("replicas: 2", "replicas: 7"))
    result = run_cli("check", str(repo))
    assert result.exit_code == 1
    out = result.stdout
    assert "missing: golden/examples/centos7/service-centos7-vanilla-centos-0.yaml" in out
    assert "extra: golden/examples/centos7/configmap-stray.yaml" in out
    assert "changed: golden/examples/cassandra-instance/statefulset-cassandra-instance-seed.yaml" in out
    # a unified diff of the changed file: committed -> rendered
    assert re.search(r"^--- golden/examples/cassandra-instance/statefulset-cassandra-instance-seed\.yaml", out, re.M)
    assert re.search(r"^\+\+\+ golden/examples/cassandra-instance/statefulset-cassandra-instance-seed\.yaml", out, re.M)
    assert re.search(r"^@@ .* @@", out, re.M)
    assert re.search(r"^-  replicas: 7$", out, re.M) and re.search(r"^\+  replicas: 2$", out, re.M)
    assert out.count("missing: ") == 1 and out.count("extra: ") == 1 and out.count("changed: ") == 1
    assert "kdrender build" in result.stderr
    # build repairs it
    assert run_cli("build", str(repo)).exit_code == 0
    assert run_cli("check", str(repo)).exit_code == 0


def test_check_without_golden_fails(repo):
    shutil.rmtree(repo / "golden")
    result = run_cli("check", str(repo))
    assert result.exit_code == 1
    assert "golden" in result.stderr


def test_check_with_empty_golden_fails(repo):
    shutil.rmtree(repo / "golden")
    (repo / "golden").mkdir()
    result = run_cli("check", str(repo))
    assert result.exit_code == 1
    assert "missing: golden/examples/centos7/kustomization.yaml" in result.stdout


@pytest.mark.parametrize("breakage", [
    ("cr-cluster-centos7.yaml", "    members: 1\n", "    members: [1\n"),  # YAML syntax error
    ("cr-cluster-centos7.yaml", "    members: 1\n", "    members: -1\n"),  # schema error
    ("cr-cluster-cassandra311.yaml", "  - id: seed\n    members: 2\n", "  - id: seed\n    members: 1\n"),  # rule: 2+
])
def test_failing_build_leaves_golden_untouched(repo, breakage):
    before = tree_bytes(repo / "golden")
    name, old, new = breakage
    path = repo / "clusters" / name
    text = path.read_text()
    assert text.count(old) == 1
    path.write_text(text.replace(old, new))
    result = run_cli("build", str(repo))
    assert result.exit_code == 1
    assert name in result.stderr + result.stdout
    assert tree_bytes(repo / "golden") == before
    assert [p.name for p in repo.iterdir() if p.name.startswith(".")] == []
    assert run_cli("check", str(repo)).exit_code == 1  # check fails on the same input


def test_build_removes_deleted_clusters(repo):
    before = tree_bytes(repo / "golden")
    (repo / "clusters" / "cr-cluster-ngc.yaml").unlink()
    assert run_cli("build", str(repo)).exit_code == 0
    after = tree_bytes(repo / "golden")
    assert not (repo / "golden" / "examples" / "ngc-tensorflow-cluster").exists()
    assert {p: b for p, b in before.items() if not p.startswith("examples/ngc-tensorflow-cluster/")} == after
    assert run_cli("check", str(repo)).exit_code == 0


def test_build_removes_stray_files(repo):
    (repo / "golden" / "examples" / "centos7" / "notes.txt").write_text("hand edit\n")
    (repo / "golden" / "old-namespace" / "gone").mkdir(parents=True)
    (repo / "golden" / "old-namespace" / "gone" / "kustomization.yaml").write_text("resources: []\n")
    assert run_cli("check", str(repo)).exit_code == 1
    assert run_cli("build", str(repo)).exit_code == 0
    assert not (repo / "golden" / "examples" / "centos7" / "notes.txt").exists()
    assert not (repo / "golden" / "old-namespace").exists()


def test_build_of_the_project_reproduces_its_golden(tmp_path):
    """A fresh copy of the project (catalog/, clusters/, kdrender.yaml) builds exactly its golden/."""
    if not (PROJECT / "golden").is_dir():
        pytest.skip("the project has no golden/ yet")
    committed = tree_bytes(PROJECT / "golden")
    root = project_repo(tmp_path / "project")
    result = run_cli("build", str(root))
    assert result.exit_code == 0, result.output
    rebuilt = tree_bytes(root / "golden")
    assert sorted(rebuilt) == sorted(committed)
    assert rebuilt == committed
    shutil.copytree(PROJECT / "golden", tmp_path / "project2" / "golden")
    root2 = project_repo(tmp_path / "project2")
    assert run_cli("check", str(root2)).exit_code == 0


def test_failed_write_leaves_golden_untouched(repo):
    """A write that fails half-way (here: a file where a folder must go) keeps the old golden/ as it was."""
    from kdrender.compare import write_tree

    before = tree_bytes(repo / "golden")
    with pytest.raises(OSError):
        write_tree(str(repo), {"ns/a/x.yaml": "one\n", "ns/a/x.yaml/y.yaml": "two\n"})
    assert tree_bytes(repo / "golden") == before
    assert [p.name for p in repo.iterdir() if p.name.startswith(".")] == []


def test_failing_first_build_creates_no_golden(tmp_path):
    if not CONFORMANCE.is_dir():
        pytest.skip(f"conformance files not found at {CONFORMANCE}")
    root = make_multi_repo(tmp_path / "repo")
    (root / "clusters" / "broken.yaml").write_text("apiVersion: kubedirector.hpe.com/v1beta1\nkind: KubeDirectorCluster\n")
    result = run_cli("build", str(root))
    assert result.exit_code == 1
    assert "broken.yaml" in result.stderr + result.stdout
    assert not (root / "golden").exists()


def test_failed_swap_restores_golden(repo, monkeypatch):
    """If moving the new tree into place fails, the old golden/ is put back (not left aside)."""
    import kdrender.compare as compare

    before = tree_bytes(repo / "golden")
    real_rename = compare.os.rename

    def rename(src, dst):
        if ".golden.new-" in str(src):
            raise OSError("simulated failure")
        return real_rename(src, dst)

    monkeypatch.setattr(compare.os, "rename", rename)
    monkeypatch.setenv("KDRENDER_BUILD_HOOK", "no-exchange")  # the two-rename path (one exchange cannot half-fail)
    with pytest.raises(OSError):
        compare.write_tree(str(repo), {"ns/c/kustomization.yaml": "resources: []\n"})
    monkeypatch.undo()
    assert tree_bytes(repo / "golden") == before
    assert [p.name for p in repo.iterdir() if p.name.startswith(".")] == []


def test_golden_files_round_trip(repo):
    """Every golden file loads back to exactly the rendered object, and ``render -o json`` gives the same objects."""
    from render_helpers import render

    rendered = render(repo)
    golden = repo / "golden"
    files = sorted((repo / "clusters").rglob("*.y*ml"))
    for namespace, cluster, objects in rendered:
        for obj in objects:
            path = golden / namespace / cluster / f"{obj['kind'].lower()}-{obj['metadata']['name']}.yaml"
            assert yaml.safe_load(path.read_text(encoding="utf-8")) == obj, path
    import json

    result = run_cli("render", "--repo", str(repo), "-o", "json", *map(str, files))
    assert result.exit_code == 0, result.output
    from_json = [json.loads(line) for line in result.stdout.splitlines()]
    assert from_json == [o for _, _, objs in rendered for o in objs]
    result = run_cli("render", "--repo", str(repo), *map(str, files))
    assert yaml_docs(result.stdout) == from_json


def test_check_reports_binary_stray_file(repo):
    """A non-UTF-8 file in golden/ (an editor's or OS's droppings) is reported as extra, not a crash."""
    (repo / "golden" / "examples" / ".DS_Store").write_bytes(b"\xff\xfe\x00binary")
    result = run_cli("check", str(repo))
    assert result.exit_code == 1
    assert "extra: golden/examples/.DS_Store" in result.stdout


def test_check_flags_immutable_statefulset_changes(tmp_path):
    """A storage resize changes volumeClaimTemplates, which Kubernetes refuses to update in place."""
    from kdrender.compare import compare
    from kdrender.emit import to_yaml

    sts = {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "x"},
           "spec": {"replicas": 1, "serviceName": "x",
                    "volumeClaimTemplates": [{"metadata": {"name": "p"},
                                              "spec": {"resources": {"requests": {"storage": "40Gi"}}}}]}}
    resized = {**sts, "spec": {**sts["spec"], "replicas": 3, "volumeClaimTemplates": [
        {"metadata": {"name": "p"}, "spec": {"resources": {"requests": {"storage": "80Gi"}}}}]}}
    scaled = {**sts, "spec": {**sts["spec"], "replicas": 3}}
    committed = {"ns/c/statefulset-x.yaml": to_yaml(sts)}
    out = compare({"ns/c/statefulset-x.yaml": to_yaml(resized)}, committed)
    assert any(m.startswith("breaking: golden/ns/c/statefulset-x.yaml changes spec.volumeClaimTemplates,") for m in out)
    out = compare({"ns/c/statefulset-x.yaml": to_yaml(scaled)}, committed)
    assert out and not any(m.startswith("breaking:") for m in out)
    # the claim template status the API server stores anyway: a change, but not a breaking one
    pending = {**sts, "spec": {**sts["spec"], "volumeClaimTemplates": [
        {**sts["spec"]["volumeClaimTemplates"][0], "status": {"phase": "Pending"}}]}}
    out = compare({"ns/c/statefulset-x.yaml": to_yaml(pending)}, committed)
    assert out and not any(m.startswith("breaking:") for m in out)
