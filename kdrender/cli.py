"""The command line: thin wrappers around the pipeline stages.

Exit codes: 0 success, 1 problems in the input (or a golden mismatch), 2 usage errors, 3 an internal
error (kdrender/entry.py).
Heavy modules are imported inside the commands so that ``kdrender generate`` stays light.
"""

from __future__ import annotations

import os
import sys

import click

from . import __version__
from .problems import UserError, format_problems, report


def _limit(model) -> int | None:
    return model.config.problems_limit if model is not None else None


def _fail(exc: UserError) -> None:
    click.echo(report(exc.problems, limit=_limit(exc.model)), err=True, nl=False)
    sys.exit(1)


def _notices(model) -> None:
    click.echo(report([], model.notices, model.warnings, _limit(model)), err=True, nl=False)


REPO = click.argument("repo", required=False, default=".", type=click.Path(file_okay=False, exists=True))


def _shard(ctx, param, value):
    from .shard import ShardError, parse

    try:
        return parse(value)
    except ShardError as exc:
        raise click.BadParameter(str(exc)) from None


SHARD = click.option("--shard", metavar="K/N", callback=_shard, default=None,
                     help="Only shard K of N (a deterministic split of the cluster files, for a CI matrix); "
                          "every shard still validates the whole repo.")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="kdrender")
def main() -> None:
    """Render KubeDirector apps and clusters into Kubernetes manifest bundles, without an operator.

    An internal error prints one line and exits 3; add --debug to any command for its trace.
    """


@main.command()
@REPO
@click.option("--format", "fmt", type=click.Choice(["text", "json", "github"]), default="text", show_default=True)
@click.option("--base", metavar="REF", is_flag=False, flag_value="", default=None,
              help="Also check KubeDirector's update rules from Git revision REF to the working tree "
                   "(no REF: the merge base with the default branch).")
@click.option("--since", metavar="REF", default=None,
              help="Only the cluster files that changed since Git revision REF (and the clusters they involve); "
                   "kdrender.record vouches for the rest. In pull-request CI, the target branch.")
@SHARD
def validate(repo: str, fmt: str, base: str | None, since: str | None, shard) -> None:
    """Check the catalog, clusters and kdrender.yaml of REPO; print every problem."""
    if base is not None and since is not None:
        raise click.UsageError("--base (KubeDirector's update rules) reads both whole revisions; "
                               "it cannot be combined with --since")
    model = loaded = None
    if since is not None:
        from .schema import Cache
        from .since import validate_since

        model, problems, note, loaded = validate_since(repo, since, cache=Cache.default(os.environ))
        if note:
            click.echo(f"kdrender: note: {note}", err=True)
    if model is None and base is None:  # the streaming check: memory does not grow with the repo
        from .index import check_repo

        model, problems = check_repo(repo)
        loaded = None
    elif model is None:  # the update rules compare two whole revisions
        from .load import load_repo
        from .review.commands import update_problems
        from .validate import validate_repo

        files = load_repo(repo)
        model, problems = validate_repo(files)
        problems = sorted(set(problems) | set(update_problems(repo, base or None, files, model, problems)))
    from .validate import deploy_problems

    problems = sorted(set(problems) | set(deploy_problems(repo)))
    if shard is not None:
        from .shard import problem_in_shard

        problems = [p for p in problems if problem_in_shard(shard, p.file)]
    _notices(model)
    errors = [p for p in problems if p.level == "error"]
    if fmt == "json":
        click.echo(format_problems(problems + list(model.warnings), "json", _limit(model)))
    elif problems:
        click.echo(format_problems(problems, fmt, _limit(model)))
    if errors:
        click.echo(f"kdrender: {len(errors)} problem{'s' if len(errors) != 1 else ''} found", err=True)
        sys.exit(1)
    if fmt == "text" and loaded is not None:
        click.echo(f"{len(model.apps)} apps, {len(loaded)} cluster files changed since {since} or involved with "
                   f"them: no problems (kdrender.record vouches for the others)", err=True)
    elif fmt == "text":
        click.echo(f"{len(model.apps)} apps, {len(model.clusters)} clusters: no problems", err=True)


@main.command()
@REPO
def apps(repo: str) -> None:
    """List the catalog like `kubectl get KubeDirectorApp`."""
    from .load import load_repo
    from .validate import validate_repo

    model, problems = validate_repo(load_repo(repo))
    rows = [("NAME", "APP NAME", "VERSION", "ROLES")]
    for name in sorted(model.apps):
        spec = model.apps[name].spec
        roles = ",".join(f"{r['id']}({r['cardinality']})" for r in spec["roles"])
        rows.append((name, spec["label"]["name"], spec["version"], roles))
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    for row in rows:
        click.echo("   ".join(cell.ljust(widths[i]) for i, cell in enumerate(row[:3])) + "   " + row[3])
    catalog_errors = [p for p in problems if p.level == "error" and p.file.startswith("catalog/")]
    if catalog_errors:
        click.echo(format_problems(catalog_errors), err=True)
        sys.exit(1)


@main.command()
def rules() -> None:
    """Describe every validation rule."""
    from .review.update_rules import RULES as UPDATE_RULES
    from .rules import RULES, targets

    for rule in RULES + UPDATE_RULES:
        doc = (rule.__doc__ or "").strip()
        target = ", ".join(targets(rule)) if rule not in UPDATE_RULES else f"{rule.TARGET}, validate --base"
        click.echo(f"{rule.ID} ({target})\n    " + doc.replace("\n", "\n    ") + "\n")


def _model(root: str, cluster_files=None):
    """Load and validate; on problems print them and exit 1."""
    from .pipeline import load_model
    from .schema import Cache

    try:  # documents that passed their schema before (same content, same schemas) are not checked again
        model = load_model(root, cluster_files, cache=Cache.default(os.environ))
    except UserError as exc:
        _fail(exc)
    _notices(model)
    return model


