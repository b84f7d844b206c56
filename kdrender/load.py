"""Stage 1, load: read a cluster repo into documents that remember where each field was written.

A repo has ``catalog/`` (KubeDirectorApps), ``clusters/`` (KubeDirectorClusters, searched
recursively, several documents per file allowed) and an optional ``kdrender.yaml``.
``.json`` files are parsed as JSON (real catalog files contain tabs that YAML rejects),
``.yaml``/``.yml`` as YAML.  Duplicate mapping keys are problems, not silently dropped.
Paths are repo-relative and may not leave the repo.
"""

from __future__ import annotations

import json
import os
import sys

from .budget import LIMITS, OVER, RULE as BUDGET_RULE, Budget, BudgetExceeded
from .digest import sha256
from .lazyre import lazy
from .problems import Problem, format_path
from .pyyaml import yaml
from .record import field, record
from .safefs import Refused, read_regular, walk

try:  # libyaml is much faster; fall back to the pure-Python parser if it is missing
    _Loader = yaml.CSafeLoader
except AttributeError:  # pragma: no cover - depends on how PyYAML was built
    _Loader = yaml.SafeLoader

SUFFIXES = (".yaml", ".yml", ".json")
_SURROGATE_ESCAPE = lazy(r"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")
CONFIG_FILE = "kdrender.yaml"
NAME_PATH = ("metadata", "name")


class Document:
    """One parsed document with the positions of its fields.

    ``positions`` maps a field path (tuple of keys and indexes) to its 1-based
    ``(line, column)``; the root is the empty tuple.  They are worked out only when first asked
    for (a problem to report), from ``source``, the text of the whole file (a map for every field
    of every document of a large repo costs more memory than all else loading keeps).  The
    position of ``metadata.name`` is known from the start (``name_at``): the model keeps it.
    """

    __slots__ = ("file", "index", "data", "_positions", "digest", "source", "name_at")

    def __init__(self, file: str, index: int, data: Any, positions: dict | None = None, digest: str = "",
                 source: str | None = None, name_at: tuple | None = None):
        self.file = file
        self.index = index
        self.data = data
        self._positions = positions if positions is not None or source is not None else {}
        self.digest = digest  # sha256 of the file the document came from (for the schema cache)
        self.source = source
        self.name_at = name_at

    def __repr__(self) -> str:
        return f"Document({self.file!r}, {self.index}, kind={self.kind!r})"

    @property
    def positions(self) -> dict:
        if self._positions is None:
            text = self.source
            if self.file.endswith(".json"):
                # JSON is (nearly) YAML flow syntax; tabs are white space in JSON but not in YAML,
                # and surrogate escapes are errors in YAML; replacing them keeps every column where it was.
                text = _SURROGATE_ESCAPE.sub(r"\\u003f", text.replace("\t", " "))
            # the file passed its budget when it was read: walking it again counts against nothing
            budget = Budget(nodes=sys.maxsize, depth=LIMITS["depth"][1])
            docs, problems = parse_yaml(text, self.file, budget, positions=True)
            found = [doc for doc in docs if doc.index == self.index]
            self._positions = found[0].positions if found else {(): (1, 1)}
        return self._positions

    def with_data(self, data: Any) -> "Document":
        """The same document (file, positions) holding other data (normalized, nulls dropped)."""
        return Document(self.file, self.index, data, self._positions, self.digest, self.source, self.name_at)

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
        if path == NAME_PATH and self.name_at is not None:
            return self.name_at
        while path:
            if path in self.positions:
                return self.positions[path]
            path = path[:-1]
        return self.positions.get((), (1, 1))

    def problem(self, path, message: str, rule: str = "", level: str = "error") -> Problem:
        line, col = self.where(path)
        return Problem(self.file, line, col, format_path(path), message, rule, level)


