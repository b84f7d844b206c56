"""connections: connected clusters must exist in the repo, in the same namespace.

KubeDirector silently skips a connection to a missing cluster; in a Git repo that is almost
always a typo, so kdrender reports it.  ConfigMaps and Secrets are not in the repo and are not
checked.
"""

ID = "connections"
TARGET = "repo"


def check(ctx):
    names = ctx.names
    for cluster in ctx.clusters:
        connections = cluster.spec.get("connections") or {}
        for i, other in enumerate(connections.get("clusters") or []):
            if (cluster.namespace, other) not in names:
                yield cluster.doc, ("spec", "connections", "clusters", i), (
                    f"connected cluster {other!r} does not exist in namespace {cluster.namespace!r} of this repo")
            elif other == cluster.name:
                yield cluster.doc, ("spec", "connections", "clusters", i), "a cluster cannot connect to itself"
