"""Running kdrender the way a user or Argo CD does, in-process, through the console entry point
(kdrender/entry.py and its last-resort handler), and writing the hostile repos of tests/corpus/.

A corpus case is one YAML file::

    probe: what it attacks (one line)
    command: [validate]            # argv after `kdrender`; run in the repo's root (or `cwd`)
    cwd: clusters                  # optional, repo-relative
    files: {path: text}            # written over the base repo (conftest APP_YAML / CLUSTER_YAML)
    edits: {path: [[old, new]]}    # replacements in the base files (each `old` occurs once)
    generate: {path: [[text, count], ...]}   # big files without committing them: each text
                                   # repeated count times, {i} replaced by 0..count-1
    symlinks: {path: target}       # target relative to the repo, or absolute
    fifos: [path]
    build: true                    # run `kdrender build` first (for `check` cases)
    env: {NAME: value}             # for generate: Argo CD's environment
    expect:
      exit: 1
      stderr: [substring, ...]     # each must occur on stderr
      stdout: [substring, ...]
      absent: [substring, ...]     # may occur in neither
"""

from __future__ import annotations

import io
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from conftest import APP_YAML, CLUSTER_YAML, edit

CORPUS = Path(__file__).resolve().parent / "corpus"
ARGOCD_ENV = ("ARGOCD_APP_NAME", "ARGOCD_APP_NAMESPACE", "ARGOCD_APP_PARAMETERS", "KUBE_VERSION", "KUBE_API_VERSIONS")


@dataclass
class Run:
    exit: int
    stdout: str
    stderr: str


def run_kdrender(argv: list[str], cwd: Path, env: dict | None = None) -> Run:
    """``kdrender ARGV`` in ``cwd`` through kdrender.entry.main, with stdout/stderr captured."""
    from kdrender import entry

    saved = (sys.argv, sys.stdout, sys.stderr, os.getcwd(), dict(os.environ))
    out, err = io.StringIO(), io.StringIO()
    try:
        for name in list(os.environ):
            if name.startswith(("ARGOCD_", "PARAM_", "KDRENDER_DEBUG")) or name in ARGOCD_ENV:
                del os.environ[name]
        os.environ.update(env or {})
        os.chdir(cwd)
        sys.argv, sys.stdout, sys.stderr = ["kdrender", *argv], out, err
        try:
            entry.main()
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    finally:
        sys.argv, sys.stdout, sys.stderr = saved[0], saved[1], saved[2]
        os.chdir(saved[3])
        os.environ.clear()
        os.environ.update(saved[4])
    return Run(code, out.getvalue(), err.getvalue())


def write_case(root: Path, case: dict) -> Path:
    """The repo of a corpus case below ``root``."""
    files = {"catalog/web.yaml": APP_YAML, "clusters/web1.yaml": CLUSTER_YAML}
    for rel, pairs in (case.get("edits") or {}).items():
        files[rel] = edit(files[rel], *[tuple(p) for p in pairs])
    files.update(case.get("files") or {})
    for rel, parts in (case.get("generate") or {}).items():
        files[rel] = "".join(text.replace("{i}", str(i)) for text, count in parts for i in range(count))
    (root / "catalog").mkdir(parents=True, exist_ok=True)
    (root / "clusters").mkdir(exist_ok=True)
    for rel, text in files.items():
        if text is None:
            continue
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8", errors="surrogatepass")
    return root


def place_links(root: Path, case: dict) -> None:
    for rel, target in (case.get("symlinks") or {}).items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.exists() or path.is_symlink():
            path.unlink()
        os.symlink(target if os.path.isabs(target) else root / target, path)
    for rel in case.get("fifos") or []:
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.exists():
            path.unlink()
        os.mkfifo(path)
