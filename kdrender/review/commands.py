"""The review commands (``diff``, ``scale``, ``set``, ``lint``) and ``validate --base``.

kdrender/cli.py adds these commands to its group; each imports what it needs when it runs.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from contextlib import contextmanager

import click

from ..problems import format_problems, report

REPO = click.argument("repo", required=False, default=".", type=click.Path(file_okay=False, exists=True))
TROUBLE = 2  # as GNU diff: 0 same, 1 different, 2 trouble (here also 3: dangerous)


def _trouble(message: str, problems: list = ()) -> None:
    click.echo(report(list(problems)) + f"kdrender: {message}", err=True)
    sys.exit(TROUBLE)


@contextmanager
def base_revision(repo: str, ref: str | None, render: bool = True):
    """The repo at ``ref`` (default: the merge base with the default branch), in a temporary folder."""
    from .revision import GitError, check_repository, default_base, export, load_revision, resolve

    tmp = tempfile.mkdtemp(prefix="kdrender-base-")
    try:
        try:
            check_repository(repo)
            commit, why = (resolve(repo, ref), ref) if ref else default_base(repo)
            root = export(repo, commit, os.path.join(tmp, "repo"))
        except GitError as exc:
            _trouble(f"cannot read the base revision: {exc}")
        yield load_revision(root, f"{why} ({commit[:12]})" if why != commit else commit[:12], render, partial=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def update_problems(repo: str, ref: str | None, files, model, problems: list) -> list:
    """``validate --base REF``: KubeDirector's update-time rules between REF and the working tree
    (``files``, ``model`` and ``problems``: what validate found in the working tree)."""
    from .revision import Revision
    from .update_rules import update_problems as between

    head = Revision("working tree", repo, files, model, problems)
    with base_revision(repo, ref, render=False) as base:
        return between(base, head)


@click.command()
@REPO
@click.option("--base", "ref", metavar="REF", help="Git revision to compare with [default: the merge base with "
              "the default branch]")
@click.option("--format", "fmt", type=click.Choice(["text", "json", "markdown"]), default="text", show_default=True)
@click.option("--color/--no-color", default=None, help="Color the text output [default: on a terminal]")
def diff(repo: str, ref: str | None, fmt: str, color: bool | None) -> None:
    """What the working tree of REPO changes in the cluster compared with a Git revision.

    Exit 0 nothing changed, 1 changed, 3 a dangerous change, 2 trouble (a revision that does
    not render, git errors).
    """
    from . import report as out
    from .diff import cluster_renames, diff_renders, exit_code
    from .revision import load_revision

    head = load_revision(repo, "working tree")
    if head.errors:
        _trouble("the working tree does not render; fix it first (kdrender validate)", head.errors)
    with base_revision(repo, ref) as base:
        if base.rendered is None:
            _trouble(f"the base revision {base.label} does not render", base.errors)
        if base.errors:
            click.echo(f"notice: the base revision {base.label} has {len(base.errors)} problem"
                       f"{'s' if len(base.errors) != 1 else ''} (kdrender validate); clusters with problems are "
                       "compared as if they did not exist there", err=True)
        diffs = diff_renders(base.rendered, head.rendered, cluster_renames(base.model.clusters, head.model.clusters))
        label = base.label
    if fmt == "json":
        click.echo(out.as_json(diffs, label, head.label), nl=False)
    elif fmt == "markdown":
        click.echo(out.markdown(diffs, label, head.label), nl=False)
    else:
        use_color = sys.stdout.isatty() and "NO_COLOR" not in os.environ if color is None else color
        click.echo(out.text(diffs, label, head.label, use_color), nl=False, color=use_color)
    sys.exit(exit_code(diffs))


def print_problems(problems: list, fmt: str, warnings: list = ()) -> None:
    if fmt == "json":
        click.echo(format_problems(list(problems) + list(warnings), "json"))
    elif problems:
        click.echo(format_problems(list(problems), fmt))


def _edit(run) -> None:
    from .edit import EditError

    try:
        rel, old_text, new_text, normalized, what = run()
    except EditError as exc:
        click.echo(report(exc.problems) + f"kdrender: {exc}", err=True)
        sys.exit(1)
    if normalized:
        click.echo(f"notice: {rel}: its layout could not be kept around the edit; the YAML writer re-indented it "
                   "(comments, key order and quoting are kept)", err=True)
    click.echo(what if old_text != new_text else f"{rel}: unchanged", err=True)


CLUSTER = click.option("--cluster", metavar="NAME", help="The cluster to edit when FILE holds several.")
EDIT_REPO = click.option("--repo", default=".", show_default=True, type=click.Path(file_okay=False, exists=True),
                         help="The repo whose catalog/ and kdrender.yaml apply.")


@click.command()
@click.argument("file", type=click.Path(dir_okay=False, exists=True))
@click.argument("role")
@click.argument("members", metavar="N", type=click.IntRange(min=0))
@CLUSTER
@EDIT_REPO
def scale(file: str, role: str, members: int, cluster: str | None, repo: str) -> None:
    """Set the member count of ROLE in the cluster FILE to N (comments and layout kept; validated first)."""
    from .edit import scale as run

    def go():
        rel, old_text, new_text, normalized, old = run(repo, file, role, members, cluster)
        return rel, old_text, new_text, normalized, f"{rel}: role {role}: members {old if old is not None else '(default)'} -> {members}"

    _edit(go)


@click.command("set")
@click.argument("file", type=click.Path(dir_okay=False, exists=True))
@click.argument("path")
@click.argument("value")
@CLUSTER
@EDIT_REPO
def set_(file: str, path: str, value: str, cluster: str | None, repo: str) -> None:
    """Set the field PATH of the cluster FILE to VALUE (YAML; a string field stays a string).

    PATH as kdrender prints it: spec.roles[worker].storage.size, metadata.labels["a/b"].
    """
    from .edit import set_field as run
    from .edit import value_text

    def go():
        rel, old_text, new_text, normalized, old = run(repo, file, path, value, cluster)
        shown = "(not set)" if old is None else value_text(old)
        return rel, old_text, new_text, normalized, f"{rel}: {path}: {shown} -> {value}"

    _edit(go)


@click.command()
@REPO
@click.option("--format", "fmt", type=click.Choice(["text", "json", "github"]), default="text", show_default=True)
def lint(repo: str, fmt: str) -> None:
    """yamllint over the YAML of REPO (bundled configuration, or the repo's .yamllint)."""
    from .lint import lint_repo

    problems = lint_repo(repo)
    errors = [p for p in problems if p.level == "error"]
    warnings = [p for p in problems if p.level != "error"]
    if fmt == "text":
        click.echo(report([], warnings=warnings), nl=False)
        print_problems(errors, fmt)
    else:
        print_problems(problems, fmt)
    if errors:
        click.echo(f"kdrender: {len(errors)} problem{'s' if len(errors) != 1 else ''} found", err=True)
        sys.exit(1)
    if fmt == "text":
        click.echo(f"lint: no problems{f' ({len(warnings)} warnings)' if warnings else ''}", err=True)


COMMANDS = [diff, scale, set_, lint]
