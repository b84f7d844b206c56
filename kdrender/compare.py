"""Stage 7, compare: the rendered bundle against ``golden/``, and the atomic write of ``golden/``."""

from __future__ import annotations

import difflib
import os
import shutil
import tempfile

GOLDEN = "golden"


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
    return out


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
