"""Stage 1, load: read a cluster repo into documents that remember where each field was written.

A repo has ``catalog/`` (KubeDirectorApps), ``clusters/`` (KubeDirectorClusters, searched
recursively, several documents per file allowed) and an optional ``kdrender.yaml``.
``.json`` files are parsed as JSON (real catalog files contain tabs that YAML rejects),
``.yaml``/``.yml`` as YAML.  Duplicate mapping keys are problems, not silently dropped.
Paths are repo-relative and may not leave the repo.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from typing import Any

import yaml

from .problems import Problem, format_path

try:  # libyaml is much faster; fall back to the pure-Python parser if it is missing
    _Loader = yaml.CSafeLoader
except AttributeError:  # pragma: no cover - depends on how PyYAML was built
    _Loader = yaml.SafeLoader

SUFFIXES = (".yaml", ".yml", ".json")
CONFIG_FILE = "kdrender.yaml"


class Document:
    """One parsed document with the positions of its fields.

    ``positions`` maps a field path (tuple of keys and indexes) to its 1-based
    ``(line, column)``; the root is the empty tuple.  For JSON files they are worked out only
    when first asked for (a problem to report), from ``source``.
    """

    __slots__ = ("file", "index", "data", "_positions", "digest", "source")

    def __init__(self, file: str, index: int, data: Any, positions: dict | None = None, digest: str = "",
                 source: str | None = None):
        self.file = file
        self.index = index
        self.data = data
        self._positions = positions if positions is not None or source is not None else {}
        self.digest = digest  # sha256 of the file the document came from (for the schema cache)
        self.source = source

    def __repr__(self) -> str:
        return f"Document({self.file!r}, {self.index}, kind={self.kind!r})"

    @property
    def positions(self) -> dict:
        if self._positions is None:
            # JSON is (nearly) YAML flow syntax; tabs are white space in JSON but not in YAML,
            # and replacing them keeps every column where it was.
            docs, problems = parse_yaml(self.source.replace("\t", " "), self.file)
            self._positions = docs[0].positions if docs and docs[0].index == 0 else {(): (1, 1)}
        return self._positions

    @property
    def kind(self) -> str | None:
        return self.data.get("kind") if isinstance(self.data, dict) else None

    @property
    def api_version(self) -> str | None:
        return self.data.get("apiVersion") if isinstance(self.data, dict) else None

    @property
    def name(self) -> str:
        meta = self.data.get("metadata") if isinstance(self.data, dict) else None
        name = meta.get("name") if isinstance(meta, dict) else None
        return name if isinstance(name, str) else ""

    def where(self, path) -> tuple[int, int]:
        """Position of ``path``, or of its nearest written ancestor."""
        path = tuple(path)
        while path:
            if path in self.positions:
                return self.positions[path]
            path = path[:-1]
        return self.positions.get((), (1, 1))

    def problem(self, path, message: str, rule: str = "", level: str = "error") -> Problem:
        line, col = self.where(path)
        return Problem(self.file, line, col, format_path(path), message, rule, level)


class _Walker:
    """Builds plain data from a composed YAML node tree, recording positions and duplicate keys."""

    MAX_NODES = 1_000_000  # aliases are expanded: a few lines of anchors could otherwise explode

    def __init__(self, loader, file: str):
        self.loader = loader
        self.file = file
        self.positions: dict = {}
        self.problems: list[Problem] = []
        self.open: set = set()  # ids of the collection nodes being walked (to spot recursive aliases)
        self.merged: dict = {}  # id of a mapping node -> how many of its pairs were merged in with "<<"
        self.count = 0

    def walk(self, node, path: tuple):
        self.count += 1
        if self.count > self.MAX_NODES:
            raise yaml.MarkedYAMLError(problem=f"more than {self.MAX_NODES} values after expanding aliases",
                                       problem_mark=node.start_mark)
        if not isinstance(node, yaml.CollectionNode):
            return self.loader.construct_object(node, deep=True)
        if id(node) in self.open:
            raise yaml.MarkedYAMLError(problem="an alias refers to a node that contains it",
                                       problem_mark=node.start_mark)
        self.open.add(id(node))
        try:
            return self._collection(node, path)
        finally:
            self.open.discard(id(node))

    def _collection(self, node, path: tuple):
        if isinstance(node, yaml.MappingNode):
            if id(node) not in self.merged:  # keys merged in with "<<" come first; written keys override them
                own = sum(1 for key_node, _ in node.value if key_node.tag != "tag:yaml.org,2002:merge")
                self.loader.flatten_mapping(node)
                self.merged[id(node)] = len(node.value) - own
            out: dict = {}
            own_keys: set = set()
            for index, (key_node, value_node) in enumerate(node.value):
                key = self.loader.construct_object(key_node, deep=True)
                kpath = path + (key,)
                line, col = key_node.start_mark.line + 1, key_node.start_mark.column + 1
                if not isinstance(key, str):
                    self.problems.append(Problem(self.file, line, col, format_path(path),
                                                 f"mapping key {key!r} must be a string (quote it)", "load"))
                    key = str(key)
                    kpath = path + (key,)
                if index >= self.merged[id(node)]:
                    if key in own_keys:
                        first = self.positions[kpath]
                        self.problems.append(Problem(
                            self.file, line, col, format_path(kpath),
                            f"duplicate key {key!r} (first defined at line {first[0]}); YAML would silently keep only the last one",
                            "duplicate-key"))
                    own_keys.add(key)
                self.positions[kpath] = (line, col)
                out[key] = self.walk(value_node, kpath)
            return out
        if isinstance(node, yaml.SequenceNode):
            items = []
            for i, item in enumerate(node.value):
                ipath = path + (i,)
                self.positions[ipath] = (item.start_mark.line + 1, item.start_mark.column + 1)
                items.append(self.walk(item, ipath))
            return items


def _mark_problem(file: str, exc: Exception, what: str) -> Problem:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    line, col = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
    reason = getattr(exc, "problem", None) or str(exc)
    context = getattr(exc, "context", None)
    msg = f"{what}: {reason}" + (f" ({context})" if context else "")
    return Problem(file, line, col, "", msg, "syntax")


def parse_yaml(text: str, file: str) -> tuple[list[Document], list[Problem]]:
    """Parse a YAML stream; empty documents are skipped."""
    docs: list[Document] = []
    problems: list[Problem] = []
    loader = _Loader(text)
    try:
        index = 0
        while loader.check_node():
            node = loader.get_node()
            walker = _Walker(loader, file)
            walker.positions[()] = (node.start_mark.line + 1, node.start_mark.column + 1)
            data = walker.walk(node, ())
            problems.extend(walker.problems)
            if data is not None:
                docs.append(Document(file, index, data, walker.positions))
            index += 1
    except yaml.YAMLError as exc:
        return [], [_mark_problem(file, exc, "invalid YAML")]
    finally:
        loader.dispose()
    return docs, problems


def parse_json(text: str, file: str) -> tuple[list[Document], list[Problem]]:
    """Parse a JSON document.  Duplicate keys are found while decoding; positions come lazily
    from a YAML walk of the same text (at once when there is a duplicate key to point at)."""
    duplicates = []

    def pairs(items):
        out = {}
        for key, value in items:
            if key in out:
                duplicates.append(key)
            out[key] = value
        return out

    try:
        data = json.loads(text, object_pairs_hook=pairs)
    except json.JSONDecodeError as exc:
        return [], [Problem(file, exc.lineno, exc.colno, "", f"invalid JSON: {exc.msg}", "syntax")]
    doc = Document(file, 0, data, source=text)
    if not duplicates:
        return [doc], []
    walked, problems = parse_yaml(text.replace("\t", " "), file)
    problems = [p for p in problems if p.rule == "duplicate-key"]
    if walked:
        doc = Document(file, 0, data, walked[0].positions)
    if not problems:  # YAML did not see it the same way: report without a precise position
        problems = [Problem(file, 1, 1, "", f"duplicate key {k!r}; JSON readers keep only the last one", "duplicate-key")
                    for k in sorted(set(duplicates))]
    return [doc], problems


def parse_text(text: str, file: str) -> tuple[list[Document], list[Problem]]:
    if file.endswith(".json"):
        return parse_json(text, file)
    return parse_yaml(text, file)


def read_file(root: str, rel: str) -> tuple[list[Document], list[Problem]]:
    """Read and parse one repo-relative file, refusing paths that leave the repo."""
    problem = check_inside(root, rel)
    if problem:
        return [], [problem]
    try:
        with open(os.path.join(root, rel), "rb") as fh:
            raw = fh.read()
    except OSError as exc:
        return [], [Problem(rel, 1, 1, "", f"cannot read file: {exc.strerror}", "load")]
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        return [], [Problem(rel, 1, 1, "", f"file is not UTF-8 ({exc.reason} at byte {exc.start})", "load")]
    docs, problems = parse_text(text, rel)
    digest = hashlib.sha256(raw).hexdigest()
    for doc in docs:
        doc.digest = digest
    return docs, problems


def check_inside(root: str, rel: str) -> Problem | None:
    parts = rel.replace("\\", "/").split("/")
    if os.path.isabs(rel) or ".." in parts:
        return Problem(rel, 1, 1, "", "path leaves the repo ('..' or absolute paths are not allowed)", "load")
    real_root = os.path.realpath(root)
    real = os.path.realpath(os.path.join(root, rel))
    if real != real_root and not real.startswith(real_root + os.sep):
        return Problem(rel, 1, 1, "", "path resolves outside the repo (a symlink pointing out of it)", "load")
    return None


def find_files(root: str, folder: str, skip: tuple = ()) -> list[str]:
    """Repo-relative paths of the YAML/JSON files below ``folder``, sorted; symlinked folders are not
    followed, nor the repo-relative folders in ``skip``."""
    base = os.path.join(root, folder)
    found: list[str] = []
    if not os.path.isdir(base):
        return found
    for dirpath, dirnames, filenames in os.walk(base):
        rel_dir = os.path.relpath(dirpath, root).replace(os.sep, "/")
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".")
                             and (d if rel_dir == "." else f"{rel_dir}/{d}") not in skip)
        for name in filenames:
            if name.endswith(SUFFIXES) and not name.startswith("."):
                rel = os.path.relpath(os.path.join(dirpath, name), root).replace(os.sep, "/")
                found.append(rel)
    return sorted(found)


@dataclass
class RepoFiles:
    """Everything read from a repo, before validation."""

    root: str
    catalog: list[Document] = field(default_factory=list)
    clusters: list[Document] = field(default_factory=list)
    configs: list[Document] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)


def load_repo(root: str, cluster_files: list[str] | None = None) -> RepoFiles:
    """Read a repo.  ``cluster_files`` (repo-relative) restricts which cluster files are read."""
    repo = RepoFiles(root)
    if os.path.isfile(os.path.join(root, CONFIG_FILE)):
        docs, problems = read_file(root, CONFIG_FILE)
        repo.configs.extend(docs)
        repo.problems.extend(problems)
    for rel in find_files(root, "catalog"):
        docs, problems = read_file(root, rel)
        repo.problems.extend(problems)
        for doc in docs:
            (repo.configs if doc.kind == "KubeDirectorConfig" else repo.catalog).append(doc)
    rels = find_files(root, "clusters") if cluster_files is None else sorted(set(cluster_files))
    for rel in rels:
        docs, problems = read_file(root, rel)
        repo.problems.extend(problems)
        for doc in docs:
            if doc.kind == "KubeDirectorApp":
                repo.catalog.append(doc)
            elif doc.kind == "KubeDirectorConfig":
                repo.configs.append(doc)
            else:
                repo.clusters.append(doc)
    return repo
