"""update-app: a cluster's ``spec.app`` and ``spec.appCatalog`` never change.

KubeDirector: "The app property is read-only." and "The appCatalog property is read-only."
(``appCatalog`` compared after defaulting: ``local`` when not written).  To move a cluster to
another app, create a new cluster.
"""

ID = "update-app"
TARGET = "cluster"


def check(ctx):
    if ctx.head_spec is None:
        return
    for field in ("app", "appCatalog"):
        if ctx.base_spec.get(field) != ctx.head_spec.get(field):
            yield ("spec", field), f"The {field} property is read-only."
