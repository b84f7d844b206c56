"""update-restoring: no spec change, and no delete, while a cluster is being restored.

KubeDirector: "spec changes not allowed while kubedirector.hpe.com/restoring label exists"
(the label is on both revisions; removing it is allowed) and "delete not allowed while
kubedirector.hpe.com/restoring label exists, unless
kubedirector.hpe.com/allow-delete-while-restoring label also exists".
"""

from . import ALLOW_DELETE, RESTORING, first_difference

ID = "update-restoring"
TARGET = "cluster"


def check(ctx):
    base_labels = ctx.labels(ctx.base)
    if RESTORING not in base_labels:
        return
    if ctx.head is None:
        if ALLOW_DELETE not in base_labels:
            yield ("metadata", "labels", RESTORING), (
                f"delete not allowed while {RESTORING} label exists, unless {ALLOW_DELETE} label also exists")
        return
    old, new = ctx.base.data.get("spec"), ctx.head.data.get("spec")
    if RESTORING in ctx.labels(ctx.head) and old != new:
        yield ("spec",) + first_difference(old, new), f"spec changes not allowed while {RESTORING} label exists"
