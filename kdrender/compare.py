"""Stage 7, compare: the rendered bundle against ``golden/``, and the atomic write of ``golden/``."""

from __future__ import annotations

import difflib
import os
import stat

GOLDEN = "golden"
# StatefulSet spec fields the API server lets an update change; any other change is refused
# ("Forbidden: updates to statefulset spec for fields other than ...").
STATEFULSET_MUTABLE = {"replicas", "ordinals", "template", "updateStrategy", "persistentVolumeClaimRetentionPolicy",
                       "minReadySeconds"}


def read_tree(folder: str) -> dict:
    files = {}
    if not os.path.isdir(folder):
        return files
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames.sort()
        for name in filenames:
            path = os.path.join(dirpath, name)
            rel = os.path.relpath(path, folder).replace(os.sep, "/")
            with open(path, "rb") as fh:  # a stray binary file is "extra", not a crash
                files[rel] = fh.read().decode("utf-8", errors="replace")
    return files


def compare(expected: dict, actual: dict, label: str = GOLDEN) -> list[str]:
    """Messages for every missing, extra or changed file (changed ones with a unified diff)."""
    out = []
    for rel in sorted(set(expected) | set(actual)):
        if rel not in actual:
            out.append(f"missing: {label}/{rel} (rendered but not committed)")
        elif rel not in expected:
            out.append(f"extra: {label}/{rel} (committed but no longer rendered)")
        elif expected[rel] != actual[rel]:
            diff = difflib.unified_diff(actual[rel].splitlines(True), expected[rel].splitlines(True),
                                        f"{label}/{rel} (committed)", f"{label}/{rel} (rendered)")
            out.append(f"changed: {label}/{rel}\n" + "".join(diff).rstrip("\n"))
            fields = immutable_changes(actual[rel], expected[rel])
            if fields:
                out.append(f"breaking: {label}/{rel} changes {', '.join('spec.' + f for f in fields)}, which a "
                           "StatefulSet cannot update: the sync will fail with 'Forbidden: updates to statefulset "
                           "spec'. Delete the StatefulSet with --cascade=orphan before syncing (pods and PVCs stay), "
                           "or keep the old value.")
    return out


def compare_tree(clusters, folder: str, label: str = GOLDEN) -> list[str]:
    """:func:`compare` for a whole tree, one cluster at a time (bounded memory).

    ``clusters`` yields one list of ``(folder-relative path, text)`` per cluster, all in one
    folder; the committed files are read one cluster folder at a time, and files outside the
    rendered folders are reported as extra.  Messages come in path order, as from :func:`compare`.
    """
    blocks = []
    seen = set()
    for files in clusters:
        if not files:
            continue
        cluster_dir = files[0][0].rsplit("/", 1)[0]
        seen.add(cluster_dir)
        odd = _not_a_folder(folder, cluster_dir)
        if odd:  # never read through a symlink (it could point anywhere): everything is missing
            blocks.append((cluster_dir + "/", [f"extra: {label}/{odd} is not a folder (a symlink or a file); "
                                               "it was not read"] + compare(dict(files), {}, label)))
            continue
        committed = read_tree(os.path.join(folder, *cluster_dir.split("/")))
        actual = {f"{cluster_dir}/{rel}": text for rel, text in committed.items()}
        blocks.append((cluster_dir + "/", compare(dict(files), actual, label)))
    for dirpath, dirnames, filenames in os.walk(folder):
        rel_dir = os.path.relpath(dirpath, folder).replace(os.sep, "/")
        if rel_dir in seen:
            dirnames[:] = []  # compared above
            continue
        dirnames.sort()
        for name in filenames:
            rel = name if rel_dir == "." else f"{rel_dir}/{name}"
            blocks.append((rel, compare({}, {rel: ""}, label)))
    return [message for _, messages in sorted(blocks, key=lambda block: block[0]) for message in messages]


def _not_a_folder(folder: str, rel_dir: str) -> str | None:
    """The first part of ``rel_dir`` below ``folder`` that exists but is not a real folder."""
    path, parts = folder, []
    for part in rel_dir.split("/"):
        path = os.path.join(path, part)
        parts.append(part)
        try:
            if not stat.S_ISDIR(os.lstat(path).st_mode):
                return "/".join(parts)
        except FileNotFoundError:
            return None
    return None


def immutable_changes(old_text: str, new_text: str) -> list[str]:
    """StatefulSet spec fields that differ between two renders of one object and cannot be updated."""
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        old, new = yaml.load(old_text, Loader=loader), yaml.load(new_text, Loader=loader)
    except yaml.YAMLError:
        return []
    if not all(isinstance(o, dict) and o.get("kind") == "StatefulSet" for o in (old, new)):
        return []
    old_spec, new_spec = old.get("spec") or {}, new.get("spec") or {}
    return sorted(k for k in set(old_spec) | set(new_spec)
                  if k not in STATEFULSET_MUTABLE and old_spec.get(k) != new_spec.get(k))


def write_tree(root: str, files, folder: str = GOLDEN, on_wait=None) -> None:
    """Replace ``root/folder`` with exactly ``files`` (a mapping, or ``(path, content)`` pairs in order),
    atomically and under a lock: a failure leaves the old tree as it was (kdrender/atomic.py)."""
    from .atomic import replace_tree

    replace_tree(root, folder, sorted(files.items()) if isinstance(files, dict) else files, on_wait)