class _Walker:
    """Builds plain data from a composed YAML node tree, finding duplicate keys and recording
    positions (all of them with ``record``, else only the root's and metadata.name's).

    Every value counts against the run's :class:`Budget` (aliases are expanded: a few lines of
    anchors could otherwise explode), nesting is capped below Python's recursion limit, and
    scalars whose meaning depends on the YAML version are refused (see :func:`scalar_problem`).
    """

    def __init__(self, loader, file: str, budget: Budget | None = None, record: bool = True):
        self.loader = loader
        self.file = file
        self.budget = budget or Budget()
        self.record = record
        self.positions: dict = {}
        self.problems: list[Problem] = []
        self.open: set = set()  # ids of the collection nodes being walked (to spot recursive aliases)
        self.merged: dict = {}  # id of a mapping node -> how many of its pairs were merged in with "<<"

    def walk(self, node, path: tuple):
        try:
            self.budget.take_nodes()
        except BudgetExceeded as exc:
            raise _OverBudget(problem=str(exc), problem_mark=node.start_mark) from None
        if not isinstance(node, yaml.CollectionNode):
            return self._scalar(node, path)
        reason = self.budget.too_deep(len(path) + 1)
        if reason:
            raise _OverBudget(problem=reason, problem_mark=node.start_mark)
        if id(node) in self.open:
            raise yaml.MarkedYAMLError(problem="an alias refers to a node that contains it",
                                       problem_mark=node.start_mark)
        self.open.add(id(node))
        try:
            return self._collection(node, path)
        finally:
            self.open.discard(id(node))

    def _scalar(self, node, path: tuple):
        message = scalar_problem(node.tag, node.value, node.style)
        if message:
            self.problems.append(Problem(self.file, node.start_mark.line + 1, node.start_mark.column + 1,
                                         format_path(path), message, "yaml-version"))
            return node.value  # the text as written: nothing below sees the surprising value
        if node.tag in (_STR, _INT) and not node.style and _OCTAL_12.match(node.value):
            # YAML 1.2 octal (0o755), which YAML 1.1 reads as a string (or as an int where another
            # library, such as yamllint, has added a resolver to PyYAML's shared Resolver)
            return int(node.value[2:], 8)
        if node.tag == _STR:  # what SafeConstructor.construct_yaml_str returns, without its machinery
            return _shared(node.value)
        return _shared(self.loader.construct_object(node, deep=True))

    def _collection(self, node, path: tuple):
        if isinstance(node, yaml.MappingNode):
            if id(node) not in self.merged:  # keys merged in with "<<" come first; written keys override them
                own = sum(1 for key_node, _ in node.value if key_node.tag != "tag:yaml.org,2002:merge")
                self.loader.flatten_mapping(node)
                self.merged[id(node)] = len(node.value) - own
            out: dict = {}
            own_keys: dict = {}  # key -> its line, for keys written in this mapping (not merged in)
            for index, (key_node, value_node) in enumerate(node.value):
                key = self._key(key_node, path)
                kpath = path + (key,)
                line, col = key_node.start_mark.line + 1, key_node.start_mark.column + 1
                if not isinstance(key, str):
                    self.problems.append(Problem(self.file, line, col, format_path(path),
                                                 f"mapping key {key!r} must be a string (quote it)", "load"))
                    key = str(key)
                    kpath = path + (key,)
                if index >= self.merged[id(node)]:
                    if key in own_keys:
                        self.problems.append(Problem(
                            self.file, line, col, format_path(kpath),
                            f"duplicate key {key!r} (first defined at line {own_keys[key]}); YAML would silently keep only the last one",
                            "duplicate-key"))
                    own_keys[key] = line  # a third one points at the second, as it always did
                if self.record or kpath == NAME_PATH:
                    self.positions[kpath] = (line, col)
                out[key] = self.walk(value_node, kpath)
            return out
        if isinstance(node, yaml.SequenceNode):
            items = []
            for i, item in enumerate(node.value):
                ipath = path + (i,)
                if self.record:
                    self.positions[ipath] = (item.start_mark.line + 1, item.start_mark.column + 1)
                items.append(self.walk(item, ipath))
            return items


    def _key(self, node, path: tuple):
        if isinstance(node, yaml.ScalarNode) and scalar_problem(node.tag, node.value, node.style):
            # `on:`, `010:`, a 5,000-digit number: not constructed, reported like any non-string key
            self.problems.append(Problem(self.file, node.start_mark.line + 1, node.start_mark.column + 1,
                                         format_path(path), f"mapping key {node.value!r} must be a string (quote it)",
                                         "load"))
            return node.value
        if isinstance(node, yaml.ScalarNode) and node.tag == _STR:
            return _shared(node.value)
        return _shared(self.loader.construct_object(node, deep=True))


