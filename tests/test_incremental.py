"""The incremental ``check`` (kdrender.record) and ``--shard K/N`` (kdrender/incremental.py,
kdrender/shard.py): what is rendered again, what is caught, and that shards add up to the full run."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from render_helpers import PROJECT, project_repo, run_cli

from kdrender import incremental
from kdrender.checkcmd import run_check
from kdrender.pipeline import load_model
from kdrender.shard import ShardError, parse, shard_of

RECORD = "kdrender.record"
pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")


def git(root: Path, *args: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@t", GIT_COMMITTER_NAME="t", GIT_COMMITTER_EMAIL="t@t")
    return subprocess.run(["git", "-C", str(root), *args], check=True, capture_output=True, text=True, env=env).stdout


def commit(root: Path, message: str = "c") -> str:
    git(root, "add", "-A")
    git(root, "commit", "-qm", message, "--allow-empty")
    return git(root, "rev-parse", "HEAD").strip()


def connected(text: str, name: str, to: str | None = None) -> str:
    text = text.replace("  name: spark-instance\n", f"  name: {name}\n", 1)
    if to:
        text = text.replace("spec:\n", f"spec:\n  connections:\n    clusters: [{to}]\n", 1)
    return text


@pytest.fixture
def repo(tmp_path) -> Path:
    """The project's repo plus two Spark clusters, conn-b connected to conn-a; built and committed."""
    root = project_repo(tmp_path / "repo")
    spark = (PROJECT / "clusters" / "spark221e2.yaml").read_text()
    (root / "clusters" / "conn-a.yaml").write_text(connected(spark, "conn-a"))
    (root / "clusters" / "conn-b.yaml").write_text(connected(spark, "conn-b", "conn-a"))
    git(root, "init", "-q")
    result = run_cli("build", str(root))
    assert result.exit_code == 0, result.output
    commit(root, "built")
    return root


def check(root: Path, **kw):
    return run_check(str(root), load=lambda r: load_model(r), **kw)


def rendered(result) -> set:
    return {f"{c.namespace}/{c.name}" for c in result.model.clusters if c.file in (result.model.selected or {c.file})}


def all_keys(root: Path) -> set:
    return set(incremental.read_record(str(root))[0].lines)


def test_clean_check_renders_nothing_and_full_renders_everything(repo):
    result = check(repo)
    assert (result.messages, result.notes, result.rendered) == ([], [], 0)
    full = check(repo, full=True)
    assert full.messages == [] and full.rendered == len(all_keys(repo)) == 8


def test_record_layout(repo):
    text = (repo / RECORD).read_text()
    rows = text.splitlines()
    assert rows[0] == incremental.FORMAT and rows[1].startswith("tool ") and rows[2].startswith("shared ")
    bundles = rows[3:]
    assert bundles == sorted(bundles) and len(bundles) == 8
    assert all(row.startswith("bundle ") and len(row.split(" ")) == 6 for row in bundles)
    line = next(r for r in bundles if r.startswith("bundle analytics/conn-b "))
    assert line.split(" ")[4:] == ["clusters/conn-b.yaml", "catalog/spark221e2.json,clusters/conn-a.yaml"]
    # each bundle's outputs are the tree id Git gives its committed golden folder
    for row in bundles:
        _, key, _, outputs, _, _ = row.split(" ")
        assert outputs == git(repo, "rev-parse", f"HEAD:golden/{key}").strip()
    # beside golden/, not in it: the golden tree is exactly the bundles
    assert not list((repo / "golden").glob("**/kdrender.record"))
    assert [p.name for p in (repo / "golden").iterdir() if p.is_file()] == []
    # build is deterministic: the same record again
    assert run_cli("build", str(repo)).exit_code == 0
    assert (repo / RECORD).read_text() == text


def test_a_hand_edit_of_a_golden_file_is_caught(repo):
    target = repo / "golden" / "databases" / "cassandra-persistent" / "kustomization.yaml"
    target.write_text(target.read_text() + "# edited\n")
    result = check(repo)
    assert any(m.startswith("changed: golden/databases/cassandra-persistent/kustomization.yaml") for m in result.messages)
    assert rendered(result) == {"databases/cassandra-persistent"}
    commit(repo, "tampered")  # committed: its digest no longer matches the record's line
    assert any("cassandra-persistent/kustomization.yaml" in m for m in check(repo).messages)


