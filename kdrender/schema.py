"""Structural checks: the JSON Schemas shipped in ``kdrender/schemas`` applied with ``jsonschema``.

Errors become problems with the field path, and unknown fields get a "did you mean" hint.
``jsonschema`` is imported only when a document is neither in the schema cache (:class:`Cache`) nor
sure to pass (kdrender/schemafast.py): in practice, only for a document with a problem.
"""

from __future__ import annotations

import copy
import os
from functools import lru_cache

from .credentials import redact
from .digest import sha256
from .load import Document
from .schemafiles import KINDS, SCHEMA_DIR, ecma_pattern, load

_TYPE_NAMES = {"object": "a mapping", "array": "a list", "string": "a string", "integer": "an integer",
               "number": "a number", "boolean": "true or false", "null": "null"}

_load = load  # the schema files, read once per run (kdrender/schemafiles.py)


def _is_integer(checker, instance) -> bool:
    """JSON Schema calls 2.0 an integer; Kubernetes (and ``range(members)``) do not."""
    return isinstance(instance, int) and not isinstance(instance, bool)


def _pattern(validator, pattern, instance, schema):
    from jsonschema.exceptions import ValidationError

    if validator.is_type(instance, "string") and not ecma_pattern(pattern).search(instance):
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


@lru_cache(maxsize=None)
def _validator(kind: str):
    from jsonschema import Draft202012Validator, validators
    from referencing import Registry, Resource

    resources = []
    for name in os.listdir(SCHEMA_DIR):
        if name.endswith(".json"):
            schema = _load(name)
            resources.append((schema["$id"], Resource.from_contents(schema)))
    registry = Registry().with_resources(resources)
    strict = validators.extend(Draft202012Validator, validators={"pattern": _pattern},
                               type_checker=Draft202012Validator.TYPE_CHECKER.redefine("integer", _is_integer))
    return strict(_load(KINDS[kind]), registry=registry)


def _resolve(ref: str) -> dict:
    """Follow a ``file.json#/pointer`` reference between our own schema files."""
    name, _, pointer = ref.partition("#")
    node = _load(name)
    for part in pointer.strip("/").split("/") if pointer.strip("/") else []:
        node = node[part]
    return node


def _allowed_properties(schema: dict) -> list[str]:
    names = set(schema.get("properties", {}))
    refs = [schema["$ref"]] if "$ref" in schema else []
    refs += [sub["$ref"] for sub in schema.get("allOf", []) if "$ref" in sub]
    for ref in refs:
        names |= set(_resolve(ref).get("properties", {}))
    return sorted(names)


def _type_text(types) -> str:
    types = [types] if isinstance(types, str) else list(types)
    return " or ".join(_TYPE_NAMES.get(t, t) for t in types if t != "null") or "null"


def _describe(value) -> str:
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, bool):
        return f"{str(value).lower()}"
    if value is None:
        return "null"
    if not isinstance(value, (str, int, float)):
        return f"{type(value).__name__} {value}"  # e.g. an unquoted YAML date
    text = repr(redact(value) if isinstance(value, str) else value)  # before the cut, which could hide the '@'
    return text if len(text) <= 60 else text[:57] + "..."


SECRET_FIELDS = ("secretKeys", "masterEncryptionKey")
# CRD facts carried by our schemas: where KubeDirector's CRDs say x-kubernetes-preserve-unknown-fields,
# and (our own marker) where an explicit null is a value rather than "absent"
PRESERVE_UNKNOWN = "x-kubernetes-preserve-unknown-fields"
KEEP_NULL = "x-kdrender-null-is-a-value"


def _is_secret(path: tuple) -> bool:
    return any(part in SECRET_FIELDS for part in path if isinstance(part, str))


def _messages(error, validator):
    """Yield (path, message, level) for one jsonschema error; values of secret fields are never quoted."""
    for p, message, level in _raw_messages(error, validator):
        if _is_secret(p) and not message.startswith(("unknown field", "missing required")):
            message = _secret_message(error)
        yield p, message, level


def _secret_message(error) -> str:
    kind = error.validator
    if kind == "type":
        return f"must be {_type_text(error.validator_value)} (the value is secret and not shown)"
    if kind == "pattern":
        return "does not have the expected form (the value is secret and not shown)"
    return f"is invalid ({kind}; the value is secret and not shown)"


def _raw_messages(error, validator):
    path = tuple(error.absolute_path)
    kind = error.validator
    if kind in ("anyOf", "oneOf") and error.context:
        # report the branch that got furthest, not "is not valid under any of the given schemas";
        # a branch that wants another type for this very value (e.g. null) did not get anywhere
        depth = len(error.absolute_path)
        branches = [e for e in error.context if not (e.validator == "type" and len(e.absolute_path) == depth)]
        if not branches:  # every branch wants another type: name them all
            types = [t for e in error.context for t in
                     ([e.validator_value] if isinstance(e.validator_value, str) else e.validator_value)]
            yield path, f"must be {_type_text(types)}, not {_describe(error.instance)}", "error"
            return
        deepest = max(branches, key=lambda e: (len(e.absolute_path), -len(e.schema_path)))
        yield from _raw_messages(deepest, validator)
        return
    if kind in ("additionalProperties", "unevaluatedProperties"):
        allowed = _allowed_properties(error.schema)
        # where KubeDirector's CRD keeps unknown fields, the API server accepts them: a warning
        preserved = error.schema.get(PRESERVE_UNKNOWN, False)
        for key in sorted(k for k in error.instance if k not in allowed):
            import difflib  # only when a key is unknown: not on every start

            hint = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
            more = f"; did you mean {hint[0]!r}?" if hint else (
                f"; known fields: {', '.join(allowed)}" if allowed and len(allowed) <= 12 else "")
            if preserved:
                yield path + (key,), f"unknown field {key!r} (kept, but not used){more}", "warning"
            else:
                yield path + (key,), f"unknown field {key!r}{more}", "error"
        return
    if kind == "required":
        missing = error.message.split("'")[1] if "'" in error.message else error.message
        yield path, f"missing required field {missing!r}", "error"
        return
    if kind == "type":
        yield path, f"must be {_type_text(error.validator_value)}, not {_describe(error.instance)}", "error"
        return
    if kind == "pattern":
        if error.schema.get("description", "").startswith("A Kubernetes quantity"):
            yield path, f"{_describe(error.instance)} is not a Kubernetes quantity (like 2, 500m, 4Gi)", "error"
        else:
            yield path, f"{_describe(error.instance)} does not match the pattern {error.validator_value}", "error"
        return
    if kind in ("enum", "const"):
        options = error.validator_value if kind == "enum" else [error.validator_value]
        yield path, f"{_describe(error.instance)} is not one of: {', '.join(map(str, options))}", "error"
        return
    yield path, error.message, "error"


