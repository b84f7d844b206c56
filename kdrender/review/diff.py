"""Per-object semantic changes between two renders, with the dangerous ones flagged.

Objects are matched by kind, namespace and name.  A changed object lists the fields that
differ (lists of named items such as containers, ports or env are matched by name, JSON held
in ConfigMap strings is compared as JSON).  Every object belongs to a cluster, and, when it
carries the ``kubedirector.hpe.com/role`` label, to a role.

Dangerous (``reasons``): fields of a StatefulSet that Kubernetes cannot update, a removed
StatefulSet (a removed cluster or role: its pods, and its PVCs when it has storage), the
scale-down of a role with storage, a storage size change, a PVC retention policy turning to
Delete, a Service type change, and renames (an object removed and one of the same kind,
cluster and role added: delete + create).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from ..compare import immutable_fields

CLUSTER_LABEL = "kubedirector.hpe.com/kdcluster"
ROLE_LABEL = "kubedirector.hpe.com/role"
_MISSING = object()
# how the items of a list are told apart, in order of preference
_ITEM_KEYS = ("name", "mountPath", "containerPort", "key", "metadata.name")


@dataclass
class Change:
    path: str
    old: object = None  # None with ``added``, or the old value
    new: object = None
    kind: str = "changed"  # added | removed | changed

    def as_dict(self) -> dict:
        out = {"path": self.path, "change": self.kind}
        if self.kind != "added":
            out["old"] = self.old
        if self.kind != "removed":
            out["new"] = self.new
        return out


@dataclass
class ObjectDiff:
    status: str  # added | removed | changed
    kind: str
    namespace: str
    name: str
    cluster: str  # namespace/name of the cluster
    role: str = ""
    changes: list = field(default_factory=list)  # of Change
    reasons: list = field(default_factory=list)  # why the change is dangerous

    @property
    def dangerous(self) -> bool:
        return bool(self.reasons)

    @property
    def ref(self) -> str:
        return f"{self.kind} {self.namespace}/{self.name}"

    def as_dict(self) -> dict:
        return {"status": self.status, "kind": self.kind, "namespace": self.namespace, "name": self.name,
                "cluster": self.cluster, "role": self.role, "dangerous": self.dangerous,
                "reasons": list(self.reasons), "changes": [c.as_dict() for c in self.changes]}


# -- field changes -------------------------------------------------------------------------

def _key(part) -> str:
    if isinstance(part, int):
        return f"[{part}]"
    if isinstance(part, tuple):  # (item key, value): a list item picked by its name
        return f"[{part[0]}={part[1]}]"
    text = str(part)
    if text and all(c.isalnum() or c in "_-" for c in text):
        return "." + text
    return "[" + json.dumps(text) + "]"


def _path(parts) -> str:
    return "".join(_key(p) for p in parts).lstrip(".")


def _item_name(item, key: str):
    for part in key.split("."):
        item = item.get(part) if isinstance(item, dict) else None
    return item


def _item_key(old: list, new: list) -> str | None:
    """The field that names the items of both lists, when there is one."""
    for key in _ITEM_KEYS:
        ok = True
        for items in (old, new):
            values = [_item_name(item, key) for item in items]
            if any(v is None or isinstance(v, (dict, list)) for v in values) or len(set(map(str, values))) != len(values):
                ok = False
                break
        if ok:
            return key
    return None


def _as_json(value):
    if isinstance(value, str) and value[:1] in "{[":
        try:
            return json.loads(value)
        except ValueError:
            return _MISSING
    return _MISSING


def field_changes(old, new, parts: tuple = ()) -> list:
    """Every leaf that differs between ``old`` and ``new``."""
    if old == new:
        return []
    if isinstance(old, dict) and isinstance(new, dict):
        out = []
        for key in sorted(set(old) | set(new), key=str):
            if key not in new:
                out.append(Change(_path(parts + (key,)), old[key], None, "removed"))
            elif key not in old:
                out.append(Change(_path(parts + (key,)), None, new[key], "added"))
            else:
                out.extend(field_changes(old[key], new[key], parts + (key,)))
        return out
    if isinstance(old, list) and isinstance(new, list) and (old or new):
        key = _item_key(old, new)
        if key is not None:
            return _named_changes(old, new, parts, key)
        if len(old) == len(new) and all(isinstance(x, (dict, list)) for x in old + new):
            return [c for i, (a, b) in enumerate(zip(old, new)) for c in field_changes(a, b, parts + (i,))]
    old_json, new_json = _as_json(old), _as_json(new)
    if old_json is not _MISSING and new_json is not _MISSING:
        return field_changes(old_json, new_json, parts)
    if isinstance(old, str) and isinstance(new, str) and "\n" in old + new:  # text: the lines that differ
        return _item_changes(old.splitlines(), new.splitlines(), parts) or [Change(_path(parts), old, new)]
    if isinstance(old, list) and isinstance(new, list) and not any(isinstance(x, (dict, list)) for x in old + new):
        return _item_changes(old, new, parts) or [Change(_path(parts), old, new)]
    return [Change(_path(parts), old, new)]


def _item_changes(old: list, new: list, parts: tuple) -> list:
    """Items (or lines) only one side has; empty when only the order differs."""
    path = _path(parts) + "[]"
    return ([Change(path, item, None, "removed") for item in old if item not in new]
            + [Change(path, None, item, "added") for item in new if item not in old])


def _named_changes(old: list, new: list, parts: tuple, key: str) -> list:
    """Lists of named items (containers, env, ports, volumes ...): matched by name, not position."""
    old_items = {str(_item_name(item, key)): item for item in old}
    new_items = {str(_item_name(item, key)): item for item in new}
    out = []
    order = [n for n in old_items if n in new_items], [n for n in new_items if n in old_items]
    if order[0] != order[1]:
        out.append(Change(_path(parts) + " (order)", order[0], order[1]))
    for name in sorted(set(old_items) | set(new_items)):
        item = parts + ((key, name),)
        if name not in new_items:
            out.append(Change(_path(item), old_items[name], None, "removed"))
        elif name not in old_items:
            out.append(Change(_path(item), None, new_items[name], "added"))
        else:
            out.extend(field_changes(old_items[name], new_items[name], item))
    return out


# -- objects -------------------------------------------------------------------------------

def _index(rendered: list) -> dict:
    """(kind, namespace, name) -> (cluster, object)."""
    out = {}
    for namespace, cluster, objects in rendered or []:
        for obj in objects:
            meta = obj.get("metadata") or {}
            out[(obj["kind"], meta.get("namespace") or namespace, meta["name"])] = (f"{namespace}/{cluster}", obj)
    return out


def _role(obj: dict) -> str:
    return ((obj.get("metadata") or {}).get("labels") or {}).get(ROLE_LABEL, "")


def _claims(obj: dict) -> list:
    return [(t.get("metadata") or {}).get("name", "") for t in (obj.get("spec") or {}).get("volumeClaimTemplates") or []]


def _storage_sizes(obj: dict) -> dict:
    return {(t.get("metadata") or {}).get("name", ""): ((t.get("spec") or {}).get("resources") or {}).get("requests", {}).get("storage")
            for t in (obj.get("spec") or {}).get("volumeClaimTemplates") or []}


def _pvc_fate(obj: dict) -> str:
    policy = ((obj.get("spec") or {}).get("persistentVolumeClaimRetentionPolicy") or {}).get("whenDeleted", "Retain")
    if policy == "Delete":
        return "its PVCs and their data are deleted (whenDeleted: Delete)"
    return "its PVCs stay (whenDeleted: Retain) but no pod uses them any more; delete them by hand or re-add the role"


def _removed_reasons(obj: dict, cluster: str, cluster_gone: bool) -> list:
    if obj["kind"] != "StatefulSet":
        return []
    what = f"cluster {cluster} is removed" if cluster_gone else f"role {_role(obj)} of cluster {cluster} is removed"
    claims = _claims(obj)
    if claims:
        return [f"{what}: its pods are deleted and {_pvc_fate(obj)} (claim templates: {', '.join(claims)})"]
    return [f"{what}: its pods are deleted"]


def _changed_reasons(kind: str, old: dict, new: dict) -> list:
    reasons = []
    old_spec, new_spec = old.get("spec") or {}, new.get("spec") or {}
    if kind == "StatefulSet":
        immutable = immutable_fields(old, new)
        old_sizes, new_sizes = _storage_sizes(old), _storage_sizes(new)
        for claim in sorted(set(old_sizes) & set(new_sizes)):
            if old_sizes[claim] != new_sizes[claim]:
                reasons.append(f"storage size of claim template {claim} changes from {old_sizes[claim]} to "
                               f"{new_sizes[claim]}: existing PVCs keep their size; resize them by hand (volume "
                               "expansion) and keep the template in step")
        if immutable:
            reasons.append(f"changes {', '.join('spec.' + k for k in immutable)}, which Kubernetes cannot update on a "
                           "StatefulSet: the sync fails with 'Forbidden: updates to statefulset spec'; delete the "
                           "StatefulSet with --cascade=orphan first (pods and PVCs stay)")
        old_policy = old_spec.get("persistentVolumeClaimRetentionPolicy") or {}
        new_policy = new_spec.get("persistentVolumeClaimRetentionPolicy") or {}
        for when in ("whenDeleted", "whenScaled"):
            if _claims(new) and new_policy.get(when) == "Delete" and old_policy.get(when) != "Delete":
                reasons.append(f"PVC retention {when} becomes Delete: PVCs (and their data) are deleted when the "
                               + ("StatefulSet is deleted" if when == "whenDeleted" else "role scales down"))
        old_n, new_n = old_spec.get("replicas", 1), new_spec.get("replicas", 1)
        if isinstance(old_n, int) and isinstance(new_n, int) and new_n < old_n and _claims(old):
            pods = ", ".join(f"{old['metadata']['name']}-{i}" for i in range(new_n, old_n))
            reasons.append(f"scale-down of role {_role(old)} from {old_n} to {new_n} members with storage: "
                           f"pods {pods} are deleted; {_pvc_fate(old).replace('re-add the role', 'scale up again')}")
    if kind == "Service" and old_spec.get("type", "ClusterIP") != new_spec.get("type", "ClusterIP"):
        reasons.append(f"Service type changes from {old_spec.get('type', 'ClusterIP')} to "
                       f"{new_spec.get('type', 'ClusterIP')}: external addresses and node ports change")
    return reasons


def _renames(removed: list, added: list, cluster_renames: dict) -> None:
    """Pair removed and added objects of the same kind, role and (possibly renamed) cluster."""
    def group(diffs, rename):
        out = {}
        for d in diffs:
            out.setdefault((d.kind, rename.get(d.cluster, d.cluster), d.role), []).append(d)
        return out

    gone, new = group(removed, cluster_renames), group(added, {})
    for key in sorted(set(gone) & set(new)):
        for old, fresh in zip(sorted(gone[key], key=lambda d: d.name), sorted(new[key], key=lambda d: d.name)):
            old.reasons.append(f"renamed to {fresh.namespace}/{fresh.name}: Kubernetes deletes the old object and "
                               "creates a new one" + (" (new pods, new PVCs)" if old.kind == "StatefulSet" else ""))
            fresh.reasons.append(f"renamed from {old.namespace}/{old.name}: delete + create")


def cluster_renames(base_clusters: list, head_clusters: list) -> dict:
    """Clusters whose file now names a cluster that did not exist: ``{"ns/old": "ns/new"}``."""
    base = {f"{c.namespace}/{c.name}": c.file for c in base_clusters}
    head = {f"{c.namespace}/{c.name}": c.file for c in head_clusters}
    gone = sorted(k for k in base if k not in head)
    fresh = sorted(k for k in head if k not in base)
    out = {}
    for old in gone:
        for new in fresh:
            if base[old] == head[new] and new not in out.values():
                out[old] = new
                break
    return out


def diff_renders(base: list, head: list, renames: dict | None = None) -> list:
    """ObjectDiffs between two renders (lists of (namespace, cluster, objects)), sorted."""
    old_index, new_index = _index(base), _index(head)
    head_clusters = {f"{ns}/{name}" for ns, name, _ in head or []}
    removed, added, changed = [], [], []
    for key in sorted(set(old_index) | set(new_index)):
        kind, namespace, name = key
        if key not in new_index:
            cluster, obj = old_index[key]
            removed.append(ObjectDiff("removed", kind, namespace, name, cluster, _role(obj),
                                      reasons=_removed_reasons(obj, cluster, cluster not in head_clusters)))
        elif key not in old_index:
            cluster, obj = new_index[key]
            added.append(ObjectDiff("added", kind, namespace, name, cluster, _role(obj)))
        else:
            (_, old), (cluster, new) = old_index[key], new_index[key]
            changes = field_changes(old, new)
            if changes:
                changed.append(ObjectDiff("changed", kind, namespace, name, cluster, _role(new) or _role(old),
                                          changes, _changed_reasons(kind, old, new)))
    _renames(removed, added, renames or {})
    return sorted(removed + added + changed, key=lambda d: (d.cluster, d.role, d.kind, d.name, d.status))


def exit_code(diffs: list) -> int:
    """0 nothing changed, 1 changed, 3 a dangerous change."""
    if any(d.dangerous for d in diffs):
        return 3
    return 1 if diffs else 0
