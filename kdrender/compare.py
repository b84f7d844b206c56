"""Stage 7, compare: the rendered bundle against ``golden/``, and the atomic write of ``golden/``."""

from __future__ import annotations

import difflib
import os
import shutil
import tempfile

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


def write_tree(root: str, files: dict, folder: str = GOLDEN) -> None:
    """Replace ``root/folder`` with exactly ``files``, atomically: a failure leaves the old tree as it was."""
    target = os.path.join(root, folder)
    staging = tempfile.mkdtemp(prefix=f".{folder}.new-", dir=root)
    try:
        for rel, content in sorted(files.items()):
            path = os.path.join(staging, rel)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "w", encoding="utf-8", newline="") as fh:
                fh.write(content)
        old = None
        if os.path.exists(target):
            old = tempfile.mkdtemp(prefix=f".{folder}.old-", dir=root)
            os.rmdir(old)
            os.rename(target, old)
        try:
            os.rename(staging, target)
        except OSError:
            if old:  # put the old tree back: a failed build must not lose golden/
                os.rename(old, target)
            raise
        staging = None
        if old:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        if staging and os.path.exists(staging):
            shutil.rmtree(staging, ignore_errors=True)
