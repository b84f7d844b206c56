"""update-master-key: ``masterEncryptionKey`` is fixed while clusters exist.

KubeDirector: "masterEncryptionKey value cannot be changed while kdclusters exist" (changing
or removing it would leave every ``encryptedValue`` undecryptable).
"""

ID = "update-master-key"
TARGET = "config"


def check(ctx):
    if ctx.removed or not ctx.clusters:
        return
    old, new = ctx.base_settings.get("masterEncryptionKey"), ctx.head_settings.get("masterEncryptionKey")
    if old and old != new:
        yield ctx.path + ("masterEncryptionKey",), "masterEncryptionKey value cannot be changed while kdclusters exist"
