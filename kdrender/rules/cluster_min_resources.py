"""min-resources: role requests must reach the app role's ``minResources``.

Values are compared as KubeDirector does, rounded up to whole units; a missing request counts
as 0.  KubeDirector: ``Specified resource("k") value("v") for role("r") is invalid. Minimum
value must be "m".``
"""

from ..quantity import parse_quantity, quantity_value

ID = "min-resources"
TARGET = "cluster"


def check(ctx):
    for i, role in enumerate(ctx.spec.get("roles") or []):
        app_role = ctx.app_role(role.get("id"))
        if not app_role:
            continue
        requests = (role.get("resources") or {}).get("requests") or {}
        for name, minimum in sorted((app_role.get("minResources") or {}).items()):
            if parse_quantity(minimum) in (None, 0):
                continue
            value = requests.get(name, "0")
            if parse_quantity(value) is None:
                continue  # reported by the quantities rule
            if quantity_value(value) < quantity_value(minimum):
                path = ("spec", "roles", i, "resources", "requests") + ((name,) if name in requests else ())
                yield path, (f'Specified resource("{name}") value("{value}") for role("{role.get("id")}") is invalid. '
                             f'Minimum value must be "{minimum}".')