class _OverBudget(yaml.MarkedYAMLError):
    """A file ran out of its budget while being walked: reported as that, not as invalid YAML."""


def _shared(value):
    """One string object for each distinct text: thousands of cluster files repeat the same keys
    and values, and the model keeps them until the last cluster is rendered."""
    return sys.intern(value) if type(value) is str else value


_TAG = "tag:yaml.org,2002:"
_STR, _INT, _FLOAT, _BOOL = _TAG + "str", _TAG + "int", _TAG + "float", _TAG + "bool"
_DECIMAL = lazy(r"^[-+]?(0|[1-9][0-9]*)$")
_OCTAL_12 = lazy(r"^0o[0-7]+$")
_FLOAT_12 = lazy(r"^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$|^[-+]?\.(inf|Inf|INF)$|^\.(nan|NaN|NAN)$")
_BOOL_12 = ("true", "True", "TRUE", "false", "False", "FALSE")
MAX_INT_DIGITS = 19  # Kubernetes integers are 64-bit: 9223372036854775807 has 19 digits
INT_RANGE = 1 << 63


def scalar_problem(tag: str, text: str, style) -> str | None:
    """Why a scalar is refused, or None.

    kdrender reads YAML 1.1 (PyYAML), Kubernetes' YAML reader mostly so too, editors and many
    tools YAML 1.2.  Numbers and booleans written in a form only YAML 1.1 knows (``1:30``,
    ``010``, ``0x2``, ``1_000``, ``yes``), dates and binary data change their meaning with the
    reader and are refused with the way to write the value.  Integers beyond 64 bits are refused
    before they are converted (a 5,000-digit number would otherwise stop the run)."""
    if style:  # quoted or block scalars are strings
        return None
    if tag == _INT:
        if _OCTAL_12.match(text):
            return None
        digits = text.lstrip("+-")
        if _DECIMAL.match(text):
            if len(digits.lstrip("0")) > MAX_INT_DIGITS or abs(int(text)) >= INT_RANGE:
                return f"{_short(text)} is out of range: Kubernetes integers are 64-bit"
            return None
        return _int_advice(text)
    if tag == _FLOAT:
        if _FLOAT_12.match(text):
            return None
        return (f"{_short(text)} is a number in YAML 1.1 ({'base 60' if ':' in text else 'digits with _'}) but a "
                "string in YAML 1.2; write the number in decimal, or quote it if you mean the text")
    if tag == _BOOL:
        if text in _BOOL_12:
            return None
        value = "true" if text.lower() in ("yes", "y", "on") else "false"
        return (f"{text} is the boolean {value} in YAML 1.1 but the string {text!r} in YAML 1.2; "
                f"write {value}, or quote it if you mean the text")
    if tag in (_STR, _TAG + "null"):
        return None
    what = tag[len(_TAG):] if tag.startswith(_TAG) else tag
    return f"{_short(text)} is read as a YAML {what}, which a Kubernetes manifest cannot hold; quote it"