def _render(root: str, cluster_files=None) -> list:
    """Load, validate and render; on problems print them and exit 1."""
    from .pipeline import render_model

    model = _model(root, cluster_files)
    try:
        return render_model(model)
    except UserError as exc:
        _fail(exc)


def _repo_relative(root: str, paths) -> list[str]:
    rels = []
    for path in paths:
        rel = os.path.relpath(os.path.abspath(path), os.path.abspath(root)).replace(os.sep, "/")
        if rel.startswith("../") or rel == "..":
            raise click.BadParameter(f"{path!r} is not inside the repo {root!r}", param_hint="FILE")
        rels.append(rel)
    return rels


@main.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--repo", default=".", show_default=True, type=click.Path(file_okay=False, exists=True),
              help="The repo whose catalog/ and kdrender.yaml apply.")
@click.option("-o", "--output", type=click.Choice(["yaml", "json"]), default="yaml", show_default=True)
def render(files, repo: str, output: str) -> None:
    """Print the bundle of the cluster FILEs as one stream."""
    from .emit import json_stream, yaml_stream

    rendered = _render(repo, _repo_relative(repo, files))
    objects = [obj for _, _, objs in rendered for obj in objs]
    click.echo((json_stream if output == "json" else yaml_stream)(objects), nl=False)


@main.command()
@REPO
@SHARD
def build(repo: str, shard) -> None:
    """Render every cluster of REPO into golden/<namespace>/<cluster>/ (replaced atomically),
    and kdrender.record beside it, the record of what was rendered from what (for `check`)."""
    from .atomic import Interrupted
    from .compare import write_tree
    from .incremental import with_record
    from .stream import rendered

    if shard is not None:
        raise click.UsageError("build writes the whole golden/ tree and its record in one atomic swap, so it cannot "
                               "be sharded; run `kdrender build` without --shard (`check --shard` and "
                               "`validate --shard` split the work in CI)")
    model = _model(repo)
    pairs, record = with_record(repo, model, rendered(model, "files"))
    files = _counted(pairs)
    try:
        write_tree(repo, files, beside=record, on_wait=lambda: click.echo(
            f"kdrender build: waiting for another build of {repo} to finish", err=True))
    except UserError as exc:
        _fail(exc)
    except OSError as exc:
        click.echo(f"kdrender build: cannot write {os.path.join(repo, 'golden')}: {exc.strerror}; "
                   "golden/ was left as it was", err=True)
        sys.exit(1)
    except Interrupted as exc:
        click.echo(f"kdrender build: stopped by {exc}; golden/ was left as it was", err=True)
        sys.exit(128 + exc.signum)
    click.echo(f"wrote {files.count} files for {len(model.clusters)} clusters to {os.path.join(repo, 'golden')}",
               err=True)


class _counted:
    """An iterator that counts what passed through it."""

    def __init__(self, items):
        self.items, self.count = items, 0

    def __iter__(self):
        for item in self.items:
            self.count += 1
            yield item


@main.command()
@REPO
@click.option("--full", is_flag=True, help="Render and compare every bundle, whatever kdrender.record says.")
@click.option("--base", metavar="REF", default=None,
              help="Git revision whose golden/ is trusted: bundles whose golden files or record line differ from "
                   "it are rendered again [default: HEAD]. In pull-request CI, the target branch.")
@SHARD
def check(repo: str, full: bool, base: str | None, shard) -> None:
    """Compare what REPO renders with its committed golden/ tree.

    Only the bundles whose inputs or golden files changed since the last build are rendered
    (kdrender.record says which); --full renders all of them.
    """
    from .checkcmd import run_check
    from .compare import GOLDEN
    from .schema import Cache

    golden = os.path.join(repo, GOLDEN)
    if not os.path.lexists(golden):
        _model(repo)
        click.echo(f"kdrender: {golden} does not exist; run `kdrender build` and commit it", err=True)
        sys.exit(1)
    try:
        result = run_check(repo, full, base, shard, cache=Cache.default(os.environ), load=_model)
    except UserError as exc:
        _fail(exc)
    if result.notes:
        click.echo("\n".join(f"kdrender: note: {note}" for note in result.notes), err=True)
    messages, refused = result.messages, result.refused
    if refused:  # never read (or shown): golden/ may hold only regular files and folders
        click.echo("\n".join(f"kdrender: {line}" for line in refused), err=True)
        click.echo(f"kdrender: golden/ holds {len(refused)} entries that are not regular files or folders; "
                   "remove them and run `kdrender build`", err=True)
        sys.exit(1)
    if messages:
        click.echo("\n".join(messages))
        click.echo(f"kdrender: golden/ is out of date ({len(messages)} files); run `kdrender build`", err=True)
        sys.exit(1)
    click.echo(f"golden/ is up to date ({result.rendered} of {len(result.model.clusters)} loaded bundles rendered)"
               if not full and result.notes == [] else "golden/ is up to date", err=True)


@main.command()
def generate() -> None:
    """Argo CD plugin command: render the app path's clusters as a JSON stream on stdout.

    Only Kubernetes objects go to stdout; any problem goes to stderr with a non-zero exit and
    nothing on stdout.  The console script runs it without click (kdrender/generate.py).
    """
    from .generate import main as run

    sys.exit(run())


from .review import commands as _review  # noqa: E402  (the review commands: diff, scale, set, lint)

for _command in _review.COMMANDS:
    main.add_command(_command)
from .scaffold.commands import init, new  # noqa: E402  (kdrender init, kdrender new cluster)

main.add_command(init)
main.add_command(new)


if __name__ == "__main__":  # pragma: no cover
    main()
