"""production-annotations: the ``kdrender.dev/*`` annotations of a cluster must be known and well formed.

They switch kdrender's production objects per cluster (README "Production objects"):
``pod-disruption-budget`` (true, false or a maxUnavailable such as 2 or 25%), ``network-policy``
and ``readiness-probe`` (true or false), ``network-policy-allow-from`` (namespaces and CIDRs,
comma-separated), ``topology-spread`` (none, nodes, zones or nodes,zones) and ``priority-class``
(NAME for every role and/or ROLE=NAME, comma-separated).  Other annotations are left alone.
"""

from ..production import annotation_problems

ID = "production-annotations"
TARGET = "cluster"


def check(ctx):
    annotations = (ctx.doc.data.get("metadata") or {}).get("annotations") or {}
    roles = [r.get("id") for r in ctx.spec.get("roles") or [] if isinstance(r, dict)]
    for key, message in annotation_problems(ctx.config.production, annotations, roles):
        yield ("metadata", "annotations", key), message
