"""``kdrender scale`` and ``kdrender set``: edit a cluster file in place, safely.

The file is read with ruamel.yaml's round-trip loader (comments, key order, quoting and flow
style kept; indentation detected from the file and used again), one field is changed, and the
result is validated together with the rest of the repo before anything is written.  An edit
that would make the file invalid is refused and the file stays as it was; a valid one replaces
the file atomically (a temporary file in the same folder, then a rename).  Only ``.yaml``/``.yml``
files below the repo's ``clusters/`` are edited, never through a symlink.

Paths are written as kdrender prints them in its messages: ``spec.roles[1].members``,
``spec.roles[worker].members`` (a role, or any list item, by its ``id``; ``[name=x]`` picks by
another field), ``metadata.labels["app.kubernetes.io/part-of"]``.
"""

from __future__ import annotations

import io
import json
import os
import re
import tempfile
from dataclasses import dataclass

from ..load import SUFFIXES, check_inside, load_repo, parse_text
from ..problems import Problem, format_path

_SEGMENT = re.compile(r'\.?([A-Za-z0-9_-]+)|\[("(?:[^"\\]|\\.)*"|\d+|[A-Za-z0-9_.-]+=[^\]]*|[^\]=]+)\]')
MAX_FILE = 4 << 20  # a cluster file bigger than this is not a cluster file


class EditError(Exception):
    """The edit cannot be made; ``problems`` (when any) say why the result would be invalid."""

    def __init__(self, message: str, problems: list | None = None):
        super().__init__(message)
        self.problems = problems or []


@dataclass(frozen=True)
class Select:
    """A list item picked by the value of one of its fields: ``[worker]`` or ``[name=token]``."""

    field: str
    value: str


def parse_path(text: str) -> tuple:
    """``spec.roles[worker].members`` -> ``("spec", "roles", Select("id", "worker"), "members")``."""
    parts: list = []
    pos = 0
    while pos < len(text):
        match = _SEGMENT.match(text, pos)
        if not match or (match.group(1) and pos == 0 and text.startswith(".")):
            raise EditError(f"cannot read the field path {text!r} at {text[pos:]!r} "
                            "(write it like spec.roles[worker].members or metadata.labels[\"a/b\"])")
        plain, bracket = match.groups()
        if plain is not None:
            parts.append(plain)
        elif bracket.startswith('"'):
            parts.append(json.loads(bracket))
        elif bracket.isdigit():
            parts.append(int(bracket))
        elif "=" in bracket:
            field, value = bracket.split("=", 1)
            parts.append(Select(field, value))
        else:
            parts.append(Select("id", bracket))
        pos = match.end()
    if not parts:
        raise EditError("the field path is empty")
    return tuple(parts)


def _show(parts) -> str:
    return format_path(p if not isinstance(p, Select) else f"{p.field}={p.value}" for p in parts)


def _yaml():
    from ruamel.yaml import YAML

    yaml = YAML()  # round-trip
    yaml.preserve_quotes = True
    yaml.width = 1 << 16  # never re-wrap a long line
    return yaml


