"""A repo at a Git revision, read through ``git archive`` into a temporary folder.

The revision comes from the user (``--base REF``, or CI variables): it is checked before git
sees it, git is told where its options end, and only the commit id it resolves to is passed on.
Only what kdrender reads (``kdrender.yaml``, ``catalog/``, ``clusters/``) is extracted, regular
files and folders only; the working tree and the index are never touched.
"""

from __future__ import annotations

import os
import re
import subprocess
import tarfile
from dataclasses import dataclass, field

from ..load import CONFIG_FILE, RepoFiles, load_repo
from ..model import Model
from ..problems import UserError

READ = ("catalog", "clusters", CONFIG_FILE)  # what a render reads from a repo
_REF = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/@{}^~:+-]{0,254}\Z")
_DEFAULT_BRANCHES = ("refs/remotes/origin/HEAD", "refs/remotes/origin/main", "refs/remotes/origin/master",
                     "refs/heads/main", "refs/heads/master")
_GIT_TIMEOUT = 120


class GitError(Exception):
    """git could not answer (not a repository, unknown revision, ...)."""


def _env() -> dict:
    """The environment for git: no GIT_DIR, GIT_INDEX_FILE & co. from a hook that runs kdrender, no prompts."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(GIT_TERMINAL_PROMPT="0", LC_ALL="C")
    return env


def _git(root: str, *args: str, binary: bool = False):
    try:
        done = subprocess.run(["git", "-C", root, *args], capture_output=True, env=_env(), timeout=_GIT_TIMEOUT,
                              check=False)
    except FileNotFoundError as exc:
        raise GitError("git is not installed") from exc
    except subprocess.TimeoutExpired as exc:
        raise GitError(f"git {args[0]} took longer than {_GIT_TIMEOUT} s") from exc
    if done.returncode != 0:
        message = done.stderr.decode("utf-8", "replace").strip().splitlines()
        raise GitError(message[-1] if message else f"git {args[0]} failed")
    return done.stdout if binary else done.stdout.decode("utf-8", "replace").strip()


def check_ref(ref: str) -> str:
    """Refuse revisions that could be read as options or carry control characters."""
    if not isinstance(ref, str) or not _REF.match(ref):
        raise GitError(f"{ref!r} is not a Git revision (letters, digits and ._/@{{}}^~:+- only; "
                       "it may not start with '-')")
    return ref


def check_repository(root: str) -> None:
    """Fail with git's own message when ``root`` is not inside a Git working tree."""
    _git(root, "rev-parse", "--show-toplevel")


def resolve(root: str, ref: str) -> str:
    """The commit id of ``ref``."""
    check_ref(ref)
    try:
        return _git(root, "rev-parse", "--verify", "--quiet", "--end-of-options", ref + "^{commit}")
    except GitError:
        raise GitError(f"unknown revision {ref!r}") from None


def default_base(root: str) -> tuple[str, str]:
    """The merge base of HEAD with the default branch: (commit, description).

    In CI the target branch of the pull request comes first (GitHub Actions ``GITHUB_BASE_REF``,
    GitLab ``CI_MERGE_REQUEST_DIFF_BASE_SHA``); otherwise ``origin/HEAD``, ``main`` or ``master``.
    """
    sha = os.environ.get("CI_MERGE_REQUEST_DIFF_BASE_SHA")
    if sha:
        return resolve(root, sha), f"CI_MERGE_REQUEST_DIFF_BASE_SHA {sha}"
    candidates = []
    if os.environ.get("GITHUB_BASE_REF"):
        branch = check_ref(os.environ["GITHUB_BASE_REF"])
        candidates += [f"refs/remotes/origin/{branch}", f"refs/heads/{branch}"]
    for ref in candidates + list(_DEFAULT_BRANCHES):
        try:
            target = resolve(root, ref)
        except GitError:
            continue
        try:
            head = resolve(root, "HEAD")
        except GitError:
            raise GitError("the repository has no commit yet; pass --base") from None
        base = _git(root, "merge-base", "--end-of-options", head, target)
        name = ref.replace("refs/remotes/", "").replace("refs/heads/", "")
        return base, f"merge base with {name}"
    raise GitError("no default branch found (origin/HEAD, main or master); pass --base REF")


def export(root: str, commit: str, dest: str) -> str:
    """Write what kdrender reads of ``root`` at ``commit`` into ``dest``; return the repo folder in it."""
    prefix = _git(root, "rev-parse", "--show-prefix")  # the repo may be a folder of the Git repository
    top = _git(root, "rev-parse", "--show-toplevel")  # git archive in a folder would archive relative to it
    tree = f"{commit}:{prefix}" if prefix else commit
    os.makedirs(dest, exist_ok=True)
    try:
        names = set(_git(top, "ls-tree", "--name-only", "--end-of-options", tree).splitlines())
    except GitError:
        return dest  # the folder did not exist at that revision: an empty repo
    paths = [name for name in READ if name in names]  # only what a render reads (golden/ can be large)
    if not paths:
        return dest
    proc = subprocess.Popen(["git", "-C", top, "archive", "--format=tar", "--end-of-options", tree, *paths],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=_env())
    try:
        with tarfile.open(fileobj=proc.stdout, mode="r|") as tar:
            for member in tar:
                _extract(tar, member, dest)
    except tarfile.TarError as exc:
        raise GitError(f"git archive: {exc}") from None
    finally:
        proc.stdout.close()
        err = proc.stderr.read().decode("utf-8", "replace").strip()
        proc.stderr.close()
        if proc.wait() != 0:
            raise GitError(err.splitlines()[-1] if err else "git archive failed")
    return dest


def _extract(tar, member, dest: str) -> None:
    parts = member.name.split("/")
    if not parts or parts[0] not in READ or any(p in ("", ".", "..") for p in parts) or member.name.startswith("/"):
        return
    if member.name == CONFIG_FILE and not member.isfile():
        return
    path = os.path.join(dest, *parts)
    if member.isdir():
        os.makedirs(path, exist_ok=True)
    elif member.isfile():  # symlinks, devices and the like are left out, as the loader would refuse them
        os.makedirs(os.path.dirname(path), exist_ok=True)
        source = tar.extractfile(member)
        with open(path, "wb") as fh:
            while chunk := source.read(1 << 20):
                fh.write(chunk)


@dataclass
class Revision:
    """One side of a comparison: what was read, the validated model and, when it renders, the bundle."""

    label: str
    root: str
    repo: RepoFiles
    model: Model
    problems: list = field(default_factory=list)
    rendered: list | None = None

    @property
    def errors(self) -> list:
        return [p for p in self.problems if p.level == "error"]


def load_revision(root: str, label: str, render: bool = True, partial: bool = False) -> Revision:
    """Load, validate and (when asked for) render the repo in ``root``.

    It renders only when valid, or with ``partial`` the clusters that passed validation (the
    model holds only those): a base revision that a newer kdrender finds fault with can still
    be compared.
    """
    from ..pipeline import render_model
    from ..validate import validate_repo

    repo = load_repo(root)
    model, problems = validate_repo(repo)
    revision = Revision(label, root, repo, model, problems)
    if render and (partial or not revision.errors):
        try:
            revision.rendered = render_model(model)
        except UserError as exc:
            revision.problems.extend(exc.problems)
    return revision
