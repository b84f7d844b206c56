"""After render, before emit: what the API server would still refuse of a rendered object.

The rules (kdrender/rules/) check the input; a few limits can only be judged on the objects
themselves, whatever input produced them:

- the size of every object: etcd refuses requests over 1.5 MiB (its default ``--max-request-bytes``),
  measured as the bytes of the object's keys and values (about what etcd stores; JSON escaping
  would count a quote inside configmeta twice); and of a ConfigMap's ``data`` and ``binaryData``
  together: 1 MiB, the API server's own limit;
- the total size of the annotations of an object and of its pod template (256 KiB);
- duplicate ``mountPath``s (or a ``devicePath`` that is also a ``mountPath``) in a container.

A problem names the cluster's file and the object; nothing of the cluster is emitted.

Measuring an object walks every value in Python, which costs more than rendering it.  When the
caller has the object's emitted text (JSON or YAML), its UTF-8 size is an upper bound of that
measure (the text holds every key and value, quoted or escaped, never shortened; ``true``,
``false`` and ``null`` are as long as ``True``, ``False`` and ``None``), so an object whose text is
under the limit is not walked; one over it is measured exactly.
"""

from __future__ import annotations

import posixpath

from .problems import Problem

MAX_OBJECT_BYTES = 3 * 512 * 1024  # etcd's default --max-request-bytes
MAX_CONFIGMAP_DATA_BYTES = 1024 * 1024  # core.MaxSecretSize, also for ConfigMaps
MAX_ANNOTATION_BYTES = 256 * 1024  # TotalAnnotationSizeLimitB


def _size(text: str) -> int:
    return len(text.encode("utf-8", "surrogatepass"))


def _payload(value) -> int:
    """Bytes of every key and scalar value in ``value``, unescaped."""
    if isinstance(value, dict):
        return sum(_size(str(k)) + _payload(v) for k, v in value.items())
    if isinstance(value, list):
        return sum(_payload(v) for v in value)
    return _size(value) if isinstance(value, str) else len(str(value))


def _annotation_bytes(meta: dict) -> int:
    return sum(_size(k) + _size(v) for k, v in ((meta or {}).get("annotations") or {}).items())


_PATHS = (("volumeMounts", "mountPath", "mounts the volumes {first!r} and {name!r} both at {path} "
                                         "(the API server refuses a duplicate mountPath)"),
          ("volumeDevices", "devicePath", "uses {path} for the device {name!r} and for {first!r} "
                                          "(the API server refuses a devicePath that is already used)"))


def _mount_problems(container: dict):
    """Two mounts, or a device and a mount, at one path of a container."""
    seen: dict = {}
    for field, key, message in _PATHS:
        for item in container.get(field) or []:
            path = posixpath.normpath(item[key])
            if path in seen:
                yield message.format(first=seen[path], name=item["name"], path=path)
            seen.setdefault(path, item["name"])


def text_bytes(text: str) -> int:
    """UTF-8 size of an emitted text (the upper bound of :func:`_payload` described above)."""
    return len(text) if text.isascii() else _size(text)


def object_problems(obj: dict, text: str | None = None) -> list[str]:
    """What the API server would refuse of one rendered object, as sentences; ``text`` is the
    object as emitted, when the caller has it (see the module's docstring)."""
    found = []
    size = text_bytes(text) if text is not None else MAX_OBJECT_BYTES + 1
    if size > MAX_OBJECT_BYTES:
        size = _payload(obj)
    if size > MAX_OBJECT_BYTES:
        found.append(f"would be {size} bytes, over the {MAX_OBJECT_BYTES}-byte limit of an object")
    if obj.get("kind") == "ConfigMap":
        data = sum(_size(k) + _size(v) for k, v in (obj.get("data") or {}).items())
        data += sum(_size(k) + len(v) * 3 // 4 for k, v in (obj.get("binaryData") or {}).items())
        if data > MAX_CONFIGMAP_DATA_BYTES:
            found.append(f"would hold {data} bytes of data, over the API server's limit of {MAX_CONFIGMAP_DATA_BYTES}")
    spec = obj.get("spec") or {}
    template = spec.get("template") if isinstance(spec.get("template"), dict) else {}
    for where, meta in (("", obj.get("metadata")), ("pod template ", template.get("metadata"))):
        size = _annotation_bytes(meta)
        if size > MAX_ANNOTATION_BYTES:
            found.append(f"would have {size} bytes of {where}annotations, over the API server's limit of "
                         f"{MAX_ANNOTATION_BYTES}")
    pod = template.get("spec") or {}
    for container in (pod.get("initContainers") or []) + (pod.get("containers") or []):
        found += [f"container {container['name']!r} {text}" for text in _mount_problems(container)]
    return found


def cluster_problems(cluster, objects: list, texts: list | None = None) -> list[Problem]:
    """Problems of one cluster's rendered objects, located at the cluster's ``metadata.name``;
    ``texts``, when given, are the objects as emitted, in the same order."""
    line, col = cluster.position
    texts = texts if texts is not None else [None] * len(objects)
    return [Problem(cluster.file, line, col, "metadata.name", f"the {obj['kind']} {obj['metadata']['name']!r} {found}",
                    "api-limits")
            for obj, text in zip(objects, texts) for found in object_problems(obj, text)]