def _int_advice(text: str) -> str:
    sign = -1 if text.startswith("-") else 1
    plain = text.lstrip("+-").replace("_", "")
    short = _short(text)
    try:
        if ":" in plain:
            value, how = 0, "base 60"
            for part in plain.split(":"):
                value = value * 60 + int(part)
        elif plain[:2] in ("0x", "0X"):
            value, how = int(plain[2:], 16), "hexadecimal"
        elif plain[:2] in ("0b", "0B"):
            value, how = int(plain[2:], 2), "binary"
        elif plain.startswith("0"):
            value, how = int(plain, 8), "octal"
        else:
            value, how = int(plain), "digits with _"
    except ValueError:
        return f"{short} is not a number every YAML reader understands; write it in decimal"
    if value.bit_length() >= 63:
        return f"{short} is out of range: Kubernetes integers are 64-bit"
    value *= sign
    if how == "octal":
        decimal = sign * int(plain)
        octal = ("-" if sign < 0 else "") + "0o" + (plain.lstrip("0") or "0")
        return (f"{short} is {value} in YAML 1.1 (octal) but {decimal} in YAML 1.2; "
                f"write {value} or {octal} (octal), or {decimal}")
    if how == "hexadecimal":  # YAML 1.1 and 1.2's core schema agree; its JSON schema and others do not
        return f"{short} is {value} (hexadecimal) for some YAML readers and a string for others; write {value}, " \
               "or quote it if you mean the text"
    return (f"{short} is {value} in YAML 1.1 ({how}) but the string {text!r} in YAML 1.2; write {value}, "
            "or quote it if you mean the text")


def _short(text: str) -> str:
    return text if len(text) <= 40 else text[:37] + "..."


def _mark_problem(file: str, exc: Exception, what: str) -> Problem:
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    line, col = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
    reason = getattr(exc, "problem", None) or str(exc)
    context = getattr(exc, "context", None)
    msg = f"{what}: {reason}" + (f" ({context})" if context else "")
    return Problem(file, line, col, "", msg, "syntax")


def parse_yaml(text: str, file: str, budget: Budget | None = None,
               positions: bool = False) -> tuple[list[Document], list[Problem]]:
    """Parse a YAML stream; empty documents are skipped.  The documents work out their field
    positions when first asked (from ``text``), or at once with ``positions``."""
    docs: list[Document] = []
    problems: list[Problem] = []
    budget = budget or Budget()
    loader = _Loader(text)
    try:
        index = 0
        while loader.check_node():
            node = loader.get_node()
            walker = _Walker(loader, file, budget, positions)
            walker.positions[()] = (node.start_mark.line + 1, node.start_mark.column + 1)
            data = walker.walk(node, ())
            problems.extend(walker.problems)
            if data is not None:
                docs.append(Document(file, index, data, walker.positions if positions else None,
                                     source=None if positions else text, name_at=walker.positions.get(NAME_PATH)))
            index += 1
    except _OverBudget as exc:
        mark = exc.problem_mark
        return [], [Problem(file, mark.line + 1, mark.column + 1, "", exc.problem, BUDGET_RULE)]
    except yaml.YAMLError as exc:
        return [], [_mark_problem(file, exc, "invalid YAML")]
    finally:
        loader.dispose()
    return docs, problems


