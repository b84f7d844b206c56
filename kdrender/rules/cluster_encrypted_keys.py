"""encrypted-secret-keys: a new cluster may not bring its own ``secretKeys[].encryptedValue``.

KubeDirector's webhook encrypts ``value`` itself and accepts an ``encryptedValue`` only when it is
the one already stored for that key: "manually setting secret key (%s) encrypted value is
forbidden".  Without a cluster to ask, a cluster file is new when it carries no ``status`` (a
cluster exported from a running KubeDirector keeps its status and its stored encrypted values).
"""

ID = "encrypted-secret-keys"
TARGET = "cluster"


def check(ctx):
    if ctx.doc.data.get("status"):
        return
    for i, role in enumerate(ctx.spec.get("roles") or []):
        for j, key in enumerate(role.get("secretKeys") or []):
            if key.get("encryptedValue") and not key.get("value"):
                yield ("spec", "roles", i, "secretKeys", j, "encryptedValue"), (
                    f"manually setting secret key ({key.get('name')}) encrypted value is forbidden "
                    "(a new cluster, without the status of an exported one: KubeDirector encrypts the values itself)")