def forge_record(root: Path, folder: str) -> None:
    """Edit the record so that its output digest matches the golden files as they are now."""
    files = [(str(p.relative_to(root / "golden")), incremental.blob_id(p.read_bytes()))
             for p in sorted((root / "golden" / folder).iterdir())]
    text = (root / RECORD).read_text()
    rows = []
    for row in text.splitlines():
        parts = row.split(" ")
        if row.startswith(f"bundle {folder} "):
            parts[3] = incremental.tree_id(files)
        rows.append(" ".join(parts))
    (root / RECORD).write_text("\n".join(rows) + "\n")


def test_a_hand_edit_with_a_matching_record_edit_is_caught(repo):
    base = git(repo, "rev-parse", "HEAD").strip()
    target = repo / "golden" / "analytics" / "spark-instance" / "statefulset-spark-instance-worker.yaml"
    target.write_text(target.read_text().replace("replicas: 2", "replicas: 5"))
    forge_record(repo, "analytics/spark-instance")
    result = check(repo)  # not committed: differs from HEAD
    assert any("statefulset-spark-instance-worker.yaml" in m for m in result.messages)
    assert rendered(result) == {"analytics/spark-instance"}
    commit(repo, "forged")
    # committed: trusted against HEAD itself (the documented limit), caught against the revision before
    assert check(repo).messages == []
    caught = check(repo, base=base)
    assert any("statefulset-spark-instance-worker.yaml" in m for m in caught.messages)
    assert any("statefulset-spark-instance-worker.yaml" in m for m in check(repo, full=True).messages)


def test_a_changed_cluster_file_renders_its_bundle_and_those_connected_to_it(repo):
    path = repo / "clusters" / "conn-a.yaml"
    path.write_text(path.read_text().replace("members: 2", "members: 3", 1))
    result = check(repo)
    assert rendered(result) == {"analytics/conn-a", "analytics/conn-b"}
    assert any(m.startswith("changed: golden/analytics/conn-b/configmap-conn-b-configmeta.yaml")
               for m in result.messages)  # conn-b's configmeta lists conn-a's members
    assert run_cli("build", str(repo)).exit_code == 0
    after = check(repo)
    assert after.messages == [] and rendered(after) == {"analytics/conn-a", "analytics/conn-b"}
    commit(repo)
    assert check(repo).rendered == 0


def test_a_comment_in_a_cluster_file_is_not_an_output_change_but_the_record_must_follow(repo):
    path = repo / "clusters" / "caffe2.yaml"
    path.write_text("# a comment\n" + path.read_text())
    result = check(repo)
    assert result.messages == [f"record: {RECORD}: the line of ml/caffe2-gpu is not what build writes"]
    assert run_cli("build", str(repo)).exit_code == 0
    assert check(repo).messages == []


def test_a_changed_app_renders_exactly_its_clusters(repo):
    path = repo / "catalog" / "spark221e2.json"
    path.write_text(path.read_text().replace('"distroID": "bluedata/spark221e2"', '"distroID": "bluedata/spark221e3"'))
    assert "spark221e3" in path.read_text()
    result = check(repo)
    assert rendered(result) == {"analytics/spark-instance", "analytics/conn-a", "analytics/conn-b"}
    assert result.messages and all("spark-instance" in m or "conn-" in m for m in result.messages)
    full = check(repo, full=True)
    assert sorted(full.messages) == sorted(result.messages)


def test_a_changed_config_or_kdrender_version_checks_everything(repo, monkeypatch):
    config = repo / "kdrender.yaml"
    config.write_text(config.read_text() + "# comment\n")
    result = check(repo)
    assert result.rendered == 8 and "every bundle was checked" in result.notes[0]
    config.write_text(config.read_text().replace("# comment\n", ""))
    assert check(repo).rendered == 0
    monkeypatch.setattr(incremental, "_TOOL", ["0" * 64])  # another kdrender (version, code or data)
    other = check(repo)
    assert other.rendered == 8 and "another kdrender" in other.notes[0] and other.messages == []


def test_tool_digest_covers_the_agent_script():
    agent = Path(incremental.__file__).parent / "agent" / "kd-agent.sh"
    lines = []
    for folder, dirs, files in os.walk(agent.parent.parent):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        lines += [os.path.join(folder, f) for f in files]
    assert str(agent) in lines and incremental._TOOL in ([], [incremental.tool_digest()])