class Cache:
    """Remembers documents that passed their schema, so ``generate`` can skip jsonschema entirely.

    A marker file per (schemas, checker code, file content, document, kind) in a private folder:
    ``$KDRENDER_CACHE_DIR``, else ``$XDG_CACHE_HOME/kdrender``, else ``~/.cache/kdrender``.  Only
    hashes are stored, never content.  A folder that is not ours or not private is not used.
    """

    def __init__(self, folder: str):
        self.folder = folder

    @classmethod
    def default(cls, environ=os.environ) -> "Cache | None":
        from .cachedir import private_folder

        folder = private_folder(environ, "schema-ok")
        return cls(folder) if folder else None

    def _path(self, doc: Document, kind: str) -> str | None:
        if not doc.digest:
            return None
        key = sha256(f"{_fingerprint()}:{kind}:{doc.digest}:{doc.index}".encode()).hexdigest()
        return os.path.join(self.folder, key)

    def known(self, doc: Document, kind: str) -> bool:
        path = self._path(doc, kind)
        return bool(path) and os.path.exists(path)

    def remember(self, doc: Document, kind: str) -> None:
        path = self._path(doc, kind)
        if path:
            try:
                with open(path, "x"):
                    pass
            except OSError:
                pass


@lru_cache(maxsize=None)
def _fingerprint() -> str:
    """Hash of the schemas and of this checker, so a new kdrender never trusts old markers."""
    digest = sha256()
    for name in sorted(os.listdir(SCHEMA_DIR)) + ["../schema.py", "../schemafast.py", "../schemafiles.py"]:
        with open(os.path.join(SCHEMA_DIR, name), "rb") as fh:
            digest.update(name.encode() + b"\0" + fh.read())
    return digest.hexdigest()


def check(doc: Document, kind: str, cache: Cache | None = None) -> list:
    """Problems of ``doc`` against the schema of ``kind`` (none when the cache knows it passed)."""
    if cache is not None and cache.known(doc, kind):
        return []
    from .schemafast import passes

    if passes(KINDS[kind], doc.data):  # sure to pass: no jsonschema to import (kdrender/schemafast.py)
        if cache is not None:
            cache.remember(doc, kind)
        return []
    validator = _validator(kind)
    problems = []
    for error in validator.iter_errors(doc.data):
        for path, message, level in _messages(error, validator):
            problems.append(doc.problem(path, message, "schema", level))
    if not problems and cache is not None:  # documents with warnings are checked again, to show them
        cache.remember(doc, kind)
    return sorted(set(problems))


def _field_schema(schema: dict | None, key) -> dict | None:
    """The schema of ``key`` inside ``schema`` (a mapping key or a list index), following our $refs."""
    if schema is None:
        return None
    parts = [schema] + [_resolve(ref) for ref in
                        ([schema["$ref"]] if "$ref" in schema else []) + [a["$ref"] for a in schema.get("allOf", []) if "$ref" in a]]
    for part in parts:
        sub = part.get("items") if isinstance(key, int) else (part.get("properties") or {}).get(key)
        if sub is None and not isinstance(key, int) and isinstance(part.get("additionalProperties"), dict):
            sub = part["additionalProperties"]
        if isinstance(sub, dict):
            return _resolve(sub["$ref"]) if set(sub) == {"$ref"} else sub
    return None


def drop_nulls(data, kind: str):
    """``data`` without the mapping entries whose value is null, as the API server reads them.

    A CRD field marked ``nullable`` decodes null as a nil pointer (absent); the API server prunes
    null from every other field before validating.  Where null is a value (``configPackage: null``
    means "no setup package"; our schemas mark it with ``x-kdrender-null-is-a-value``) it is kept.
    Returns ``data`` itself when there is no null to drop (the usual case, at no schema cost).
    """
    found = []

    def scan(node, path):
        if isinstance(node, dict):
            for key, value in node.items():
                if value is None:
                    found.append(path + (key,))
                else:
                    scan(value, path + (key,))
        elif isinstance(node, list):
            for i, value in enumerate(node):
                scan(value, path + (i,))

    scan(data, ())
    if not found:
        return data
    data = copy.deepcopy(data)
    root = _load(KINDS[kind])
    for path in found:
        schema = root
        for key in path:
            schema = _field_schema(schema, key)
        if schema is not None and schema.get(KEEP_NULL):
            continue
        parent = data
        for key in path[:-1]:
            parent = parent[key]
        del parent[path[-1]]
    return data
