"""update-config-delete: the KubeDirectorConfig settings stay while clusters exist.

KubeDirector: "kd-global-config cannot be deleted while kdclusters exist".  Removing the
settings (the KubeDirectorConfig document, or the settings of kdrender.yaml) would re-render
every cluster with the defaults.
"""

ID = "update-config-delete"
TARGET = "config"


def check(ctx):
    if ctx.removed and ctx.clusters and ctx.base_settings != ctx.head_settings:
        yield ctx.path, "kd-global-config cannot be deleted while kdclusters exist"