def test_a_new_and_a_deleted_cluster(repo):
    spark = (PROJECT / "clusters" / "spark221e2.yaml").read_text()
    (repo / "clusters" / "conn-c.yaml").write_text(connected(spark, "conn-c"))
    result = check(repo)
    assert "analytics/conn-c" in rendered(result)
    assert any(m.startswith("missing: golden/analytics/conn-c/") for m in result.messages)
    assert f"record: {RECORD} has no line for analytics/conn-c" in result.messages
    (repo / "clusters" / "conn-c.yaml").unlink()
    (repo / "clusters" / "caffe2.yaml").unlink()
    gone = check(repo)
    assert any(m.startswith("extra: golden/ml/caffe2-gpu/") for m in gone.messages)
    assert f"record: {RECORD} lists ml/caffe2-gpu, which is no longer rendered" in gone.messages


def test_a_deleted_cluster_that_another_connects_to(repo):
    (repo / "clusters" / "conn-a.yaml").unlink()
    result = run_cli("check", str(repo))
    assert result.exit_code == 1 and "connected cluster 'conn-a' does not exist" in result.stderr
    assert "cannot read file" not in result.stderr  # the record's line of conn-a is not a file to read


def test_a_duplicate_name_in_a_new_file_is_caught(repo):
    (repo / "clusters" / "again.yaml").write_text((repo / "clusters" / "conn-a.yaml").read_text())
    result = run_cli("check", str(repo))
    assert result.exit_code == 1 and "is already defined in clusters/again.yaml" in result.stderr


HEAD_ = incremental.FORMAT.encode() + b"\ntool " + b"a" * 64 + b"\nshared " + b"b" * 64


@pytest.mark.parametrize("content", [
    b"", b"garbage\n", incremental.FORMAT.encode() + b"\ntool 12\n", incremental.FORMAT.encode() + b"\n" + b"x" * 100,
    b"\xff\xfe\n", HEAD_ + b"\nbundle a/b c d e f\n", HEAD_ + b" ../etc\n",
    HEAD_ + b"\nbundle a/b " + b"c" * 64 + b" " + b"d" * 64 + b" clusters/b.yaml -\n",  # outputs: a tree id, 40 digits
    b"kdrender-record 1\ntool " + b"a" * 64 + b"\nshared " + b"b" * 64 + b"\n",  # the format before tree ids
])
def test_a_broken_record_means_a_full_check_with_one_note(repo, content):
    (repo / RECORD).write_bytes(content)
    result = run_cli("check", str(repo))
    assert result.exit_code == 0  # the full check finds the bundles right; the record is only a shortcut
    notes = [line for line in result.stderr.splitlines() if "note:" in line]
    assert len(notes) == 1 and "every bundle was checked" in notes[0] and "Traceback" not in result.stderr
    assert run_cli("build", str(repo)).exit_code == 0 and run_cli("check", str(repo)).exit_code == 0


def test_a_missing_record_means_a_full_check(repo):
    (repo / RECORD).unlink()
    result = run_cli("check", str(repo))
    assert result.exit_code == 0 and "is missing" in result.stderr


def test_without_git_everything_is_checked(repo):
    shutil.rmtree(repo / ".git")
    result = check(repo)
    assert result.rendered == 8 and "not a Git checkout" in result.notes[0] and result.messages == []


# -- shards ------------------------------------------------------------------------------------

def broken(repo: Path) -> None:
    """Golden changes in several bundles and a stray folder: problems for several shards."""
    for folder in repo.glob("golden/*/*"):
        if folder.name != "conn-b":
            (folder / "kustomization.yaml").write_text("# edited\n")
    path = repo / "clusters" / "conn-b.yaml"
    path.write_text(path.read_text().replace("members: 2", "members: 3", 1))
    (repo / "golden" / "stray" / "x").mkdir(parents=True)
    (repo / "golden" / "stray" / "x" / "a.yaml").write_text("a: 1\n")


