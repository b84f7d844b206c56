"""Production objects KubeDirector never had: their settings, per repo and per cluster.

Repo defaults live in ``kdrender.yaml`` under ``kdrender:`` (``podDisruptionBudget``,
``networkPolicy``, ``topologySpread``, ``priorityClassName``, ``readinessProbe``); a cluster
overrides them with ``kdrender.dev/*`` annotations on its KubeDirectorCluster (the CRD prunes
unknown fields in ``spec``, so annotations keep the file a valid KubeDirectorCluster).

``settings_for`` merges both for rendering; ``annotation_problems`` is what the
``production-annotations`` rule reports.  Both read the annotations through ``_parse`` so the
rule and the renderer can never disagree.
"""

from __future__ import annotations

from .k8s import dns1123_label, dns1123_subdomain
from .lazyre import lazy
from .record import record, replace

PREFIX = "kdrender.dev/"
A_PDB = PREFIX + "pod-disruption-budget"
A_NETPOL = PREFIX + "network-policy"
A_ALLOW_FROM = PREFIX + "network-policy-allow-from"
A_SPREAD = PREFIX + "topology-spread"
A_PRIORITY = PREFIX + "priority-class"
A_READINESS = PREFIX + "readiness-probe"
# in-pod settings (kdrender/inpod.py reads and checks them; listed here so they are known keys)
A_CM_TYPES = PREFIX + "configmap-types"
A_SECRET_TYPES = PREFIX + "secret-types"
A_SECRET_KEYS = PREFIX + "secret-keys"
IN_POD = (A_CM_TYPES, A_SECRET_TYPES, A_SECRET_KEYS)
ANNOTATIONS = (A_PDB, A_NETPOL, A_ALLOW_FROM, A_SPREAD, A_PRIORITY, A_READINESS) + IN_POD

TOPOLOGY_KEYS = {"nodes": "kubernetes.io/hostname", "zones": "topology.kubernetes.io/zone"}
_MAX_UNAVAILABLE = lazy(r"^([1-9][0-9]{0,8}|([1-9][0-9]?|100)%)\Z")
_BOOL = {"true": True, "false": False}


@record(frozen=True)
class Production:
    pdb: bool = True
    max_unavailable: int | str = 1
    network_policy: bool = False
    allow_from: tuple = ()  # namespace names and CIDRs
    spread: tuple = ()  # "nodes" / "zones"; empty: no topology spread
    max_skew: int = 1
    when_unsatisfiable: str = "ScheduleAnyway"
    priority_class: str = ""  # for every role
    role_priority: tuple = ()  # (role id, class) pairs, ahead of priority_class
    readiness_probe: bool = True

    def priority_for(self, role_id: str) -> str:
        return dict(self.role_priority).get(role_id, self.priority_class)

    @property
    def topology_keys(self) -> tuple:
        """The node label of each ``spread`` entry (``kubernetes.io/hostname``, ``topology.kubernetes.io/zone``)."""
        return tuple(TOPOLOGY_KEYS[over] for over in self.spread)


def is_cidr(text: str) -> bool:
    import ipaddress  # only when a cluster has CIDRs to check (keeps `generate` light)

    try:
        ipaddress.ip_network(text, strict=True)
    except ValueError:
        return False
    return "/" in text


def peer_problem(peer: str) -> str | None:
    """Why an allow-from entry is neither a namespace name nor a CIDR, or None."""
    if "/" in peer:
        return None if is_cidr(peer) else f"{peer!r} is not a CIDR (e.g. 10.0.0.0/8, with no host bits set)"
    if dns1123_label(peer) is None:
        return None
    return f"{peer!r} is neither a namespace name nor a CIDR"


