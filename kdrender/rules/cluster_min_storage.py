"""min-storage: roles whose app role has ``minStorage`` need at least that much storage.

Storage may be left out only when ``ephemeralModeSupported`` is true.  KubeDirector:
``Specified persistent storage size("s") for role("r") is invalid. Minimum size must be "m".``
"""

from ..quantity import parse_quantity

ID = "min-storage"
TARGET = "cluster"


def check(ctx):
    for i, role in enumerate(ctx.spec.get("roles") or []):
        app_role = ctx.app_role(role.get("id"))
        min_storage = (app_role or {}).get("minStorage")
        if not min_storage:
            continue
        minimum = parse_quantity(min_storage.get("size"))
        if minimum is None:
            continue
        storage = role.get("storage")
        if not storage:
            if not min_storage.get("ephemeralModeSupported"):
                yield ("spec", "roles", i), (
                    f'Specified persistent storage size("") for role("{role.get("id")}") is invalid. '
                    f'Minimum size must be "{min_storage["size"]}".')
            continue
        size = parse_quantity(storage.get("size"))
        if size is not None and size < minimum:
            yield ("spec", "roles", i, "storage", "size"), (
                f'Specified persistent storage size("{storage["size"]}") for role("{role.get("id")}") is invalid. '
                f'Minimum size must be "{min_storage["size"]}".')
