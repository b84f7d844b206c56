"""quantities: resource amounts must be Kubernetes quantities, and requests may not exceed limits.

The API server refuses a pod whose request is above its limit ("must be less than or equal
to ... limit"); kdrender reports it at the cluster file instead.
"""

from ..k8s import parse_quantity

ID = "quantities"
TARGET = "cluster"


def check(ctx):
    for i, role in enumerate(ctx.spec.get("roles") or []):
        resources = role.get("resources") or {}
        limits = resources.get("limits") or {}
        requests = resources.get("requests") or {}
        base = ("spec", "roles", i, "resources")
        for kind, values in (("limits", limits), ("requests", requests)):
            for name, value in values.items():
                if parse_quantity(value) is None:
                    yield base + (kind, name), f"{value!r} is not a Kubernetes quantity (like 2, 500m, 4Gi)"
                elif parse_quantity(value) < 0:
                    yield base + (kind, name), f"{value!r} must not be negative"
        for name, value in requests.items():
            req, lim = parse_quantity(value), parse_quantity(limits.get(name))
            if req is not None and lim is not None and req > lim:
                yield base + ("requests", name), (
                    f"request {value} must be less than or equal to the {name} limit {limits[name]}")
