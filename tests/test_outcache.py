"""``generate``'s output cache (kdrender/outcache.py): an unchanged run is answered from the stored
output without rendering (or importing PyYAML); any change to what the run read, to the
environment or to the code renders again; failures and racy inputs are never stored."""

from __future__ import annotations

import io
import json
import os
import shutil
from pathlib import Path

import pytest

from kdrender import generate, outcache
from test_generate_fast_path import probe as generate_probe

ROOT = Path(__file__).resolve().parent.parent
CLUSTER = "clusters/spark221e2.yaml"

@pytest.fixture
def repo(tmp_path) -> Path:
    root = tmp_path / "repo"
    shutil.copytree(ROOT / "catalog", root / "catalog")
    shutil.copytree(ROOT / "clusters", root / "clusters")
    return root


@pytest.fixture
def env(tmp_path) -> dict:
    return {"KDRENDER_CACHE_DIR": str(tmp_path / "cache"), "ARGOCD_APP_NAMESPACE": "analytics",
            "ARGOCD_APP_PARAMETERS": json.dumps([{"name": "clusters", "array": ["clusters/*.yaml"]}])}


def run(env: dict, cwd: Path) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = generate.run(env, str(cwd), out, err)
    return code, out.getvalue(), err.getvalue()


def entries(env: dict) -> list:
    folder = Path(env["KDRENDER_CACHE_DIR"]) / "output"
    return sorted(folder.iterdir()) if folder.is_dir() else []


def rendered_fresh(env: dict, cwd: Path) -> tuple[int, str, str]:
    return run(dict(env, KDRENDER_OUTPUT_CACHE="off"), cwd)


def test_hit_gives_the_same_output_without_rendering(repo, env, monkeypatch):
    first = run(env, repo)
    assert first[0] == 0 and first[1] and len(entries(env)) == 1
    calls = []
    monkeypatch.setattr(generate, "_render", lambda *a, **k: calls.append(a) or 99)
    assert run(env, repo) == first
    assert calls == []


@pytest.mark.parametrize("change", ["edit-cluster", "edit-catalog", "new-cluster", "remove-cluster", "config",
                                    "symlink"])
def test_any_change_to_what_was_read_renders_again(repo, env, change):
    first = run(env, repo)
    assert first[0] == 0
    cluster = repo / CLUSTER
    if change == "edit-cluster":
        cluster.write_text(cluster.read_text().replace("members: 2", "members: 3"))
    elif change == "edit-catalog":
        app = repo / "catalog" / "spark221e2.json"
        app.write_text(app.read_text().replace('"Spark 2.2.1', '"Spark 2.2.1 again', 1))
    elif change == "new-cluster":
        (repo / "clusters" / "more.yaml").write_text(cluster.read_text().replace("spark-instance", "more"))
    elif change == "remove-cluster":
        (repo / "clusters" / "cassandra311.yaml").unlink()
    elif change == "config":
        (repo / "kdrender.yaml").write_text("defaultServiceType: NodePort\n")
    elif change == "symlink":
        (repo / "clusters" / "link.yaml").symlink_to(cluster)
    second = run(env, repo)
    assert second == rendered_fresh(env, repo)
    assert second != first


def test_environment_is_part_of_the_key(repo, env):
    first = run(env, repo)
    other = run(dict(env, ARGOCD_ENV_KDRENDER_SYNC_WAVES="false"), repo)
    assert other != first and len(entries(env)) == 2
    assert run(dict(env, ARGOCD_APP_REVISION="abc123"), repo) == first  # the commit's name is not content
    assert len(entries(env)) == 2


def test_failures_are_not_stored(repo, env):
    cluster = repo / CLUSTER
    cluster.write_text(cluster.read_text().replace("  roles:", "  servceType: x\n  roles:", 1))
    assert run(env, repo)[0] == 1
    assert entries(env) == []


def test_a_file_changed_during_the_run_is_not_stored(repo, env, monkeypatch):
    real = generate._render

    def render_then_edit(*args, **kwargs):
        code = real(*args, **kwargs)
        (repo / CLUSTER).write_text((repo / CLUSTER).read_text() + "# edited while rendering\n")
        return code

    monkeypatch.setattr(generate, "_render", render_then_edit)
    assert run(env, repo)[0] == 0
    assert entries(env) == []