def parse_json(text: str, file: str, budget: Budget | None = None) -> tuple[list[Document], list[Problem]]:
    """Parse a JSON document.  Duplicate keys are found while decoding (and pointed at by a YAML
    walk of the same text); positions come lazily from a YAML walk of the same text."""
    duplicates = []

    def pairs(items):
        out = {}
        for key, value in items:
            if key in out:
                duplicates.append(key)
            out[key] = value
        return out

    budget = budget or Budget()
    try:
        data = json.loads(text, object_pairs_hook=pairs)
    except json.JSONDecodeError as exc:
        return [], [Problem(file, exc.lineno, exc.colno, "", f"invalid JSON: {exc.msg}", "syntax")]
    except RecursionError:
        return [], [Problem(file, 1, 1, "", budget.too_deep(budget.depth + 1), BUDGET_RULE)]
    except ValueError:  # only a number of more than 4,300 digits gets here
        return [], [Problem(file, 1, 1, "", "invalid JSON: a number is out of range (Kubernetes integers are 64-bit)",
                            "syntax")]
    doc = Document(file, 0, data, source=text)
    try:
        found = _json_values(data, budget)
    except BudgetExceeded as exc:
        return [], [Problem(file, 1, 1, "", str(exc), BUDGET_RULE)]
    if found:
        return [], [doc.problem(path, message, BUDGET_RULE if message.startswith(OVER) else "syntax")
                    for path, message in found]
    if not duplicates:
        return [doc], []
    walked, problems = parse_yaml(text.replace("\t", " "), file)
    problems = [p for p in problems if p.rule == "duplicate-key"]
    if not problems:  # YAML did not see it the same way: report without a precise position
        problems = [Problem(file, 1, 1, "", f"duplicate key {k!r}; JSON readers keep only the last one", "duplicate-key")
                    for k in sorted(set(duplicates))]
    return [doc], problems


def _json_values(data, budget: Budget) -> list[tuple[tuple, str]]:
    """(path, message) for what JSON lets through but a run cannot take: nesting beyond the depth
    limit, integers beyond 64 bits, strings with lone UTF-16 surrogates (not Unicode, cannot be
    written out).  Counts every value against the budget; iterative, so depth cannot crash it."""
    found = []
    stack = [((), data)]
    while stack:
        path, value = stack.pop()
        budget.take_nodes()
        if isinstance(value, dict):
            if budget.too_deep(len(path) + 1):
                return [(path, budget.too_deep(len(path) + 1))]
            for key, item in value.items():
                if not key.isascii() and _surrogate(key):
                    found.append((path, f"key {_surrogate(key)}"))
                stack.append((path + (key,), item))
        elif isinstance(value, list):
            if budget.too_deep(len(path) + 1):
                return [(path, budget.too_deep(len(path) + 1))]
            stack.extend((path + (i,), item) for i, item in enumerate(value))
        elif isinstance(value, str):
            if not value.isascii() and _surrogate(value):
                found.append((path, _surrogate(value)))
        elif isinstance(value, int) and not isinstance(value, bool) and abs(value) >= INT_RANGE:
            found.append((path, "a number out of range: Kubernetes integers are 64-bit"))
    return sorted(found, key=lambda pm: format_path(pm[0]))


def _surrogate(text: str) -> str | None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        return f"a lone UTF-16 surrogate (\\u{ord(text[exc.start]):04x}) is not Unicode text"
    return None


def parse_text(text: str, file: str, budget: Budget | None = None) -> tuple[list[Document], list[Problem]]:
    if file.endswith(".json"):
        return parse_json(text, file, budget)
    return parse_yaml(text, file, budget)


def read_file(root: str, rel: str, budget: Budget | None = None) -> tuple[list[Document], list[Problem]]:
    """Read and parse one repo-relative file, refusing paths that leave the repo, files that are
    not regular files, and anything beyond the run's budget."""
    problem = check_inside(root, rel)
    if problem:
        return [], [problem]
    budget = budget or Budget()
    try:
        raw = read_regular(os.path.join(root, rel), budget.file_bytes)
    except Refused as exc:
        reason = exc.reason.replace("cannot be read:", "cannot read file:", 1)
        return [], [Problem(rel, 1, 1, "", reason if reason != exc.reason else f"file {reason}", "load")]
    reason = budget.take_bytes(len(raw))
    if reason:
        return [], [Problem(rel, 1, 1, "", reason, BUDGET_RULE)]
    budget.start_file()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        return [], [Problem(rel, 1, 1, "", f"file is not UTF-8 ({exc.reason} at byte {exc.start})", "load")]
    docs, problems = parse_text(text, rel, budget)
    digest = sha256(raw).hexdigest()
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
    for i in range(len(parts)):  # a link inside the repo is refused too: what it reads can change unseen in review
        if os.path.islink(os.path.join(root, *parts[:i + 1])):
            return Problem(rel, 1, 1, "", f"{'/'.join(parts[:i + 1])} is a symbolic link; kdrender reads no file "
                                          "through a link (commit the file itself)", "load")
    return None


