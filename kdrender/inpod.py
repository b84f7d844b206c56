"""What configmeta takes from the cluster at run time, never from Git (issue 10).

Three kinds of values are filled in by the agent inside the pod, from mounted objects:

* connected ConfigMaps and Secrets (``spec.connections.configmaps`` / ``secrets``), listed
  under their ``kubedirector.hpe.com/cmType`` / ``secretType``.  A mount carries data, not
  labels, so the type comes from the object when the repo holds it (a ConfigMap or Secret of
  the cluster's file, the template labels of a SealedSecret or ExternalSecret), else from the
  cluster's annotations ``kdrender.dev/configmap-types`` / ``kdrender.dev/secret-types``
  (``"<name>=<type>, ..."``).  Objects of unknown type are left out, as KubeDirector leaves
  out objects without the label.  A missing object is left out too, and an empty one is shown
  with ``"data": null``, as KubeDirector shows them; kubelet mounts both as the same empty
  folder, so an empty mount is an empty object only when the cluster's own file holds the
  ConfigMap or Secret (:func:`applied_with`) or the object has the key ``kdrender.dev-exists``
  (:data:`EXISTS_KEY`, never shown as data), else a missing one.
* ``secret_keys`` of roles: the annotation ``kdrender.dev/secret-keys`` names a Secret; a role's
  ``secretKeys[].name`` (without ``value``) takes the Secret's key ``<role>.<name>``, else
  ``<name>``.  A connected cluster's roles show their ``secret_keys`` the same way, from that
  cluster's own ``kdrender.dev/secret-keys`` Secret (mounted in the connecting cluster's pods).
* ``authToken`` of ``hasAuthToken`` services: from the Secret ``<headless>-auth-tokens``: the
  key ``<pod>`` when present (tokens kept from an adopted cluster), else
  ``sha256("<seed>:<pod>")`` cut to 32 hex digits, with the key ``seed``.

This module is shared by validation (the rule ``connected-objects``) and rendering.
"""

from __future__ import annotations

import re

from .lazyre import lazy
from .production import IN_POD

CM_TYPE_LABEL = "kubedirector.hpe.com/cmType"
SECRET_TYPE_LABEL = "kubedirector.hpe.com/secretType"
ANN_CM_TYPES, ANN_SECRET_TYPES, ANN_SECRET_KEYS = IN_POD  # kdrender.dev/configmap-types, secret-types, secret-keys
SECRET_KEY_NAME = lazy(r"^[-._a-zA-Z0-9]+\Z")  # what a Secret data key may be
EXISTS_KEY = "kdrender.dev-exists"  # in a connected object: it exists even when empty (kd-agent.sh OBJ_MARKER)

KINDS = {"configmaps": ("ConfigMap", CM_TYPE_LABEL, ANN_CM_TYPES),
         "secrets": ("Secret", SECRET_TYPE_LABEL, ANN_SECRET_TYPES)}


def parse_types(text) -> dict:
    """``"a=t1, b=t2"`` -> ``{"a": "t1", "b": "t2"}``; malformed items are left out."""
    out = {}
    for item in re.split(r"[,\s]+", str(text or "")):
        name, sep, kind = item.partition("=")
        if sep and name and kind:
            out[name] = kind
    return out


def _data(obj):
    return getattr(obj, "data", obj)


def _template_meta(obj: dict) -> dict:
    """The metadata the object will have in the cluster (a SealedSecret's or ExternalSecret's template)."""
    kind = obj.get("kind")
    spec = obj.get("spec") or {}
    if kind == "SealedSecret":
        return ((spec.get("template") or {}).get("metadata")) or {}
    if kind == "ExternalSecret":
        target = spec.get("target") or {}
        return ((target.get("template") or {}).get("metadata")) or {}
    return obj.get("metadata") or {}


def _target_name(obj: dict) -> str:
    if obj.get("kind") == "ExternalSecret":
        target = (obj.get("spec") or {}).get("target") or {}
        if target.get("name"):
            return target["name"]
    return (obj.get("metadata") or {}).get("name", "")


def repo_object(cluster, kind: str, name: str) -> dict | None:
    """The repo's definition of a connected object (``kind`` ConfigMap or Secret), if the
    cluster's file holds one (``Cluster.extras``, when the loader provides them)."""
    wanted = {"ConfigMap": ("ConfigMap",), "Secret": ("Secret", "SealedSecret", "ExternalSecret")}[kind]
    for extra in getattr(cluster, "extras", ()) or ():
        obj = _data(extra)
        if isinstance(obj, dict) and obj.get("kind") in wanted and _target_name(obj) == name:
            return obj
    return None


def applied_with(cluster, what: str, name: str) -> bool:
    """The cluster's file holds the connected object itself (a ConfigMap or Secret, not a
    SealedSecret or ExternalSecret that a controller turns into one later), so the object exists
    once the cluster's bundle is applied: an empty mount of it is an empty object, not a missing one."""
    kind = KINDS[what][0]
    obj = repo_object(cluster, kind, name)
    return obj is not None and obj.get("kind") == kind


def connected_objects(cluster, annotations: dict) -> list:
    """``(what, name, type, labels, annotations, in_repo)`` of every connected ConfigMap
    (``what`` "configmaps") and Secret ("secrets"), in the spec's order; ``type`` is None when
    unknown."""
    conns = (cluster.spec.get("connections") or {}) if hasattr(cluster, "spec") else {}
    out = []
    for what, (kind, label, ann) in KINDS.items():
        declared = parse_types((annotations or {}).get(ann))
        seen = set()
        for name in conns.get(what) or []:
            if name in seen:
                continue
            seen.add(name)
            obj = repo_object(cluster, kind, name)
            meta = _template_meta(obj) if obj else {}
            labels = dict(meta.get("labels") or {})
            notes = dict(meta.get("annotations") or {})
            kind_type = labels.get(label) or declared.get(name)
            if kind_type and label not in labels:
                labels[label] = kind_type
            out.append((what, name, kind_type, labels, notes, obj is not None))
    return out


def secret_key_names(role_spec: dict) -> list:
    """The role's ``secretKeys`` names the agent fills from the Secret (no ``value`` in Git)."""
    names = []
    for key in role_spec.get("secretKeys") or []:
        name = key.get("name")
        if name and not key.get("value") and SECRET_KEY_NAME.match(name) and name not in names:
            names.append(name)
    return sorted(names)


def auth_token_secret(headless: str) -> str:
    return f"{headless}-auth-tokens"
