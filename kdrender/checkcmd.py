"""``kdrender check``: the rendered bundles against ``golden/``, incremental by default.

With a usable record (kdrender/incremental.py) only the bundles it cannot vouch for are loaded,
validated, rendered and compared; ``--full`` (or a missing or broken record, or no Git) does
all of them.  ``--shard K/N`` (kdrender/shard.py) renders and compares the bundles of one shard.
Either way the record lines of what was rendered must be what ``build`` writes.
"""

from __future__ import annotations

from .compare import compare_tree
from .incremental import GOLDEN, Recorder, full_plan, load_subset, plan, record_messages
from .problems import UserError
from .shard import in_shard


def identities(model) -> list:
    """``(namespace, name, file)`` of the model's clusters (a streaming model reads none of them)."""
    known = getattr(model.clusters, "identities", None)
    return known() if known else [(c.namespace, c.name, c.file) for c in model.clusters]


class Result:
    def __init__(self, messages: list, refused: list, notes: list, model, rendered: int):
        self.messages, self.refused, self.notes, self.model, self.rendered = messages, refused, notes, model, rendered


def run_check(root: str, full: bool = False, base: str | None = None, shard=None, cache=None,
              load=None) -> Result:
    """Compare; raises UserError for problems in the input.  ``load(root)`` loads the whole repo
    (the CLI's, which prints notices)."""
    from .stream import rendered

    the_plan = full_plan(root) if full else plan(root, base)
    notes = [the_plan.note] if the_plan.note else []
    model = None
    if not the_plan.full:
        model, problems = load_subset(root, the_plan, cache)
        if model is None:
            notes.append("a changed file now holds KubeDirectorConfig settings or an app: every bundle was checked")
            the_plan.full = True
        else:
            errors = [p for p in problems if p.level == "error"]
            if errors:
                raise UserError(errors, model)
    if the_plan.full:
        model = load(root)
    keys = {f"{namespace}/{name}": file for namespace, name, file in identities(model)}
    if shard is not None:
        model.selected = {file for file in keys.values() if in_shard(shard, file)}
    folders = set(keys)

    def keep(rel: str) -> bool:  # an extra file: not of a loaded cluster (another shard), in this shard
        folder = "/".join(rel.split("/")[:2])
        return folder not in folders and in_shard(shard, f"{GOLDEN}/{folder}")

    recorder = Recorder()
    messages, refused = compare_tree(recorder.tap(rendered(model, "files")), root,
                                     walk_in=None if the_plan.full else the_plan.candidates, keep=keep)
    record_keys = None
    if shard is not None:
        record_keys = {k for k, f in keys.items() if in_shard(shard, f)}
        if the_plan.record is not None:
            record_keys |= {k for k, line in the_plan.record.lines.items()
                            if k not in keys and in_shard(shard, line.file)}
    messages += record_messages(the_plan, recorder, record_keys)
    return Result(messages, refused, notes, model, len(recorder.outputs))
