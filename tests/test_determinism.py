"""The same input gives the same bytes: whatever the file order, the key order in the input files or
the hash seed; and a change in one cluster file changes only that cluster's golden files.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from render_helpers import (
    CONFORMANCE, PROJECT, make_multi_repo, project_repo, reverse_keys, run_cli, subprocess_env, tree_bytes,
)

@pytest.fixture(scope="module")
def multi(tmp_path_factory):
    """(repo, its golden tree) of the multi-cluster conformance repo, built once."""
    if not CONFORMANCE.is_dir():
        pytest.skip(f"conformance files not found at {CONFORMANCE}")
    root = make_multi_repo(tmp_path_factory.mktemp("multi") / "repo")
    result = run_cli("build", str(root))
    assert result.exit_code == 0, result.output
    golden = tree_bytes(root / "golden")
    assert len({p.split("/")[1] for p in golden}) == 9  # clusters
    return root, golden


def copy_repo(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns("golden", ".golden*"))
    return dst


def build(root: Path) -> dict:
    result = run_cli("build", str(root))
    assert result.exit_code == 0, result.output
    return tree_bytes(root / "golden")


def test_build_twice_is_identical(multi, tmp_path):
    root, golden = multi
    assert build(copy_repo(root, tmp_path / "again")) == golden


def test_file_names_and_folders_do_not_matter(multi, tmp_path):
    """Renamed and moved files (another os.walk order) give the same golden/."""
    root, golden = multi
    other = tmp_path / "renamed"
    (other / "catalog" / "deep").mkdir(parents=True)
    (other / "clusters").mkdir()
    shutil.copyfile(root / "kdrender.yaml", other / "kdrender.yaml")
    catalog = sorted((root / "catalog").iterdir())
    for i, path in enumerate(catalog):  # reversed name order, half of them one folder down
        folder = other / "catalog" / ("deep" if i % 2 else "")
        shutil.copyfile(path, folder / f"{len(catalog) - i:02d}-{path.name}")
    clusters = sorted(p for p in (root / "clusters").rglob("*") if p.is_file())
    for i, path in enumerate(clusters):
        folder = other / "clusters" / f"z{i % 3}" / ("a" if i % 2 else "")
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, folder / f"{len(clusters) - i:02d}-{path.stem}.yml")
    assert build(other) == golden


def test_reversed_find_files(multi, tmp_path, monkeypatch):
    """Even if the file system listed files in the opposite order, the output would not change."""
    import kdrender.load as load

    root, golden = multi
    original = load.find_files
    monkeypatch.setattr(load, "find_files", lambda r, folder: list(reversed(original(r, folder))))
    assert load.find_files(str(root), "clusters")[0] > load.find_files(str(root), "clusters")[-1]
    assert build(copy_repo(root, tmp_path / "reversed")) == golden


def test_reversed_keys_in_input(multi, tmp_path):
    """Every mapping of every input file rewritten with its keys in reverse order: same golden/."""
    root, golden = multi
    other = copy_repo(root, tmp_path / "keys")
    changed = 0
    for path in sorted(p for p in other.rglob("*") if p.is_file()):
        text = path.read_text(encoding="utf-8")
        if path.suffix == ".json":
            new = json.dumps(reverse_keys(json.loads(text)), indent=2)
        else:
            docs = [d for d in yaml.safe_load_all(text) if d is not None]
            new = yaml.safe_dump_all([reverse_keys(d) for d in docs], sort_keys=False)
        assert new != text
        path.write_text(new, encoding="utf-8")
        changed += 1
    assert changed >= 10
    assert build(other) == golden


def _run(args, seed, cwd=None):
    return subprocess.run([sys.executable, "-m", "kdrender", *args], capture_output=True, cwd=cwd, timeout=60,
                          env=subprocess_env(PYTHONHASHSEED=str(seed)))


def test_hash_seed_does_not_matter(multi, tmp_path):
    """``kdrender build`` and ``kdrender render`` in fresh interpreters with PYTHONHASHSEED 1 and 2."""
    root, golden = multi
    trees = []
    for seed in (1, 2):
        repo = copy_repo(root, tmp_path / f"seed{seed}")
        proc = _run(["build", str(repo)], seed)
        assert proc.returncode == 0, proc.stderr.decode()
        trees.append(tree_bytes(repo / "golden"))
    assert trees[0] == trees[1] == golden
    files = sorted(str(p.relative_to(root)) for p in (root / "clusters").rglob("*") if p.is_file())
    outputs = []
    for seed in (1, 2):
        proc = _run(["render", "--repo", ".", "-o", "yaml", *files], seed, cwd=root)
        assert proc.returncode == 0, proc.stderr.decode()
        outputs.append(proc.stdout)
    assert outputs[0] == outputs[1] and outputs[0].count(b"\nkind: StatefulSet\n") >= 9


def test_one_field_changes_one_cluster(multi, tmp_path):
    """worker members 2 -> 3 in cassandra-instance: only golden/examples/cassandra-instance/ changes."""
    root, golden = multi
    other = copy_repo(root, tmp_path / "edited")
    path = other / "clusters" / "cr-cluster-cassandra311.yaml"
    text = path.read_text()
    anchor = "  - id: worker\n    members: 2\n"
    assert text.count(anchor) == 1
    path.write_text(text.replace(anchor, "  - id: worker\n    members: 3\n"))
    edited = build(other)
    changed = sorted(p for p in set(golden) | set(edited) if golden.get(p) != edited.get(p))
    assert changed
    assert all(p.startswith("examples/cassandra-instance/") for p in changed), changed
    assert "examples/cassandra-instance/service-cassandra-instance-worker-2.yaml" in changed
    assert "examples/cassandra-instance/kustomization.yaml" in changed
    # and nothing of the other eight clusters moved by a byte
    others = {p: b for p, b in golden.items() if not p.startswith("examples/cassandra-instance/")}
    assert others == {p: b for p, b in edited.items() if not p.startswith("examples/cassandra-instance/")}


def test_project_repo_is_deterministic(tmp_path):
    """The repo's own clusters: two builds in different folders, one with reversed input keys."""
    if not (PROJECT / "clusters").is_dir():
        pytest.skip("the project has no clusters/")
    a = build(project_repo(tmp_path / "a"))
    b_root = project_repo(tmp_path / "b")
    for path in sorted((b_root / "clusters").rglob("*.yaml")):
        docs = [d for d in yaml.safe_load_all(path.read_text()) if d is not None]
        path.write_text(yaml.safe_dump_all([reverse_keys(d) for d in docs], sort_keys=False))
    assert build(b_root) == a
