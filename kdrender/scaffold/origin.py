"""The Git URL ``kdrender init`` writes into deploy/ when ``--repo-url`` is not given: the ``origin``
remote of the Git repo that holds the target folder (or its nearest existing parent).

Git runs without a shell, with a time limit, no terminal prompt and no standard input.  A URL that
holds a credential (``https://user:token@host/...``) never reaches a file or a message: its
user-info is left out.  A remote that is not a URL a GitOps controller can fetch (a local path,
``file://``) counts as none.  With none, init writes :data:`PLACEHOLDER`, which ``kdrender
validate`` refuses (kdrender/rules/deploy_placeholders.py) until it is set.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from ..credentials import has_credentials, redact, strip_userinfo
from ..rules.deploy_placeholders import PLACEHOLDER

GIT_TIMEOUT = 10  # seconds


def _nearest_folder(target: str) -> Path:
    path = Path(os.path.abspath(target))
    while not path.is_dir() and path != path.parent:
        path = path.parent
    return path


def origin_url(target: str, is_repo_url) -> tuple[str | None, str]:
    """``(url, note)``: the origin remote's URL (credentials left out), or None and why not.
    ``is_repo_url(url)`` says whether a URL is one init accepts."""
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0"}
    try:
        done = subprocess.run(["git", "-C", str(_nearest_folder(target)), "remote", "get-url", "origin"],
                              stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=GIT_TIMEOUT,
                              env=env, check=False)
    except FileNotFoundError:
        return None, "git is not installed"
    except subprocess.TimeoutExpired:
        return None, f"git remote get-url origin did not answer within {GIT_TIMEOUT} s"
    except (OSError, UnicodeDecodeError) as exc:
        return None, f"git could not be run ({type(exc).__name__})"
    lines = done.stdout.splitlines()
    if done.returncode != 0 or not lines or not lines[0].strip():
        return None, "no origin remote (not in a Git repo, or the repo has no remote 'origin')"
    url, note = lines[0].strip(), ""
    if has_credentials(url):
        url, note = strip_userinfo(url), "the origin URL held credentials; they were left out"
    if not is_repo_url(url):
        return None, f"the origin remote {redact(url)!r} is not a URL a GitOps controller can fetch"
    return url, note


__all__ = ["PLACEHOLDER", "origin_url"]
