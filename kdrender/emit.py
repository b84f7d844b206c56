"""Stage 6, emit: objects to bytes, always the same bytes for the same objects.

YAML (for golden files and ``render``) has sorted keys, block style and no aliases; JSON (for
Argo CD) is one compact object per line with sorted keys.  Neither depends on dict order,
input order or the hash seed.
"""

from __future__ import annotations

import json
import re

from .fastyaml import Fallback, Writer
from .lazyre import lazy
from .pyyaml import yaml

_BaseDumper = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


class _Dumper(_BaseDumper):
    def ignore_aliases(self, data):  # never write &anchors / *aliases
        return True


# Plain scalars some YAML parser reads as something other than a string.  PyYAML's own resolver
# (YAML 1.1 as PyYAML implements it) already makes the emitter quote many; these add the rest of
# YAML 1.1 (``y``/``n``, exponents without a dot or sign), YAML 1.2's core schema (``0o17``,
# ``1e3``) and Go's yaml.v2/v3 as kustomize, Flux and kubectl use them (``0B1``, ``0X1F``, ``1_0``
# with underscores anywhere, sexagesimal ``1:30``).  Quoting more than needed never changes what
# a parser reads; quoting less does.
_WORDS = frozenset(
    "y Y yes Yes YES n N no No NO true True TRUE false False FALSE on On ON off Off OFF "
    "null Null NULL ~ = <<".split()) | {""}
_NUMBER = lazy(
    r"[-+]?(?:0[bB][01]+|0[oO][0-7]+|0[xX][0-9a-fA-F]+"
    r"|[0-9]+(?::[0-5]?[0-9])*(?:\.[0-9]*)?(?:[eE][-+]?[0-9]+)?"
    r"|\.[0-9]+(?:[eE][-+]?[0-9]+)?"
    r"|\.(?:inf|Inf|INF))"
    r"|\.(?:nan|NaN|NAN)")
# timestamps: Go's yaml reads ``2001-1-2`` (one-digit month and day) as one too
_DATE = lazy(r"[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}(?:[Tt \t].*)?", re.S)


def ambiguous(text: str) -> bool:
    """True when a YAML 1.1 or 1.2 parser could read the plain scalar ``text`` as a non-string."""
    if text in _WORDS:
        return True
    if text[:1] not in "0123456789+-.":
        return False
    # parsers differ on "_": Go drops it anywhere, others take it as a digit after the first one
    return (_NUMBER.fullmatch(text.replace("_", "")) is not None or _NUMBER.fullmatch(text.replace("_", "0"))
            is not None or _DATE.fullmatch(text) is not None)


def _str_presenter(dumper, data: str):
    if "\n" in data:
        style = "|" if not data.endswith((" ", "\t")) and "\r" not in data else None
    else:
        style = "'" if ambiguous(data) else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=style)


_Dumper.add_representer(str, _str_presenter)


def pyyaml_dump(obj) -> str:
    """The reference: PyYAML's output, which :func:`to_yaml` reproduces byte for byte."""
    return yaml.dump(obj, Dumper=_Dumper, sort_keys=True, default_flow_style=False, allow_unicode=True, width=1 << 16)


_writer = Writer(pyyaml_dump, ambiguous)


def to_yaml(obj) -> str:
    try:
        return _writer.dump(obj)
    except Fallback:
        return pyyaml_dump(obj)


def yaml_stream(objects: list) -> str:
    return "".join("---\n" + to_yaml(obj) for obj in objects)


_JSON = {"sort_keys": True, "separators": (",", ":"), "ensure_ascii": False}
LONG_VALUE = 16 * 1024  # ConfigMap values at least this long are encoded once per run
_encoded: dict = {}  # long ConfigMap value -> its JSON text (at most _ENCODED_MAX of them)
_ENCODED_MAX = 8  # a repo's own ConfigMaps may hold 1 MiB values: what is kept stays bounded


def _json_line(obj: dict) -> str:
    """``json.dumps`` of a rendered object, the same text, faster for ConfigMaps that repeat a long
    value (the agent script is in every cluster's kd-agent ConfigMap: two thirds of the stream).

    The object is encoded with each long value replaced by a mark, then the marks by the values'
    encodings, remembered between objects.  A mark's encoding is a whole JSON string token (an
    unescaped quote only opens or closes one), so it occurs once unless some key or value equals
    it, and then the object is encoded the plain way."""
    data = obj.get("data") if obj.get("kind") == "ConfigMap" else None
    longs = [key for key, value in data.items() if type(value) is str and len(value) >= LONG_VALUE] \
        if type(data) is dict else ()
    if not longs:
        return json.dumps(obj, **_JSON)
    trimmed, marks = dict(data), []
    for i, key in enumerate(longs):
        trimmed[key] = f"\x00kdrender-long-value-{i}\x00"
        marks.append((json.dumps(trimmed[key], **_JSON), _encoded_value(data[key])))
    text = json.dumps(dict(obj, data=trimmed), **_JSON)
    if any(text.count(mark) != 1 for mark, _ in marks):
        return json.dumps(obj, **_JSON)
    for mark, value in marks:
        text = text.replace(mark, value, 1)
    return text


def _encoded_value(value: str) -> str:
    text = _encoded.get(value)
    if text is None:
        text = json.dumps(value, **_JSON)
        if len(_encoded) < _ENCODED_MAX:
            _encoded[value] = text
    return text


def json_lines(objects: list) -> list:
    """One compact JSON line per object (the stream Argo CD reads): sorted keys, no ASCII escapes."""
    return [_json_line(obj) + "\n" for obj in objects]


def json_stream(objects: list) -> str:
    return "".join(json_lines(objects))


def file_name(obj: dict) -> str:
    """``statefulset-spark-instance-worker.yaml``: kind and name, lower case."""
    return f"{obj['kind'].lower()}-{obj['metadata']['name']}.yaml"


def cluster_files(namespace: str, cluster: str, objects: list) -> list:
    """``(golden/-relative path, content)`` of one cluster: one file per object plus a kustomization."""
    folder = f"{namespace}/{cluster}"
    files = []
    names = []
    for obj in objects:
        name = file_name(obj)
        files.append((f"{folder}/{name}", to_yaml(obj)))
        names.append(name)
    kustomization = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": names,
    }
    files.append((f"{folder}/kustomization.yaml",
                  "# Rendered by kdrender from the cluster repo; do not edit (run `kdrender build`).\n"
                  + to_yaml(kustomization)))
    return files


def bundle_files(rendered) -> dict:
    """``golden/``-relative path -> content for every cluster: one file per object plus a kustomization."""
    return {path: text for namespace, cluster, objects in rendered
            for path, text in cluster_files(namespace, cluster, objects)}