def scan_files(root: str, folder: str, skip: tuple = ()) -> tuple[list[str], list[Problem]]:
    """Repo-relative paths of the YAML/JSON files below ``folder`` (sorted), and a problem for each
    folder that cannot be read or is a symlink (not followed: its clusters must not silently
    vanish from the output); ``skip`` lists repo-relative folders not to enter."""
    files, refused = walk(root, folder, skip=skip)
    found = [rel for rel in files if rel.endswith(SUFFIXES)]
    return found, [Problem(rel, 1, 1, "", f"folder {reason}", "load") for rel, reason in refused]


def find_files(root: str, folder: str, skip: tuple = ()) -> list[str]:
    """Repo-relative paths of the YAML/JSON files below ``folder``, sorted (see :func:`scan_files`)."""
    return scan_files(root, folder, skip)[0]


@record
class RepoFiles:
    """Everything read from a repo, before validation."""

    root: str
    catalog: list[Document] = field(default_factory=list)
    clusters: list[Document] = field(default_factory=list)
    configs: list[Document] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    extras: list[Document] = field(default_factory=list)  # other Kubernetes objects in cluster files
    budget: Budget = field(default_factory=Budget)
    read: list = field(default_factory=list)  # the cluster files read, in order

    def add(self, doc: Document) -> None:
        """File a document of ``clusters/`` by kind (apps, configs and other Kubernetes objects may live there too)."""
        if doc.kind == "KubeDirectorApp":
            self.catalog.append(doc)
        elif doc.kind == "KubeDirectorConfig":
            self.configs.append(doc)
        elif is_extra(doc):
            self.extras.append(doc)
        else:
            self.clusters.append(doc)


def is_extra(doc: Document) -> bool:
    """A Kubernetes object that is not KubeDirector's (a ConfigMap, SealedSecret, ...)."""
    kind, version = doc.kind, doc.api_version
    return (isinstance(kind, str) and bool(kind) and not kind.startswith("KubeDirector")
            and not (isinstance(version, str) and version.startswith("kubedirector.")))


def load_repo(root: str, cluster_files: list[str] | None = None) -> RepoFiles:
    """Read a repo.  ``cluster_files`` (repo-relative) restricts which cluster files are read.

    All files share one :class:`Budget`, set from ``kdrender.limits`` of kdrender.yaml (which is
    itself read under the default budget)."""
    repo = RepoFiles(root)
    budget = Budget()
    if os.path.lexists(os.path.join(root, CONFIG_FILE)):
        docs, problems = read_file(root, CONFIG_FILE, budget)
        repo.configs.extend(docs)
        repo.problems.extend(problems)
        options = docs[0].data.get("kdrender") if docs and isinstance(docs[0].data, dict) else None
        used = budget
        budget = Budget.from_options(options)
        budget.used_bytes, budget.used_nodes = used.used_bytes, used.used_nodes
    repo.budget = budget
    catalog, problems = scan_files(root, "catalog")
    repo.problems.extend(problems)
    for rel in catalog:
        docs, problems = read_file(root, rel, budget)
        repo.problems.extend(problems)
        for doc in docs:
            (repo.configs if doc.kind == "KubeDirectorConfig" else repo.catalog).append(doc)
    if cluster_files is None:
        rels, problems = scan_files(root, "clusters")
        repo.problems.extend(problems)
    else:
        rels = sorted(set(cluster_files))
    for rel in rels:
        docs, problems = read_file(root, rel, budget)
        repo.read.append(rel)
        repo.problems.extend(problems)
        for doc in docs:
            repo.add(doc)
    return repo
