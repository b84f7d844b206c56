"""Stage 7, compare: the rendered bundle against ``golden/``, and the atomic write of ``golden/``."""

from __future__ import annotations

import difflib
import os
import stat

GOLDEN = "golden"
# A Kubernetes object is at most about 1.5 MiB (etcd's request limit); its YAML, with escapes, a few
# times that.  A larger golden file was not written by kdrender and is reported, not read.
GOLDEN_FILE_BYTES = 16 << 20
# StatefulSet spec fields the API server lets an update change; any other change is refused
# ("Forbidden: updates to statefulset spec for fields other than ...").
STATEFULSET_MUTABLE = {"replicas", "ordinals", "template", "updateStrategy", "persistentVolumeClaimRetentionPolicy",
                       "minReadySeconds"}


def read_tree(root: str, folder: str = GOLDEN) -> tuple[dict, list[str]]:
    """The files of ``root/folder`` by folder-relative path, and a message for every entry that is
    not read: a symlink (even a dangling one), FIFO, socket or device, a folder link, an unreadable
    folder, an over-long file.  Such entries are never opened for reading, so a pull request cannot
    make ``check`` print what they point at (``/proc/self/environ``, ``.git/config``)."""
    from .safefs import Refused, read_regular, walk

    files: dict = {}
    rels, refused = walk(root, folder, hidden=True)
    messages = [f"{rel}: {reason}" for rel, reason in refused]
    for rel in rels:
        try:
            raw = read_regular(os.path.join(root, rel), GOLDEN_FILE_BYTES, setting="")
        except Refused as exc:
            messages.append(f"{rel}: {exc.reason}")
            continue
        files[rel[len(folder) + 1:]] = raw.decode("utf-8", errors="replace")  # a stray binary file is "extra"
    return files, sorted(messages)


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


def compare_tree(clusters, root: str, folder: str = GOLDEN, label: str = GOLDEN, walk_in=None,
                 keep=None, loaded=None) -> tuple[list[str], list[str]]:
    """:func:`compare` for a whole tree, one cluster at a time (bounded memory), and the entries
    that were not read (see :func:`read_tree`).

    ``clusters`` yields one list of ``(folder-relative path, text)`` per cluster; the committed
    files are read one cluster folder at a time, and files outside the rendered folders are reported
    as extra (listed, never opened).  Messages come in path order, as from :func:`compare`.
    ``walk_in`` (folder-relative folders) limits the search for extra files to them, and ``keep``
    (a function of a folder-relative path) chooses which extra files are reported: an incremental
    or sharded check (kdrender/checkcmd.py).  ``loaded`` (a container of repo-relative folders,
    ``golden/<namespace>/<name>``) holds at least every rendered folder: the walk skips them all
    (default: the rendered folders, noted as they go by).
    """
    from .safefs import walk

    blocks, refused = [], []
    noted = loaded is None
    skip = set() if noted else loaded  # the rendered bundles' folders (repo-relative): the walk skips them
    odd_root = _not_a_folder(root, folder)
    for files in clusters:
        if not files:
            continue
        cluster_dir = files[0][0].rsplit("/", 1)[0]
        if noted:
            skip.add(f"{folder}/{cluster_dir}")
        odd = odd_root or _not_a_folder(root, f"{folder}/{cluster_dir}")
        if odd:  # never read through a symlink (it could point anywhere): everything is missing
            blocks.append((cluster_dir + "/", compare(dict(files), {}, label)))
            refused.append(f"{odd}: is not a folder (a symlink or a file); it was not read")
            continue
        committed, bad = read_tree(root, f"{folder}/{cluster_dir}")
        refused += bad
        actual = {f"{cluster_dir}/{rel}": text for rel, text in committed.items()}
        found = compare(dict(files), actual, label)
        if found:  # an up-to-date bundle leaves nothing behind (memory does not grow with the repo)
            blocks.append((cluster_dir + "/", found))
    starts = [folder] if walk_in is None else [f"{folder}/{d}" for d in walk_in]
    for start in (start for start in starts if start not in skip):
        rels, bad = walk(root, start, hidden=True, skip=skip)
        refused += [f"{rel}: {reason}" for rel, reason in bad]
        for rel in rels:
            rel = rel[len(folder) + 1:]
            if keep is None or keep(rel):
                blocks.append((rel, compare({}, {rel: ""}, label)))
    messages = [message for _, found in sorted(blocks, key=lambda block: block[0]) for message in found]
    return messages, sorted(set(refused))


def _not_a_folder(root: str, rel_dir: str) -> str | None:
    """The first part of ``rel_dir`` (repo-relative) that exists but is not a real folder."""
    path, parts = root, []
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
    from .pyyaml import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        old, new = yaml.load(old_text, Loader=loader), yaml.load(new_text, Loader=loader)
    except yaml.YAMLError:
        return []
    if not all(isinstance(o, dict) and o.get("kind") == "StatefulSet" for o in (old, new)):
        return []
    return immutable_fields(old, new)


def immutable_fields(old: dict, new: dict) -> list[str]:
    """The spec fields of two versions of a StatefulSet that differ and that an update cannot change."""
    old_spec, new_spec = _server_defaults(old.get("spec") or {}), _server_defaults(new.get("spec") or {})
    return sorted(k for k in set(old_spec) | set(new_spec)
                  if k not in STATEFULSET_MUTABLE and old_spec.get(k) != new_spec.get(k))


def _server_defaults(spec: dict) -> dict:
    """``spec`` as the API server stores it, where kdrender once left a default out: every claim
    template has ``status: {phase: Pending}``, so adding it changes nothing."""
    templates = spec.get("volumeClaimTemplates")
    if not isinstance(templates, list):
        return spec
    templates = [{"status": {"phase": "Pending"}, **t} if isinstance(t, dict) else t for t in templates]
    return {**spec, "volumeClaimTemplates": templates}


def write_tree(root: str, files, folder: str = GOLDEN, on_wait=None, beside=None) -> None:
    """Replace ``root/folder`` with exactly ``files`` (a mapping, or ``(path, content)`` pairs in order),
    atomically and under a lock: a failure leaves the old tree as it was (kdrender/atomic.py).
    ``beside`` (file name -> function giving its text) are files next to the folder, written last."""
    from .atomic import replace_tree

    replace_tree(root, folder, sorted(files.items()) if isinstance(files, dict) else files, on_wait, beside)
