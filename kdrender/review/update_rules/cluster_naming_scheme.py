"""update-naming-scheme: a cluster's naming scheme never changes.

KubeDirector lets ``spec.namingScheme`` change because it only affects objects created later;
kdrender renders every object from it, so a change renames (deletes and re-creates) every
StatefulSet, Service and PVC of the cluster.  Compared after defaulting, so changing
``defaultNamingScheme`` in kdrender.yaml is caught too.
"""

ID = "update-naming-scheme"
TARGET = "cluster"


def check(ctx):
    if ctx.head_spec is None:
        return
    old, new = ctx.base_spec.get("namingScheme"), ctx.head_spec.get("namingScheme")
    if old != new:
        path = ("spec", "namingScheme") if "namingScheme" in ctx.head.data["spec"] else ("metadata", "name")
        yield path, (f"The namingScheme property cannot change from {old} to {new} while the cluster exists: every "
                     "object and PVC of the cluster would be renamed (deleted and re-created).")