@pytest.mark.parametrize("count", [1, 2, 3, 5])
def test_shards_add_up_to_the_full_check(repo, count):
    broken(repo)
    full = check(repo, full=True)
    assert len(full.messages) > 4
    parts = [check(repo, full=True, shard=(k, count)) for k in range(1, count + 1)]
    assert sorted(m for p in parts for m in p.messages) == sorted(full.messages)
    assert sum(p.rendered for p in parts) == full.rendered == 8
    incremental_parts = [check(repo, shard=(k, count)) for k in range(1, count + 1)]
    assert sorted(m for p in incremental_parts for m in p.messages) == sorted(check(repo).messages)


def test_validate_shards_add_up_to_the_full_run(repo):
    for name in ("spark211up.yaml", "cassandra311.yaml", "conn-a.yaml", "caffe2.yaml"):
        path = repo / "clusters" / name
        path.write_text(path.read_text().replace("members: 1", "members: -1", 1))
    (repo / "catalog" / "caffe2.json").write_text("{")
    full = run_cli("validate", str(repo), "--format", "json")
    assert full.exit_code == 1
    import json

    problems = json.loads(full.stdout)
    assert len({p["file"] for p in problems}) >= 4
    union = []
    for k in (1, 2, 3):
        part = run_cli("validate", str(repo), "--format", "json", "--shard", f"{k}/3")
        union += json.loads(part.stdout)
    assert sorted(map(str, union)) == sorted(map(str, problems))


def test_shards_are_stable_across_runs_and_machines():
    # fixed values: sha256 of the key, not Python's seeded hash()
    assert [shard_of(f"clusters/c{i}.yaml", 4) for i in range(8)] == [
        shard_of(f"clusters/c{i}.yaml", 4) for i in range(8)]
    code = "from kdrender.shard import shard_of; print([shard_of(f'clusters/c{i}.yaml', 7) for i in range(50)])"
    outs = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                           env={**os.environ, "PYTHONHASHSEED": seed}).stdout for seed in ("0", "1", "12345")}
    assert len(outs) == 1
    assert shard_of("clusters/a.yaml", 1) == 1
    assert shard_of("analytics/spark-instance", 1000) == 1 + int(
        __import__("hashlib").sha256(b"analytics/spark-instance").hexdigest()[:16], 16) % 1000
    spread = [shard_of(f"clusters/c{i}.yaml", 4) for i in range(400)]
    assert all(60 < spread.count(k) < 140 for k in (1, 2, 3, 4))


@pytest.mark.parametrize("value", ["0/3", "4/3", "3", "a/b", "1/0", "-1/2", "1/2/3", "1/99999", "", "١/٢"])
def test_bad_shard_values_are_usage_errors(repo, value):
    with pytest.raises(ShardError):
        parse(value)
    for command in ("check", "validate"):
        result = run_cli(command, str(repo), "--shard", value)
        assert result.exit_code == 2 and "--shard" in result.stderr and "Traceback" not in result.stderr


def test_build_refuses_a_shard(repo):
    before = (repo / RECORD).read_bytes()
    result = run_cli("build", str(repo), "--shard", "1/2")
    assert result.exit_code == 2 and "atomic" in result.stderr
    assert (repo / RECORD).read_bytes() == before


@pytest.mark.parametrize("tracked", [True, False])
def test_a_golden_file_outside_any_bundle_folder_means_a_full_check(repo, tracked):
    (repo / "golden" / "analytics" / "stray.yaml").write_text("a: 1\n")
    if tracked:
        commit(repo, "stray")
    result = check(repo)
    assert result.rendered == 8 and any(m.startswith("extra: golden/analytics/stray.yaml") for m in result.messages)


def test_a_staged_golden_edit_is_caught(repo):
    target = repo / "golden" / "ml" / "caffe2-gpu" / "kustomization.yaml"
    target.write_text(target.read_text() + "# staged\n")
    git(repo, "add", str(target))
    assert rendered(check(repo)) == {"ml/caffe2-gpu"}
    git(repo, "update-index", "--assume-unchanged", str(target))  # Git no longer looks at it
    assert rendered(check(repo)) == {"ml/caffe2-gpu"}


@pytest.mark.parametrize("batch", [1, 2, incremental.BATCH])
def test_golden_folders_are_read_namespace_by_namespace_in_batches(repo, monkeypatch, batch):
    monkeypatch.setattr(incremental, "BATCH", batch)
    assert check(repo).rendered == 0
    target = repo / "golden" / "ml" / "caffe2-gpu" / "kustomization.yaml"
    target.write_text(target.read_text() + "# committed\n")
    commit(repo, "hand edit")
    assert rendered(check(repo)) == {"ml/caffe2-gpu"}