def from_options(options: dict) -> Production:
    """Repo defaults from the (schema-checked) ``kdrender:`` options of kdrender.yaml."""
    pdb = options.get("podDisruptionBudget") or {}
    netpol = options.get("networkPolicy") or {}
    spread = options.get("topologySpread") or {}
    over = spread.get("over", ["nodes"])
    return Production(
        pdb=pdb.get("enabled", True),
        max_unavailable=pdb.get("maxUnavailable", 1),
        network_policy=netpol.get("enabled", False),
        allow_from=tuple(netpol.get("allowFrom") or ()),
        spread=tuple(over) if spread.get("enabled", False) else (),
        max_skew=spread.get("maxSkew", 1),
        when_unsatisfiable=spread.get("whenUnsatisfiable", "ScheduleAnyway"),
        priority_class=options.get("priorityClassName") or "",
        readiness_probe=options.get("readinessProbe", True),
    )


def _items(value: str) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()]


def _parse(base: Production, annotations: dict, role_ids) -> tuple[Production, list[tuple[str, str]]]:
    """Apply the ``kdrender.dev/*`` annotations to ``base``: (settings, [(annotation, problem)])."""
    changes: dict = {}
    problems: list[tuple[str, str]] = []
    for key in sorted(annotations or {}):
        if not key.startswith(PREFIX):
            continue
        value = str(annotations[key]).strip()
        if key in IN_POD:
            continue  # checked by the connected-objects and connection-names rules
        if key not in ANNOTATIONS:
            import difflib

            hint = difflib.get_close_matches(key, ANNOTATIONS, n=1)
            problems.append((key, f"unknown kdrender annotation {key!r}"
                                  + (f"; did you mean {hint[0]!r}?" if hint else
                                     f" (known: {', '.join(ANNOTATIONS)})")))
        elif key == A_PDB:
            if value.lower() in _BOOL:
                changes["pdb"] = _BOOL[value.lower()]
            elif _MAX_UNAVAILABLE.match(value):
                changes["pdb"] = True
                changes["max_unavailable"] = value if value.endswith("%") else int(value)
            else:
                problems.append((key, f"{value!r} is not true, false or a maxUnavailable (a number from 1, "
                                      "or a percentage such as 25%)"))
        elif key in (A_NETPOL, A_READINESS):
            if value.lower() not in _BOOL:
                problems.append((key, f"{value!r} is not true or false"))
            else:
                changes["network_policy" if key == A_NETPOL else "readiness_probe"] = _BOOL[value.lower()]
        elif key == A_ALLOW_FROM:
            peers = _items(value)
            bad = [p for p in (peer_problem(peer) for peer in peers) if p]
            if bad:
                problems.extend((key, message) for message in bad)
            else:
                changes["allow_from"] = tuple(peers)
        elif key == A_SPREAD:
            over = _items(value.lower())
            if over in (["none"], ["false"]):
                changes["spread"] = ()
            elif over == ["true"]:
                changes["spread"] = base.spread or ("nodes",)
            elif over and all(o in TOPOLOGY_KEYS for o in over):
                changes["spread"] = tuple(dict.fromkeys(over))
            else:
                problems.append((key, f"{value!r} is not none, nodes, zones or nodes,zones"))
        elif key == A_PRIORITY:
            roles: dict = {}
            default = base.priority_class
            for item in _items(value):
                role, _, name = item.rpartition("=")
                if dns1123_subdomain(name) is not None:
                    problems.append((key, f"{name!r} is not a PriorityClass name (a DNS-1123 subdomain)"))
                elif role and role not in role_ids:
                    problems.append((key, f"the cluster has no role {role!r} (roles: {', '.join(role_ids)})"))
                elif role:
                    roles[role] = name
                else:
                    default = name
            changes["priority_class"] = default
            changes["role_priority"] = tuple(sorted(roles.items()))
    return replace(base, **changes), problems


def settings_for(base: Production, annotations: dict, role_ids) -> Production:
    """The settings of one cluster (its annotations are valid: the rule checked them)."""
    return _parse(base, annotations, list(role_ids))[0]


def annotation_problems(base: Production, annotations: dict, role_ids) -> list[tuple[str, str]]:
    return _parse(base, annotations, list(role_ids))[1]
