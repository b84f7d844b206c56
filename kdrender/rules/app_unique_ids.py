"""unique-ids: role ids and service ids of an app must be unique.

KubeDirector: "Each id in the roles array must be unique." and
"Each id in the services array must be unique."
"""

ID = "unique-ids"
TARGET = "app"


def _dups(items, what, message):
    seen = set()
    for i, item in enumerate(items or []):
        ident = item.get("id") if isinstance(item, dict) else None
        if ident in seen:
            yield ("spec", what, i, "id"), message
        seen.add(ident)


def check(ctx):
    spec = ctx.spec
    yield from _dups(spec.get("roles"), "roles", "Each id in the roles array must be unique.")
    yield from _dups(spec.get("services"), "services", "Each id in the services array must be unique.")
