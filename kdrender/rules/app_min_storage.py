"""min-storage-size: a role's ``minStorage.size`` must be a Kubernetes quantity.

KubeDirector: "Minimum storage size for role (x) is incorrectly defined."
"""

from ..quantity import parse_quantity

ID = "min-storage-size"
TARGET = "app"


def check(ctx):
    for i, role in enumerate(ctx.spec.get("roles") or []):
        min_storage = role.get("minStorage")
        if isinstance(min_storage, dict) and parse_quantity(min_storage.get("size")) is None:
            yield ("spec", "roles", i, "minStorage", "size"), (
                f"Minimum storage size for role ({role.get('id')}) is incorrectly defined.")
