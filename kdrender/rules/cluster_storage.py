"""storage: storage sizes must be quantities greater than zero: whole bytes, at most 2^63-1 of them.

KubeDirector: "Storage size for role (x) is incorrectly defined." and "Storage size for role
(x) should be greater than zero."  The same applies to ``blockStorage.size``.  A size beyond
9223372036854775807 bytes is one the API server stores differently (``8Ei``) or no volume has.
"""

from ..quantity import beyond, fractional_bytes, parse_quantity

ID = "storage"
TARGET = "cluster"


def check(ctx):
    for i, role in enumerate(ctx.spec.get("roles") or []):
        rid = role.get("id")
        for field in ("storage", "blockStorage"):
            storage = role.get(field)
            if not isinstance(storage, dict) or "size" not in storage:
                continue
            size = parse_quantity(storage["size"])
            path = ("spec", "roles", i, field, "size")
            if size is None:
                yield path, f"Storage size for role ({rid}) is incorrectly defined."
            elif size <= 0:
                yield path, f"Storage size for role ({rid}) should be greater than zero."
            elif problem := beyond(storage["size"], "bytes") or fractional_bytes(storage["size"]):
                yield path, problem
