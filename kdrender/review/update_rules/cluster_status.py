"""update-status: the exported status of an adopted cluster is read-only.

KubeDirector: "KubeDirector-related status properties are read-only".  kdrender reads the
status of a cluster exported from KubeDirector (names, node ids); editing it in Git would
rename objects or reuse node ids.
"""

from . import first_difference

ID = "update-status"
TARGET = "cluster"


def check(ctx):
    if ctx.head is None:
        return
    old, new = ctx.base.data.get("status"), ctx.head.data.get("status")
    if old != new:
        yield ("status",) + first_difference(old or {}, new or {}), "KubeDirector-related status properties are read-only"
