"""The hooks of .pre-commit-hooks.yaml, run by pre-commit itself in a cluster repo.

pre-commit installs kdrender from a local Git copy of this project into its own virtual
environment (``language: python``), which needs PyPI for the dependencies.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from review_helpers import APP, CLUSTER, commit, git, write

PROJECT = Path(__file__).resolve().parent.parent
HOOKS = ("kdrender-validate", "kdrender-lint", "kdrender-check")

pytest.importorskip("pre_commit")


def test_hook_definitions():
    hooks = yaml.safe_load((PROJECT / ".pre-commit-hooks.yaml").read_text())
    assert [h["id"] for h in hooks] == list(HOOKS)
    for hook in hooks:
        assert hook["language"] == "python" and hook["pass_filenames"] is False
        assert hook["entry"] == "kdrender " + hook["id"].split("-", 1)[1]


def hook_repo(tmp_path: Path) -> tuple[Path, str]:
    """A Git copy of the project as it is in the working tree (committed or not)."""
    dest = tmp_path / "kdrender-hooks"
    listed = subprocess.run(["git", "-C", str(PROJECT), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                            capture_output=True, check=True).stdout.decode().split("\0")
    for rel in filter(None, listed):
        src = PROJECT / rel
        if src.is_file() and not rel.startswith(("tests/", "golden/", "bench/")):
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)
    git(dest, "init", "-q", "-b", "main")
    return dest, commit(dest, "hooks")


def pre_commit(repo: Path, home: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PRE_COMMIT_HOME": str(home), "PRE_COMMIT_COLOR": "never"}
    return subprocess.run([sys.executable, "-m", "pre_commit", "run", "--all-files"], cwd=repo, env=env,
                          capture_output=True, text=True, timeout=900)


@pytest.mark.slow
def test_hooks_run_through_pre_commit(tmp_path):
    hooks, rev = hook_repo(tmp_path)
    repo = tmp_path / "clusters-repo"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    config = {"repos": [{"repo": str(hooks), "rev": rev, "hooks": [{"id": h} for h in HOOKS]}]}
    write(repo, {"catalog/web.yaml": APP, "clusters/web1.yaml": CLUSTER,
                 ".pre-commit-config.yaml": yaml.safe_dump(config)})
    built = subprocess.run([str(Path(sys.executable).parent / "kdrender"), "build", str(repo)], capture_output=True,
                           text=True)
    assert built.returncode == 0, built.stderr
    commit(repo, "clusters")
    home = tmp_path / "pre-commit-home"

    ok = pre_commit(repo, home)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    for hook in ("kdrender validate", "kdrender lint", "kdrender check"):
        assert any(line.startswith(hook) and line.endswith("Passed") for line in ok.stdout.splitlines()), ok.stdout

    # a scale-up without `kdrender build`: validate and lint pass, check fails and says why
    write(repo, {"clusters/web1.yaml": CLUSTER.replace("members: 2 ", "members: 3 ")})
    stale = pre_commit(repo, home)
    assert stale.returncode == 1
    lines = stale.stdout.splitlines()
    assert any(line.startswith("kdrender validate") and line.endswith("Passed") for line in lines)
    assert any(line.startswith("kdrender check") and line.endswith("Failed") for line in lines)
    assert "golden/ is out of date" in stale.stdout

    # an invalid cluster: validate fails with file:line:col, and trailing spaces fail lint
    write(repo, {"clusters/web1.yaml": CLUSTER.replace("members: 1", "members: 2  ")})
    bad = pre_commit(repo, home)
    assert bad.returncode == 1
    assert "clusters/web1.yaml:12:5: spec.roles[0].members:" in bad.stdout
    assert "clusters/web1.yaml:12:15: trailing spaces" in bad.stdout
