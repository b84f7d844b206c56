"""``kdrender build`` replaces golden/ atomically and under a lock: killed at any step (SIGKILL or
SIGTERM), or run many times at once, golden/ is the old or the new tree, readable by others, and no
staging folder survives the next build.  The kills come from the ``KDRENDER_BUILD_HOOK`` test hook
(kdrender/atomic.py)."""

from __future__ import annotations

import os
import shutil
import signal
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from render_helpers import PROJECT, project_repo, subprocess_env, tree_bytes

STEPS = ["locked", "writing", "staged", "between-renames", "swapped"]


def build(repo: Path, hook: str = "", umask: int = 0o022, **kwargs) -> subprocess.CompletedProcess:
    env = subprocess_env(PYTHONPATH=str(PROJECT), KDRENDER_BUILD_HOOK=hook)
    return subprocess.run([sys.executable, "-m", "kdrender", "build", str(repo)], env=env, capture_output=True,
                          text=True, timeout=120, umask=umask, **kwargs)


def staging(repo: Path) -> list[str]:
    return sorted(p.name for p in repo.iterdir() if p.name.startswith("."))


@pytest.fixture(scope="module")
def trees(tmp_path_factory) -> dict:
    """The old tree (the committed golden/) and the new one (after scaling a role)."""
    base = tmp_path_factory.mktemp("trees")
    old = project_repo(base / "old", with_golden=True)
    new = project_repo(base / "new")
    change(new)
    assert build(new).returncode == 0
    return {"old": tree_bytes(old / "golden"), "new": tree_bytes(new / "golden")}


def change(repo: Path) -> None:
    path = repo / "clusters" / "cassandra311.yaml"
    text = path.read_text()
    assert "members: 2" in text
    path.write_text(text.replace("members: 2", "members: 3", 1))


@pytest.fixture
def repo(tmp_path) -> Path:
    root = project_repo(tmp_path / "repo", with_golden=True)
    change(root)
    return root


def test_trees_differ(trees):
    assert trees["old"] and trees["new"] and trees["old"] != trees["new"]


@pytest.mark.parametrize("mode", ["exchange", "no-exchange"])
@pytest.mark.parametrize("step", STEPS)
def test_sigkill_at_each_step(repo, trees, step, mode):
    hook = f"{step}:kill" + (",no-exchange" if mode == "no-exchange" else "")
    result = build(repo, hook)
    golden = tree_bytes(repo / "golden")
    if step == "between-renames" and mode == "no-exchange":
        # the one window of the two-rename path: the old tree waits aside for the next build
        assert result.returncode == -signal.SIGKILL
        assert not (repo / "golden").exists()
        [old] = [n for n in staging(repo) if n.startswith(".golden.old-")]
        assert tree_bytes(repo / old) == trees["old"]
    elif step == "between-renames":  # one exchange: this step never comes
        assert result.returncode == 0, result.stderr
        assert golden == trees["new"]
    else:
        assert result.returncode == -signal.SIGKILL
        assert golden == (trees["new"] if step == "swapped" else trees["old"])
    # the next build cleans up whatever was left and writes the new tree
    result = build(repo)
    assert result.returncode == 0, result.stderr
    assert tree_bytes(repo / "golden") == trees["new"]
    assert staging(repo) == []


def test_next_build_puts_the_old_tree_back_before_failing(repo, trees):
    """Killed between the renames, then a build that cannot write: golden/ is the old tree again."""
    assert build(repo, "between-renames:kill,no-exchange").returncode == -signal.SIGKILL
    assert build(repo, "locked:term").returncode == 128 + signal.SIGTERM  # recovery runs after "locked"
    result = build(repo, "writing:term")
    assert result.returncode == 128 + signal.SIGTERM
    assert "stopped by SIGTERM; golden/ was left as it was" in result.stderr
    assert tree_bytes(repo / "golden") == trees["old"]
    assert staging(repo) == []


@pytest.mark.parametrize("step", ["locked", "writing", "staged"])
def test_sigterm_before_the_swap_keeps_the_old_tree(repo, trees, step):
    result = build(repo, f"{step}:term")
    assert result.returncode == 128 + signal.SIGTERM, result.stderr
    assert "stopped by SIGTERM" in result.stderr
    assert tree_bytes(repo / "golden") == trees["old"]
    assert staging(repo) == []


@pytest.mark.parametrize("mode", ["exchange", "no-exchange"])
def test_sigterm_during_the_swap_waits_for_it(repo, trees, mode):
    """A SIGTERM after the swap started is held until the new tree is in place and cleaned up."""
    hook = "swapped:term" + (",no-exchange" if mode == "no-exchange" else "")
    result = build(repo, hook)
    assert result.returncode == -signal.SIGTERM
    assert tree_bytes(repo / "golden") == trees["new"]
    assert staging(repo) == []


def test_modes_whatever_the_umask(repo):
    assert build(repo, umask=0o077).returncode == 0
    golden = repo / "golden"
    for path in [golden, *golden.rglob("*")]:
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode == (0o755 if path.is_dir() else 0o644), (path, oct(mode))


def test_concurrent_builds(repo, trees):
    """Six builds at once all succeed one after the other; a reader always finds a whole golden/."""
    seen, stop = [], threading.Event()

    def reader():
        while not stop.is_set():
            seen.append((repo / "golden" / "analytics").is_dir())
            time.sleep(0.001)

    thread = threading.Thread(target=reader)
    thread.start()
    env = subprocess_env(PYTHONPATH=str(PROJECT), KDRENDER_BUILD_HOOK="staged:sleep0.2")
    try:
        procs = [subprocess.Popen([sys.executable, "-m", "kdrender", "build", str(repo)], env=env,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(6)]
        outs = [p.communicate(timeout=120) for p in procs]
    finally:
        stop.set()
        thread.join()
    assert [p.returncode for p in procs] == [0] * 6, outs
    assert any("waiting for another build" in err for _, err in outs)
    assert seen and all(seen)
    assert tree_bytes(repo / "golden") == trees["new"]
    assert staging(repo) == []


def test_stale_staging_folders_are_removed(repo, trees):
    (repo / ".golden.new-abc123" / "ns").mkdir(parents=True)
    (repo / ".golden.old-def456").mkdir()
    (repo / ".golden.old-def456" / "x.yaml").write_text("x\n")
    assert build(repo).returncode == 0
    assert staging(repo) == []
    assert tree_bytes(repo / "golden") == trees["new"]


def test_first_build_without_golden(tmp_path, trees):
    root = project_repo(tmp_path / "repo")
    change(root)
    assert build(root).returncode == 0
    assert tree_bytes(root / "golden") == trees["new"]
    shutil.rmtree(root / "golden")
    assert build(root, "writing:kill").returncode == -signal.SIGKILL
    assert not (root / "golden").exists()
    assert build(root).returncode == 0 and staging(root) == []


@pytest.mark.parametrize("hook", ["staged:sleep1e999", "staged:sleepx", "staged:sleep99999"])
def test_a_bad_build_hook_value_is_ignored(repo, hook):
    # the test hook is an environment variable like any other: a bad value never crashes a build
    proc = build(repo, hook)
    assert proc.returncode == 0, proc.stderr
    assert "internal error" not in proc.stderr
