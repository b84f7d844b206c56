"""secret-prefix: secrets named by the cluster must carry the config's ``requiredSecretPrefix``.

KubeDirector: "defaultSecret(x) does not have the required name prefix(p)." and
"Secret(x) for role(r) does not have the required name prefix(p)."  Whether the Secret exists
cannot be known without a cluster; the pod stays Pending until it does.
"""

ID = "secret-prefix"
TARGET = "cluster"


def check(ctx):
    prefix = ctx.config.get("requiredSecretPrefix") or ""
    if not prefix:
        return
    default = ctx.spec.get("defaultSecret")
    if isinstance(default, dict) and not str(default.get("name", "")).startswith(prefix):
        yield ("spec", "defaultSecret", "name"), (
            f"defaultSecret({default.get('name')}) does not have the required name prefix({prefix}).")
    for i, role in enumerate(ctx.spec.get("roles") or []):
        secret = role.get("secret")
        if isinstance(secret, dict) and not str(secret.get("name", "")).startswith(prefix):
            yield ("spec", "roles", i, "secret", "name"), (
                f"Secret({secret.get('name')}) for role({role.get('id')}) does not have the required name prefix({prefix}).")
