"""app-quantities: an app role's ``minResources`` and ``minStorage.size`` must be amounts a node can have.

At most 2^63-1 in the unit Kubernetes counts each in: millicores for cpu (9223372036854775807m),
bytes for memory and storage, units for anything else.  A larger minimum is one no cluster of
the app can ever meet (see the ``quantities`` rule).
"""

from ..quantity import beyond, unit

ID = "app-quantities"
TARGET = "app"


def check(ctx):
    for i, role in enumerate(ctx.spec.get("roles") or []):
        for name, value in (role.get("minResources") or {}).items():
            if too_big := beyond(value, unit(name)):
                yield ("spec", "roles", i, "minResources", name), too_big
        min_storage = role.get("minStorage")
        if isinstance(min_storage, dict) and (too_big := beyond(min_storage.get("size"), "bytes")):
            yield ("spec", "roles", i, "minStorage", "size"), too_big
