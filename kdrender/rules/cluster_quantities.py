"""quantities: resource amounts must be Kubernetes quantities a node can have, and requests may not exceed limits.

Each value must be a quantity (like 2, 500m, 4Gi), not negative, and at most 2^63-1 in the unit
Kubernetes counts it in: millicores for cpu (9223372036854775807m), bytes for memory and
ephemeral-storage (a whole number of them: the API server calls ``memory: 1.5`` invalid), units
for anything else.  Beyond that the API server stores another value
(``8Ei`` is capped to 9223372036854775807, ``1000E`` is written ``1``) or spends minutes on the
digits (``1e999999999``), and no node can ever run the pod.  An extended resource (``nvidia.com/gpu``)
is counted in whole units; Kubernetes does not overcommit it or huge pages (``hugepages-2Mi``): a
request must equal its limit, and needs one.  The API server refuses a pod whose request is above its limit
("must be less than or equal to ... limit"); kdrender reports each of these at the cluster file instead.
"""

from ..quantity import beyond, canonical, extended, fractional_bytes, not_whole, parse_quantity, unit

ID = "quantities"
TARGET = "cluster"


def check(ctx):
    for i, role in enumerate(ctx.spec.get("roles") or []):
        resources = role.get("resources") or {}
        limits = resources.get("limits") or {}
        requests = resources.get("requests") or {}
        base = ("spec", "roles", i, "resources")
        bad = set()
        for kind, values in (("limits", limits), ("requests", requests)):
            for name, value in values.items():
                problem = _problem(name, value)
                if problem:
                    bad.add((kind, name))
                    yield base + (kind, name), problem
        for name, value in requests.items():
            if ("requests", name) in bad or ("limits", name) in bad:
                continue
            if _no_overcommit(name) and name not in limits:
                yield base + ("requests", name), f"{name} needs a limit too: Kubernetes does not overcommit it"
                continue
            req, lim = parse_quantity(value), parse_quantity(limits.get(name))
            if lim is None:
                continue
            if _no_overcommit(name) and req != lim:
                yield base + ("requests", name), (
                    f"request {canonical(value)} must equal the {name} limit {canonical(limits[name])} "
                    "(Kubernetes does not overcommit it)")
            elif req > lim:
                yield base + ("requests", name), (
                    f"request {value} must be less than or equal to the {name} limit {limits[name]}")


def _no_overcommit(name: str) -> bool:
    """Kubernetes' ``!IsOvercommitAllowed``: extended resources and huge pages."""
    return extended(name) or name.startswith("hugepages-")


def _problem(name, value) -> str | None:
    q = parse_quantity(value)
    if q is None:
        return f"{value!r} is not a Kubernetes quantity (like 2, 500m, 4Gi)"
    if q < 0:
        return f"{value!r} must not be negative"
    too_big = beyond(value, unit(name))
    if too_big:
        return too_big
    if extended(name) and not_whole(value):
        return f"{value!r} must be a whole number: Kubernetes counts {name} in whole units"
    if unit(name) == "bytes":
        return fractional_bytes(value)
    return None