@pytest.mark.parametrize("flag", ["--assume-unchanged", "--skip-worktree"])
def test_an_unstaged_edit_of_a_flagged_golden_file_is_caught(repo, flag):
    target = repo / "golden" / "ml" / "caffe2-gpu" / "kustomization.yaml"
    git(repo, "update-index", flag, str(target))  # git status no longer shows its changes
    target.write_text(target.read_text() + "# hidden\n")
    assert git(repo, "status", "--porcelain") == ""
    result = check(repo)
    assert rendered(result) == {"ml/caffe2-gpu"}
    assert any(m.startswith("changed: golden/ml/caffe2-gpu/kustomization.yaml") for m in result.messages)


@pytest.mark.parametrize("cut", range(0, 48, 1))
def test_flagged_index_entries_are_found_wherever_git_output_is_cut(cut, monkeypatch):
    tree = object.__new__(incremental.Worktree)
    tree.dirty = set()
    for data, want in ((b"H golden/a/b/x\0h golden/a/c/y\0H golden/a/d/z\0", {"golden/a/c/y"}),
                       (b"H golden/a/b/x\0H golden/a/c/y\0H golden/a/d/z\0", set()),
                       (b"S golden/a/b/x\0H golden/a/c/y\0", {"golden/a/b/x"})):
        parsed = []
        monkeypatch.setattr(tree, "_chunks", lambda *a, d=data: iter([d[:cut], d[cut:]] if 0 < cut < len(d) else [d]))
        monkeypatch.setattr(tree, "_stream", lambda *a, d=data: parsed.append(1) or
                            iter(e.decode() for e in d.split(b"\0") if e))
        tree.note_flagged("golden")
        assert tree.dirty == want and bool(parsed) == bool(want)  # parsed only when one is flagged
        tree.dirty = set()


def test_shards_add_up_to_the_full_check_of_the_record(repo):
    (repo / "clusters" / "conn-b.yaml").unlink()  # its record line and golden folder are left behind
    lines = (repo / RECORD).read_text().splitlines(True)
    conn_a = next(i for i, line in enumerate(lines) if "/conn-a " in line)
    lines[conn_a] = lines[conn_a].replace("clusters/conn-a.yaml", "clusters/moved.yaml")
    (repo / RECORD).write_text("".join(lines))
    full = check(repo, full=True)
    record = [m for m in full.messages if m.startswith("record:")]
    assert len(record) == 2 and any("conn-b, which is no longer rendered" in m for m in record), full.messages
    assert any("the line of" in m and "/conn-a" in m for m in record)
    for count in (2, 3):
        parts = [check(repo, full=True, shard=(k, count)) for k in range(1, count + 1)]
        assert sorted(m for p in parts for m in p.messages) == sorted(full.messages)


def test_a_parsed_record_finds_each_line_by_key(repo):
    lines = incremental.read_record(str(repo))[0].lines
    keys = list(lines)
    assert keys == sorted(keys) and len(keys) == len(lines) == 8
    for key in keys:
        assert key in lines and lines[key].key == key and lines[key].file.startswith("clusters/")
    assert [line.key for line in lines.values()] == keys == [k for k, _ in lines.items()]
    for missing in ("", "a", keys[0] + "x", "zzz/zzz", 3):
        assert missing not in lines
    with pytest.raises(KeyError):
        lines["nope/nope"]


@pytest.mark.parametrize("order", [
    ["a/m", "a/n", "a-b/c", "b/a"],  # the model's order: namespaces apart, names in order
    ["b/a", "a/n", "a-b/c", "a/m"],  # any other order is sorted too
])
def test_recorded_lines_come_in_key_order(tmp_path, order):
    recorder = incremental.Recorder()
    for key in order:
        recorder._note(key, "0" * 64, f"clusters/{key.replace('/', '_')}.yaml", ("catalog/x y.yaml",))
    with recorder:
        made = list(recorder.lines(incremental.Worktree(str(tmp_path))))
    assert [line.key for line in made] == sorted(order) == ["a-b/c", "a/m", "a/n", "b/a"]
    assert len(recorder) == 4 and made[0].deps == ("catalog/x y.yaml",) and made[0].file == "clusters/a-b_c.yaml"
    assert recorder._in_order is (order[0] == "a/m")