def test_a_new_unpacked_copy_of_the_repo_hits(repo, env, tmp_path):
    """Argo CD unpacks each request into a new folder: the same content at another path hits."""
    first = run(env, repo)
    copy = tmp_path / "elsewhere" / "repo"
    shutil.copytree(repo, copy)
    calls = []
    real = generate._render
    generate._render = lambda *a, **k: calls.append(1) or real(*a, **k)
    try:
        assert run(env, copy) == first
    finally:
        generate._render = real
    assert calls == []


def test_switched_off_and_untrusted_folders(repo, env, tmp_path):
    assert run(dict(env, KDRENDER_OUTPUT_CACHE="off"), repo)[0] == 0
    assert entries(env) == []
    shared = tmp_path / "shared"
    (shared / "output").mkdir(parents=True)
    os.chmod(shared / "output", 0o777)
    assert outcache.OutputCache.open(dict(env, KDRENDER_CACHE_DIR=str(shared)), str(repo), str(repo)) is None


def test_malformed_entry_is_ignored(repo, env):
    first = run(env, repo)
    [entry] = entries(env)
    for junk in ("not json", json.dumps({"touched": [], "stdout": 1, "stderr": ""}), json.dumps([])):
        entry.write_text(junk)
        assert run(env, repo) == first


def test_a_hit_imports_no_yaml(repo, tmp_path):
    """As Argo CD runs it: a fresh process answers an unchanged refresh without PyYAML."""
    def probe():
        code, _, _, lines, _, loaded = generate_probe(repo, tmp_path / "cache", CLUSTER, watch=("yaml",))
        return code, "yaml" in loaded, lines

    first, second = probe(), probe()
    assert first[0] == second[0] == 0 and first[2] == second[2] > 0
    assert first[1] is True and second[1] is False


def test_lookup_never_reads_through_a_symlink(repo, env, tmp_path, monkeypatch):
    """A folder swapped for a link to an identical copy outside the repo: a miss, and nothing outside is opened."""
    assert run(env, repo)[0] == 0
    outside = tmp_path / "outside"
    shutil.move(str(repo / "clusters"), str(outside))
    (repo / "clusters").symlink_to(outside)
    opened = []
    real_open = os.open
    monkeypatch.setattr(os, "open", lambda path, *a, **k: opened.append(str(path)) or real_open(path, *a, **k))
    cache = outcache.OutputCache.open(env, str(repo), str(repo))
    assert cache.lookup() is None
    assert not [p for p in opened if p.startswith(str(outside))]
    assert outcache.fingerprint(str(repo), "clusters/spark221e2.yaml") == "via"


def test_cluster_selection_does_not_walk_golden(repo, env, monkeypatch):
    """One cluster's generate stays flat in a big repo: golden/ (12 files per cluster) is not walked,
    so neither the render nor the output cache's check depends on its size."""
    golden = repo / "golden" / "ns" / "c"
    golden.mkdir(parents=True)
    (golden / "service-c.yaml").write_text("kind: Service\n")
    scanned = []
    real = os.scandir
    monkeypatch.setattr(os, "scandir", lambda path=".": scanned.append(os.fspath(path)) or real(path))
    assert run(dict(env, ARGOCD_APP_PARAMETERS=json.dumps([{"name": "clusters", "array": [CLUSTER]}])), repo)[0] == 0
    assert scanned and not [p for p in scanned if "golden" in p]


def test_a_child_forked_while_recording_does_not_record(repo, env):
    """Render workers are forked while generate records its reads; the parent never sees a child's
    notes, so the child puts the real file-system functions back (os.register_at_fork)."""
    import builtins

    real_open, real_stat = builtins.open, os.stat
    cache = outcache.OutputCache.open(env, str(repo), str(repo))
    with cache:
        assert builtins.open is not real_open  # recording here
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: report whether open is the real one again, and leave at once
            os.write(write, b"1" if builtins.open is real_open and os.stat is real_stat else b"0")
            os._exit(0)
        os.close(write)
        answer = os.read(read, 1)
        os.waitpid(pid, 0)
        assert builtins.open is not real_open  # the parent still records
    assert answer == b"1"
    assert builtins.open is real_open
