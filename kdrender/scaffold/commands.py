"""``kdrender init`` and ``kdrender new cluster``: click wiring around kdrender.scaffold (jinja2 is
imported only when one of them runs)."""

from __future__ import annotations

import os
import sys

import click

from . import CI, GITOPS, ScaffoldError


def _fail(message: str) -> None:
    click.echo(f"kdrender: {message}", err=True)
    sys.exit(1)


@click.command()
@click.argument("directory", required=False, default=".", type=click.Path(file_okay=False))
@click.option("--gitops", type=click.Choice(GITOPS), default="argocd", show_default=True,
              help="deploy/ for Argo CD (an ApplicationSet), Flux (GitRepository + Kustomizations) or both.")
@click.option("--repo-url", default=None,
              help="The Git URL of the new repo (default: the origin remote of the Git repo DIRECTORY is in; "
                   "without one, REPLACE-ME, which `kdrender validate` refuses until it is set).")
@click.option("--ci", type=click.Choice(CI), default="github", show_default=True,
              help="A workflow running validate and check on pull requests and build on the default branch.")
@click.option("--apps", default="", metavar="A,B", help="Apps of kdrender's catalog to copy (default: all).")
@click.option("--force", is_flag=True, help="Overwrite files that exist.")
def init(directory: str, gitops: str, repo_url: str, ci: str, apps: str, force: bool) -> None:
    """Write a working cluster repo into DIRECTORY (default: the current folder) and build its golden/."""
    from . import init_repo, repo_url_for

    names = [a.strip() for a in apps.split(",") if a.strip()]
    url, note = repo_url_for(directory, repo_url)
    try:
        written, (namespace, name) = init_repo(directory, gitops, url, ci, names, force)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    except ScaffoldError as exc:
        _fail(str(exc))
    except OSError as exc:
        _fail(f"cannot write into {directory}: {exc.strerror} ({exc.filename})")
    if note:
        click.echo(f"kdrender: {note}", err=True)
    click.echo(f"wrote {len(written)} files to {directory}; example cluster {namespace}/{name}\n"
               f"next: cd {directory} && kdrender validate && kdrender build && kdrender check", err=True)


@click.group()
def new() -> None:
    """Write commented scaffolds for the repo."""


@new.command("cluster")
@click.argument("name")
@click.option("--app", "app", required=True, help="An app of the repo's catalog (`kdrender apps`).")
@click.option("--namespace", help="metadata.namespace (default: kdrender.yaml's kdrender.namespace).")
@click.option("--role", "roles", multiple=True, metavar="ROLE=N", help="Members of a role (repeatable).")
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Write FILE instead of printing.")
@click.option("--repo", default=".", show_default=True, type=click.Path(file_okay=False, exists=True),
              help="The repo whose catalog/ and kdrender.yaml apply.")
@click.option("--force", is_flag=True, help="Overwrite FILE if it exists.")
def cluster(name: str, app: str, namespace: str | None, roles, output: str | None, repo: str, force: bool) -> None:
    """Print (or write) a commented KubeDirectorCluster NAME for APP that validates."""
    from . import new_cluster, parse_role_counts, write_files
    from pathlib import Path

    try:
        counts = parse_role_counts(roles)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--role") from None
    file = f"clusters/{name}.yaml"
    if output:
        rel = os.path.relpath(os.path.abspath(output), os.path.abspath(repo)).replace(os.sep, "/")
        file = file if rel.startswith("../") else rel
    try:
        text = new_cluster(repo, name, app, namespace, counts, file, replace=bool(output and force))
        if output:
            path = Path(output)
            write_files(path.parent, {path.name: text.encode()}, force)
    except ScaffoldError as exc:
        _fail(str(exc))
    except OSError as exc:
        _fail(f"cannot write {output}: {exc.strerror}")
    if output:
        click.echo(f"wrote {output}", err=True)
    else:
        click.echo(text, nl=False)
