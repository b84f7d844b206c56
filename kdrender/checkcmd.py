"""``kdrender check``: the rendered bundles against ``golden/``, incremental by default.

With a usable record (kdrender/incremental.py) only the bundles it cannot vouch for are loaded,
validated, rendered and compared; ``--full`` (or a missing or broken record, or no Git) does
all of them.  ``--shard K/N`` (kdrender/shard.py) renders and compares the bundles of one shard.
Either way the record lines of what was rendered must be what ``build`` writes.
"""

from __future__ import annotations

from .compare import compare_tree
from .incremental import GOLDEN, Plan, Recorder, full_plan, load_subset, plan, record_messages
from .problems import UserError
from .shard import in_shard


class Folders:
    """The golden folders (``golden/<namespace>/<name>``) of the model's clusters, for the walk for
    extra files; a streaming model answers from its index, so nothing here grows with the repo."""

    def __init__(self, model):
        known = getattr(model.clusters, "file_of_key", None)
        if known is None:  # a model in memory (an incremental check's subset): small
            files = {(c.namespace, c.name): c.file for c in model.clusters}
            known = lambda namespace, name: files.get((namespace, name))  # noqa: E731
        self.file_of_key = known

    def __contains__(self, folder: str) -> bool:
        parts = folder.split("/")
        return len(parts) == 3 and parts[0] == GOLDEN and self.file_of_key(parts[1], parts[2]) is not None


class Result:
    def __init__(self, messages: list, refused: list, notes: list, model, rendered: int):
        self.messages, self.refused, self.notes, self.model, self.rendered = messages, refused, notes, model, rendered


def run_check(root: str, full: bool = False, base: str | None = None, shard=None, cache=None,
              load=None) -> Result:
    """Compare; raises UserError for problems in the input.  ``load(root)`` loads the whole repo
    (the CLI's, which prints notices)."""
    from .stream import rendered

    the_plan = Plan() if full else plan(root, base)
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
    folders = Folders(model)
    if shard is not None:
        model.selected = lambda file: in_shard(shard, file)

    def in_scope(key: str, line) -> bool:  # a bundle of this shard: by its cluster file (or its record line's)
        namespace, _, name = key.partition("/")
        file = folders.file_of_key(namespace, name) or (line.file if line is not None else None)
        return file is not None and in_shard(shard, file)

    def keep(rel: str) -> bool:  # an extra file of no loaded cluster's folder: the shard of its folder
        return in_shard(shard, f"{GOLDEN}/{'/'.join(rel.split('/')[:2])}")

    walk_in = None if the_plan.full else the_plan.candidates
    if the_plan.full:  # every bundle is rendered: the record is read once they went by, not held meanwhile
        the_plan = None  # (a plan that fell back to a full check has read it once already: a second
        # read of a fleet's record costs a fraction of a second, holding it while rendering ~240 bytes a bundle)
    with Recorder() as recorder:
        # the walk for extra files skips the folders of every loaded cluster: those of this shard
        # were compared, the others are another shard's; other folders go by the shard of their path
        messages, refused = compare_tree(recorder.tap(rendered(model, "files")), root, walk_in=walk_in,
                                         keep=None if shard is None else keep, loaded=folders)
        if the_plan is None:
            the_plan = full_plan(root)
            if full and the_plan.note:  # otherwise the plan said it already
                notes.insert(0, the_plan.note)
        messages += record_messages(the_plan, recorder, None if shard is None else in_scope)
        return Result(messages, refused, notes, model, len(recorder))
