"""update-roles: a role with members may change only its member count.

KubeDirector: "Role(x) properties other than the members count cannot be modified while role
members exist."  A role has members when the base revision gives it at least one.  The roles
are compared as written, with the storage class defaulted on both sides (as the webhook
defaults it in memory); removing a role is allowed (its members are deleted).
"""

from . import first_difference, without

ID = "update-roles"
TARGET = "cluster"


def _role(role: dict, storage_class) -> dict:
    role = without(role, "members")
    storage = role.get("storage")
    if isinstance(storage, dict) and not storage.get("storageClassName") and storage_class:
        storage["storageClassName"] = storage_class
    return role


def check(ctx):
    if ctx.head is None:
        return
    members = {role["id"]: role.get("members", 0) for role in ctx.base_spec.get("roles") or []}
    base_roles = {r.get("id"): r for r in ctx.base.data["spec"].get("roles") or []}
    for i, role in enumerate(ctx.head.data["spec"].get("roles") or []):
        rid = role.get("id")
        if rid not in base_roles or not members.get(rid):
            continue
        old, new = _role(base_roles[rid], ctx.storage_class), _role(role, ctx.storage_class)
        if old != new:
            yield ("spec", "roles", i) + first_difference(old, new), (
                f"Role({rid}) properties other than the members count cannot be modified while role members exist.")
