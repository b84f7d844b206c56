"""update-secret-keys: an ``encryptedValue`` may not be set or changed by hand.

KubeDirector: "manually setting secret key (x) encrypted value is forbidden" when the
incoming ``encryptedValue`` of a role's secret key differs from the stored one.
"""

ID = "update-secret-keys"
TARGET = "cluster"


def _stored(spec: dict) -> dict:
    out = {}
    for role in spec.get("roles") or []:
        for key in role.get("secretKeys") or []:
            if isinstance(key, dict):
                out[(role.get("id"), key.get("name"))] = key.get("encryptedValue")
    return out


def check(ctx):
    if ctx.head is None:
        return
    stored = _stored(ctx.base.data["spec"])
    for i, role in enumerate(ctx.head.data["spec"].get("roles") or []):
        for j, key in enumerate(role.get("secretKeys") or []):
            if not isinstance(key, dict) or not key.get("encryptedValue"):
                continue
            if stored.get((role.get("id"), key.get("name"))) != key["encryptedValue"]:
                yield ("spec", "roles", i, "secretKeys", j, "encryptedValue"), (
                    f"manually setting secret key ({key.get('name')}) encrypted value is forbidden")
