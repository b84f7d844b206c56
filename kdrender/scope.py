"""Which files count when only some clusters are rendered (``generate``, ``render FILE...``).

An Argo CD Application renders one cluster file; a broken app or cluster elsewhere in the repo
must not stop it.  Only the selected cluster files, the clusters they connect to (configmeta
lists them), the apps all of these use and the repo config count: problems in any other file
become warnings.  ``validate``, ``build`` and ``check`` select nothing and count everything.
"""

from __future__ import annotations

from .load import RepoFiles, read_file, scan_files
from .record import replace

NOTE = " (not used by the selected clusters, so it does not stop them)"


def _spec(doc) -> dict:
    spec = doc.data.get("spec") if isinstance(doc.data, dict) else None
    return spec if isinstance(spec, dict) else {}


def connected_names(docs) -> set:
    """Names of the clusters that ``docs`` connect to (``spec.connections.clusters``)."""
    names = set()
    for doc in docs:
        connections = _spec(doc).get("connections")
        clusters = connections.get("clusters") if isinstance(connections, dict) else None
        names |= {n for n in clusters if isinstance(n, str)} if isinstance(clusters, list) else set()
    return names


def add_connected(repo: RepoFiles, selected: list) -> None:
    """Read the other files of ``clusters/`` too when a selected cluster connects to another one.

    Each Argo CD Application may select a single file, but configmeta lists the members of the
    connected clusters, so their files are needed (their objects are not rendered).
    """
    if not connected_names(repo.clusters):
        return
    rels, problems = scan_files(repo.root, "clusters")
    repo.problems.extend(problems)
    for rel in rels:
        if rel in selected:
            continue
        docs, problems = read_file(repo.root, rel, repo.budget)
        repo.read.append(rel)
        repo.problems.extend(problems)
        for doc in docs:
            repo.add(doc)


def relevant_files(repo: RepoFiles, selected: list) -> set:
    """Files whose problems stop rendering the ``selected`` cluster files."""
    chosen = set(selected)
    clusters = [doc for doc in repo.clusters if doc.file in chosen]
    wanted = connected_names(clusters)
    clusters += [doc for doc in repo.clusters if doc.file not in chosen and doc.name in wanted]
    apps = {_spec(doc).get("app") for doc in clusters}
    files = chosen | {doc.file for doc in clusters} | {doc.file for doc in repo.configs}
    files |= {doc.file for doc in repo.catalog if doc.name in apps}
    return files


def demote(problems: list, files: set) -> tuple[list, list]:
    """(problems in ``files``, the others as warnings)."""
    kept, others = [], []
    for p in problems:
        if p.file in files or p.level != "error":
            kept.append(p)
        else:
            others.append(replace(p, message=p.message + NOTE, level="warning"))
    return kept, others
