"""update-app-in-use: an app may not change while clusters use it.

KubeDirector: "KubeDirectorApp resource cannot be deleted or modified while referenced by the
following KubeDirectorCluster resources: ns/a, ns/b".  The specs are compared after
defaulting.  Publish a changed app under a new name (e.g. with its version) and move clusters
to it by re-creating them.
"""

from . import first_difference

ID = "update-app-in-use"
TARGET = "app"


def check(ctx):
    if ctx.clusters and ctx.base_spec != ctx.head_spec:
        yield ("spec",) + first_difference(ctx.base_spec, ctx.head_spec), (
            "KubeDirectorApp resource cannot be deleted or modified while referenced by the following "
            f"KubeDirectorCluster resources: {', '.join(ctx.clusters)}")
