"""``kdrender validate --since REF``: the problems of what changed since REF, the rest vouched for
by the record (kdrender/incremental.py).

``build`` writes a record line for a bundle only after the whole repo validated, so a line whose
inputs are unchanged vouches that its cluster file passed with this kdrender, this catalog and
this kdrender.yaml.  ``--since`` takes the bundles an incremental ``check`` against REF would render
again (:func:`incremental.plan`), loads their cluster files with the whole catalog and
kdrender.yaml, and runs every rule on them, the cross-cluster ones with the other clusters they
involve:

* duplicate names and connections: the recorded clusters of the same name or that they connect
  to are loaded with them (:func:`incremental.load_subset`); a cluster whose connected cluster
  changed or went away has a changed input digest, so it is loaded too;
* object names: the names of a loaded cluster's objects are compared with the golden file names
  of the unloaded clusters of its namespace (``<kind>-<name>.yaml``; their golden folders are
  unchanged since REF and match the record, so they are what those clusters render), plus the
  names the bundle reserves beyond what it writes (:func:`_reserved`, :func:`_sources`); a cluster that shares
  one is loaded too, and the exact rule runs over both.  Pods share a name only when their
  StatefulSets do.

Problems (and warnings) are those of the loaded files.  Whenever the record cannot be used (no
Git, a missing or broken record, another kdrender, a changed kdrender.yaml or shared file, a
changed file that now defines an app or settings), the whole repo is validated, with a note.
"""

from __future__ import annotations

from .incremental import GOLDEN, _NoGit, load_subset, plan

MAX_ROUNDS = 8  # clusters found to share names are added this many times before validating everything


def validate_since(root: str, ref: str, cache=None):
    """``(model, problems, note, loaded cluster files)``; ``model`` is None when the whole repo has to be
    validated (``note`` says why)."""
    the_plan = plan(root, ref)
    if the_plan.full:
        return None, [], the_plan.note, []
    for _ in range(MAX_ROUNDS):
        model, problems = load_subset(root, the_plan, cache)
        if model is None:
            return None, [], "a changed file now holds KubeDirectorConfig settings or an app: every file was validated", []
        try:
            more = _sharing(model, problems, the_plan) - set(the_plan.files)
        except _NoGit:
            return None, [], "git could not list golden/: every file was validated", []
        if not more:
            return model, problems, None, sorted({c.file for c in model.clusters} | {p.file for p in problems})
        the_plan.files = sorted(set(the_plan.files) | more)
    return None, [], "too many clusters share object names with the changed ones: every file was validated", []


def _holders(the_plan, wanted: dict) -> set:
    """Keys of the skipped bundles whose golden files, or the names they reserve, are among
    ``wanted`` (namespace -> golden file names)."""
    keys: set = set()
    for namespace, names in sorted(wanted.items()):
        sources = set().union(*map(_sources, names))
        for key, _ in the_plan.tree.golden_bundles(f"{GOLDEN}/{namespace}/", sources):  # files of those names
            if key in the_plan.skipped:
                keys.add(key)
    return keys


def _reserved(headless: str) -> set:
    """Golden file names of the objects named after a headless Service, written or not: itself, its
    readiness Service, its configmeta ConfigMaps (every listed shard) and its agent ConfigMap."""
    from .names import LISTED_SHARDS, configmap_names, ready_service_name, shard_name

    return ({f"configmap-{shard_name(headless, i)}.yaml" for i in range(LISTED_SHARDS)}
            | {f"configmap-{n}.yaml" for n in configmap_names(headless)}
            | {f"service-{headless}.yaml", f"service-{ready_service_name(headless)}.yaml"})


def _shown_by(headless: str) -> set:
    """The golden files that show a bundle's headless Service name: which Service is the headless
    one does not show in a file name, so every Service file counts, and so does the configmeta
    ConfigMap (more to compare, never less)."""
    from .names import configmap_names

    return {f"service-{headless}.yaml", f"configmap-{configmap_names(headless)[0]}.yaml"}


def _sources(name: str) -> set:
    """Golden file names whose presence in a bundle means ``name`` is taken: ``name`` itself, and
    the files that show a headless Service name whose objects (:func:`_reserved`) include it."""
    out = {name}
    for prefix in ("service-", "configmap-"):
        if name.startswith(prefix) and name.endswith(".yaml"):
            words = name[len(prefix):-len(".yaml")].split("-")
            for k in range(1, len(words) + 1):
                headless = "-".join(words[:k])
                if name in _reserved(headless):
                    out |= _shown_by(headless)
    return out


def _sharing(model, problems, the_plan) -> set:
    """Cluster files of skipped bundles whose objects share a name with a loaded cluster's."""
    from .emit import file_name
    from .record import replace
    from .resolve import object_names, resolved_clusters

    broken = {p.file for p in problems if p.level == "error"}
    clusters = [c for c in model.clusters if c.file not in broken]
    wanted: dict = {}
    for rc in resolved_clusters(replace(model, clusters=clusters)):
        names = wanted.setdefault(rc.cluster.namespace, set())
        names.update(f"{kind.lower()}-{name}.yaml" for kind, name, _ in object_names(rc) if kind != "Pod")
        names.update(file_name(doc.data) for doc in rc.cluster.extras)
    lines = the_plan.record.lines
    return {lines[k].file for k in _holders(the_plan, wanted) if k in lines} if wanted else set()
