"""A quick yes to "does this document pass its schema?", without importing ``jsonschema``.

A cluster file that changed since the last run is not in the schema cache (kdrender/schema.py),
so every Argo CD refresh after a commit to it would import and build ``jsonschema`` validators:
about 70 ms, more than the rest of ``kdrender generate`` (issue 12).  :func:`passes` walks the
document and the schema itself for the keywords our schemas use (``type``, ``properties``,
``additionalProperties``, ``required``, ``items``, ``enum``, ``const``, ``pattern`` read as
ECMA-262, ``minLength``/``maxLength``, ``minimum``/``maximum``, ``minItems``/``maxItems``,
``$ref`` and ``allOf``; annotations such as ``description`` are ignored).

It only ever says True when ``jsonschema`` would find nothing, errors or warnings: any other
keyword (``anyOf``, ``unevaluatedProperties``, ...), any value of an unexpected Python type and
any failed check give False, and the caller then runs ``jsonschema`` for the exact messages.
A wrong False costs time; a wrong True would let a bad file through, so
tests/test_schemafast.py compares the two on the conformance files and on mutations of them.
"""

from __future__ import annotations

from .schemafiles import ecma_pattern, load as _file

# keywords that only describe (no effect on validity)
_ANNOTATIONS = frozenset(("$schema", "$id", "$defs", "title", "description", "default", "examples",
                          "x-kubernetes-preserve-unknown-fields", "x-kdrender-null-is-a-value"))
_TYPES = {"object": (dict,), "array": (list,), "string": (str,), "integer": (int,), "number": (int, float),
          "boolean": (bool,), "null": (type(None),)}
_SCALARS = (str, int, float, bool, type(None))


def _target(ref: str, base: str):
    """``(schema, file)`` a ``$ref`` names: ``#/$defs/x`` in ``base`` or ``other.json#/$defs/x``."""
    name, _, pointer = ref.partition("#")
    name = name or base
    if "/" in name or not name.endswith(".json"):
        raise LookupError(ref)
    node = _file(name)
    for part in [p for p in pointer.split("/") if p]:
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node, name


def passes(kind_file: str, data) -> bool:
    """True only if ``data`` passes the schema file ``kind_file`` (see the module's docstring)."""
    def ok(schema, value, base: str) -> bool:
        if schema is True or schema == {}:
            return True
        if not isinstance(schema, dict):
            return False
        for key, rule in schema.items():
            if key in _ANNOTATIONS:
                continue
            if key == "type":
                names = rule if isinstance(rule, list) else [rule]
                if not any(_is(value, name) for name in names):
                    return False
            elif key == "$ref":
                try:
                    target, where = _target(rule, base)
                except (LookupError, KeyError, TypeError, OSError, ValueError):
                    return False
                if not ok(target, value, where):
                    return False
            elif key == "allOf":
                if not all(ok(part, value, base) for part in rule):
                    return False
            elif key == "enum":
                if not any(_same(value, option) for option in rule):
                    return False
            elif key == "const":
                if not _same(value, rule):
                    return False
            elif key in ("properties", "additionalProperties", "required"):
                if type(value) is dict and not _object(key, rule, schema, value, base):
                    return False
            elif key in ("items", "minItems", "maxItems"):
                if type(value) is list and not _array(key, rule, value, base):
                    return False
            elif key in ("pattern", "minLength", "maxLength"):
                if type(value) is str and not _string(key, rule, value):
                    return False
            elif key in ("minimum", "maximum"):
                if type(value) in (int, float) and not (value >= rule if key == "minimum" else value <= rule):
                    return False
            else:  # a keyword this walk does not know: let jsonschema decide
                return False
        return True

    def _object(key, rule, schema, value, base) -> bool:
        if any(type(k) is not str for k in value):
            return False
        if key == "required":
            return all(name in value for name in rule)
        if key == "properties":
            return all(ok(rule[name], item, base) for name, item in value.items() if name in rule)
        known = schema.get("properties") or {}
        extra = [item for name, item in value.items() if name not in known]
        if rule is False:
            return not extra
        return all(ok(rule, item, base) for item in extra)

    def _array(key, rule, value, base) -> bool:
        if key == "minItems":
            return len(value) >= rule
        if key == "maxItems":
            return len(value) <= rule
        return isinstance(rule, dict) and all(ok(rule, item, base) for item in value)

    def _string(key, rule, value) -> bool:
        if key == "pattern":
            return ecma_pattern(rule).search(value) is not None
        return len(value) >= rule if key == "minLength" else len(value) <= rule

    try:
        return ok(_file(kind_file), data, kind_file)
    except Exception:  # noqa: BLE001 - whatever went wrong, jsonschema decides (the safe answer)
        return False


def _is(value, name: str) -> bool:
    kinds = _TYPES.get(name)
    if kinds is None:
        return False
    if type(value) is bool:
        return name == "boolean"
    if type(value) is float and name == "integer":
        return False  # kdrender's checker: 2.0 is not an integer (kdrender/schema.py)
    return type(value) in kinds


def _same(value, option) -> bool:
    """Equal and of the same type (``jsonschema`` also calls 1 and 1.0 equal; False is then safe)."""
    if type(value) is not type(option):
        return False
    if type(value) in (dict, list):
        return False  # no schema of ours lists collections in enum or const
    return type(value) in _SCALARS and value == option
