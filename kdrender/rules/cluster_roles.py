"""roles: cluster roles must be app roles, unique, and include every active role.

KubeDirector: ``Invalid role(x) in app(y) specified. Valid roles: "..."``,
"Each id in the roles array must be unique." and
"Active role(x) in app(y) must have its configuration included in the roles array."
(an active role is one in ``selectedRoles`` whose cardinality minimum is not 0).
"""

from ..cardinality import parse_cardinality

ID = "roles"
TARGET = "cluster"


def check(ctx):
    if ctx.app is None:
        return
    app_roles = [r["id"] for r in ctx.app["roles"]]
    seen = set()
    for i, role in enumerate(ctx.spec.get("roles") or []):
        rid = role.get("id")
        if rid not in app_roles:
            yield ("spec", "roles", i, "id"), (
                f'Invalid role({rid}) in app({ctx.app_name}) specified. Valid roles: "{",".join(app_roles)}"')
        if rid in seen:
            yield ("spec", "roles", i, "id"), "Each id in the roles array must be unique."
        seen.add(rid)
    for rid in ctx.app["config"].get("selectedRoles") or []:
        app_role = ctx.app_role(rid)
        if app_role is None or rid in seen:
            continue
        minimum, _ = parse_cardinality(app_role["cardinality"])
        if minimum != 0:
            yield ("spec", "roles"), (
                f"Active role({rid}) in app({ctx.app_name}) must have its configuration included in the roles array.")
