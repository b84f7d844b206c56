"""Temporary Git repos with a base commit, for the review commands (diff, validate --base)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from conftest import APP_YAML
from render_helpers import run_cli as run

# The test app of conftest ("controller" exactly 1, "worker" 0+; both with an http port here),
# and a cluster whose worker role has storage: what the dangerous cases need.
APP = APP_YAML + """\
    - roleID: worker
      serviceIDs: [http]
"""
CLUSTER = """\
# a commented cluster file
apiVersion: kubedirector.hpe.com/v1beta1
kind: KubeDirectorCluster
metadata:
  name: web1
  namespace: web
spec:
  app: web
  serviceType: ClusterIP
  roles:
  - id: controller
    members: 1
    resources:
      requests: {cpu: "1", memory: 1Gi}
      limits: {cpu: "1", memory: 1Gi}
  - id: worker
    members: 2   # two to start with
    resources:
      limits: {cpu: "1", memory: 1Gi}
    storage:
      size: 10Gi
"""


def git(root: Path, *args: str) -> str:
    done = subprocess.run(["git", "-C", str(root), "-c", "user.name=kdrender test", "-c", "user.email=test@example.com",
                           "-c", "commit.gpgsign=false", *args], capture_output=True, text=True, check=True)
    return done.stdout.strip()


def write(root: Path, files: dict) -> None:
    for rel, text in files.items():
        path = root / rel
        if text is None:
            path.unlink()
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def git_repo(root: Path, files: dict | None = None) -> Path:
    """A Git repo on branch main with one commit of the test app and cluster (plus ``files``)."""
    root.mkdir(parents=True, exist_ok=True)
    git(root, "init", "-q", "-b", "main")
    write(root, {"catalog/web.yaml": APP, "clusters/web1.yaml": CLUSTER, **(files or {})})
    commit(root, "base")
    return root


def commit(root: Path, message: str, files: dict | None = None) -> str:
    write(root, files or {})
    git(root, "add", "-A")
    git(root, "commit", "-q", "--allow-empty", "-m", message)
    return git(root, "rev-parse", "HEAD")


def diff_json(root: Path, *args: str) -> tuple[int, dict]:
    result = run("diff", str(root), "--format", "json", *args)
    return result.exit_code, (json.loads(result.stdout) if result.stdout.strip() else {})