def _indentation(text: str) -> tuple[int, int, int]:
    """(mapping indent, sequence indent, dash offset) as the file uses them (ruamel does not detect them).

    Looks at every ``key:`` line that opens a block and at the line below it; the most common
    step wins.  Defaults to kdrender's own style (2, 2, 0).
    """
    from collections import Counter

    maps: Counter = Counter()
    seqs: Counter = Counter()
    lines = [line for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    for line, below in zip(lines, lines[1:]):
        stripped = line.rstrip()
        if not re.match(r"^\s*(- )?[^\s#][^#]*:$", stripped) or stripped.lstrip().startswith("---"):
            continue
        key_col = len(line) - len(line.lstrip()) + (2 if line.lstrip().startswith("- ") else 0)
        col = len(below) - len(below.lstrip())
        if below.lstrip().startswith("- ") and col >= key_col:
            seqs[col - key_col] += 1
        elif col > key_col:
            maps[col - key_col] += 1
    mapping = maps.most_common(1)[0][0] if maps else 2
    offset = seqs.most_common(1)[0][0] if seqs else 0
    return mapping, offset + 2, offset


def _step(node, part, create: bool, where: str):
    from ruamel.yaml.comments import CommentedMap

    if isinstance(part, Select):
        if not isinstance(node, list):
            raise EditError(f"{where} is not a list")
        found = [i for i, item in enumerate(node) if isinstance(item, dict) and str(item.get(part.field)) == part.value]
        if len(found) != 1:
            have = [str(item.get(part.field)) for item in node if isinstance(item, dict) and part.field in item]
            raise EditError(f"{where} has {'no' if not found else 'more than one'} item with {part.field} "
                            f"{part.value!r}" + (f" (there are: {', '.join(have)})" if have else ""))
        return found[0]
    if isinstance(part, int):
        if not isinstance(node, list) or part >= len(node):
            raise EditError(f"{where} has no item [{part}]")
        return part
    if not isinstance(node, dict):
        raise EditError(f"{where} is not a mapping")
    if part not in node:
        if not create:
            raise EditError(f"{where} has no field {part!r}")
        node[part] = CommentedMap()
    return part


def set_value(doc, parts: tuple, value, after: str | None = None) -> object:
    """Set ``parts`` in a round-trip document; missing mappings on the way are created.

    When the old value is a string the new one stays a string, in the old quoting style.
    A new key goes at the end of its mapping, or right after ``after`` when that key exists.
    Returns the old value (None when the field was new).
    """
    from ruamel.yaml.scalarstring import ScalarString

    node = doc
    for i, part in enumerate(parts[:-1]):
        node = node[_step(node, part, True, _show(parts[:i]) or "the document")]
    last = parts[-1]
    where = _show(parts[:-1]) or "the document"
    if isinstance(last, Select):
        raise EditError("the field path must end with a field name or an index")
    exists = (isinstance(node, dict) and last in node) or (isinstance(node, list) and isinstance(last, int)
                                                          and last < len(node))
    old = node[last] if exists else None
    if isinstance(old, str) and not isinstance(value, str):
        value = value_text(value)
    if isinstance(old, ScalarString) and isinstance(value, str):
        value = type(old)(value)  # "quoted" stays "quoted", 'single' stays 'single', |- stays a block
    if exists:
        node[last] = value
    elif isinstance(node, dict):
        keys = list(node)
        if after in keys:
            node.insert(keys.index(after) + 1, last, value)
        else:
            node[last] = value
    else:
        _step(node, last, False, where)  # raises: no such item
    return old


def value_text(value) -> str:
    return value if isinstance(value, str) else json.dumps(value, default=str)


def parse_value(text: str):
    """VALUE as YAML 1.2 (``3`` a number, ``{a: b}`` a mapping, ``"3"`` a string)."""
    from ruamel.yaml import YAML

    try:
        YAML(typ="safe", pure=True).load(text)  # plain data only: tags such as !!python/object are refused
        value = _yaml().load(text)  # again, keeping flow style and quoting
    except Exception as exc:  # noqa: BLE001 - ruamel raises several unrelated types
        raise EditError(f"VALUE is not valid YAML: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") from None
    return "" if value is None and text.strip() not in ("null", "~") else value


def _target(root: str, file: str) -> tuple[str, str]:
    """Repo-relative path and real path of a cluster file; refuses anything else."""
    rel = os.path.relpath(os.path.abspath(file), os.path.abspath(root)).replace(os.sep, "/")
    if rel == ".." or rel.startswith("../") or os.path.isabs(rel):
        raise EditError(f"{file}: not inside the repo {root}")
    path = os.path.join(root, rel)
    if os.path.realpath(path) != os.path.join(os.path.realpath(root), *rel.split("/")):
        raise EditError(f"{rel}: is a symlink or lies below one; edit the file it points to")
    if check_inside(root, rel):
        raise EditError(f"{file}: not inside the repo {root}")
    if not rel.startswith("clusters/") or not rel.endswith(SUFFIXES[:2]):
        raise EditError(f"{rel}: only .yaml/.yml cluster files below clusters/ are edited")
    if not os.path.isfile(path):
        raise EditError(f"{rel}: not a file")
    return rel, path


def _pick(docs: list, cluster: str | None, rel: str) -> int:
    found = [i for i, d in enumerate(docs) if isinstance(d, dict) and d.get("kind") == "KubeDirectorCluster"
             and (cluster is None or (d.get("metadata") or {}).get("name") == cluster)]
    if len(found) == 1:
        return found[0]
    if not found:
        raise EditError(f"{rel}: no KubeDirectorCluster" + (f" named {cluster!r}" if cluster else ""))
    raise EditError(f"{rel}: holds several clusters; name one with --cluster")


def round_trip(text: str, change, cluster: str | None = None, rel: str = "the file") -> tuple[str, bool]:
    """``text`` with ``change(doc)`` applied to its cluster document, everything else as written,
    and whether the layout had to be normalized.

    ruamel.yaml keeps comments, order and quoting, but not every layout (a dash on a line of its
    own, a missing final newline, ...).  So the lines the change touches in ruamel's output are
    spliced into the original text; only when that is impossible, or the result would read
    differently, is ruamel's whole output used.
    """
    yaml = _yaml()
    mapping, sequence, offset = _indentation(text)
    yaml.indent(mapping=mapping, sequence=sequence, offset=offset)
    yaml.explicit_start = text.lstrip().startswith("---")
    try:
        docs = list(yaml.load_all(text))
    except Exception as exc:  # noqa: BLE001 - ruamel raises several unrelated types
        raise EditError(f"{rel}: cannot be read as YAML ({str(exc).splitlines()[0]}); run kdrender validate") from None
    index = _pick(docs, cluster, rel)

    def dump() -> str:
        out = io.StringIO()
        yaml.dump_all(docs, out)
        return out.getvalue()

    before = dump()
    change(docs[index])
    after = dump()
    if before == text or before == after:
        return (after if before == text else text), False
    spliced = _splice(text, before, after)
    if spliced is not None and _same_data(spliced, after):
        return spliced, False
    return after, True


def _splice(original: str, before: str, after: str) -> str | None:
    """Apply the line changes from ``before`` to ``after`` onto ``original`` (which ``before`` re-lays out)."""
    from difflib import SequenceMatcher

    orig, old, new = (t.splitlines(keepends=True) for t in (original, before, after))
    where = {}  # line of ``before`` -> the same line in ``original``
    for a, b, size in SequenceMatcher(None, orig, old, autojunk=False).get_matching_blocks():
        for k in range(size):
            where[b + k] = a + k
    out = list(orig)
    for tag, i1, i2, j1, j2 in reversed(SequenceMatcher(None, old, new, autojunk=False).get_opcodes()):
        if tag == "equal":
            continue
        if i1 < i2:
            if any(i not in where for i in range(i1, i2)) or where[i2 - 1] - where[i1] != i2 - i1 - 1:
                return None
            a1, a2 = where[i1], where[i2 - 1] + 1
        elif i1 - 1 in where:
            a1 = a2 = where[i1 - 1] + 1
        elif i1 in where:
            a1 = a2 = where[i1]
        else:
            return None
        out[a1:a2] = new[j1:j2]
    return "".join(out)


def _same_data(a: str, b: str) -> bool:
    from ruamel.yaml import YAML

    safe = YAML(typ="safe", pure=True)
    try:
        return list(safe.load_all(a)) == list(safe.load_all(b))
    except Exception:  # noqa: BLE001
        return False


def edit_cluster(root: str, file: str, change, cluster: str | None = None) -> tuple[str, str, str, bool]:
    """Apply ``change(doc)`` to the cluster in ``file``; validate; write atomically.

    Returns (repo-relative path, old text, new text, layout normalized).  Raises EditError
    (nothing written).
    """
    rel, path = _target(root, file)
    with open(path, "rb") as fh:
        raw = fh.read(MAX_FILE + 1)
    if len(raw) > MAX_FILE:
        raise EditError(f"{rel}: larger than {MAX_FILE >> 20} MiB")
    bom = raw.startswith(b"\xef\xbb\xbf")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise EditError(f"{rel}: not UTF-8") from None
    crlf = "\r\n" in text
    new, normalized = round_trip(text.replace("\r\n", "\n") if crlf else text, change, cluster, rel)
    if crlf:  # the file's line endings and byte-order mark stay as they were
        new = new.replace("\n", "\r\n")
    problems = _problems(root, rel, new)
    if problems:
        raise EditError(f"{rel}: the edit would make it invalid; nothing was written", problems)
    if new != text:
        _write(path, ("\ufeff" if bom else "") + new)
    return rel, text, new, normalized


def _problems(root: str, rel: str, text: str) -> list[Problem]:
    """Errors of the repo with ``rel`` replaced by ``text`` that concern ``rel``."""
    from ..validate import validate_repo

    repo = load_repo(root)
    docs, problems = parse_text(text, rel)
    repo.clusters = [d for d in repo.clusters if d.file != rel] + [d for d in docs if d.kind not in
                                                                    ("KubeDirectorApp", "KubeDirectorConfig")]
    repo.problems = [p for p in repo.problems if p.file != rel] + problems
    _, found = validate_repo(repo)
    return [p for p in found if p.level == "error" and p.file == rel]


def _write(path: str, text: str) -> None:
    folder = os.path.dirname(path)
    fd, tmp = tempfile.mkstemp(prefix=".kdrender-edit-", dir=folder)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, os.stat(path).st_mode & 0o7777)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def scale(root: str, file: str, role: str, members: int, cluster: str | None = None):
    """Set the member count of ROLE; returns (rel, old text, new text, old count)."""
    seen = {}

    def change(doc):
        spec = doc.get("spec") if isinstance(doc, dict) else None
        roles = spec.get("roles") if isinstance(spec, dict) else None
        if not isinstance(roles, list) or not any(isinstance(r, dict) and r.get("id") == role for r in roles):
            have = [str(r.get("id")) for r in roles or [] if isinstance(r, dict)]
            raise EditError(f"{file}: the cluster has no role {role!r}" + (f" (roles: {', '.join(have)})" if have else ""))
        seen["old"] = set_value(doc, ("spec", "roles", Select("id", role), "members"), members, after="id")

    return (*edit_cluster(root, file, change, cluster), seen.get("old"))


def set_field(root: str, file: str, path: str, value: str, cluster: str | None = None):
    """Set the field at PATH to VALUE (YAML); returns (rel, old text, new text, old value)."""
    parts = parse_path(path)
    new_value = parse_value(value)
    seen = {}

    def change(doc):
        seen["old"] = set_value(doc, parts, new_value)

    return (*edit_cluster(root, file, change, cluster), seen.get("old"))
