"""duplicate-object: two documents may not define the same object.

Two clusters with one name in one namespace would be one Kubernetes object (the second
silently replacing the first), and so would two apps with one name in the catalog.
"""

ID = "duplicate-object"
TARGET = "repo"


def check(ctx):
    seen = {}
    for app in ctx.apps:
        name = app.doc.name
        if name in seen:
            first = seen[name]
            yield app.doc, ("metadata", "name"), (
                f"KubeDirectorApp {name!r} is already defined in {first.file}:{first.where(('metadata', 'name'))[0]}")
        else:
            seen[name] = app.doc
    seen = {}
    for cluster in ctx.clusters:
        key = (cluster.namespace, cluster.name)
        if key in seen:
            first = seen[key]
            yield cluster.doc, ("metadata", "name"), (
                f"KubeDirectorCluster {cluster.name!r} in namespace {cluster.namespace!r} is already defined in "
                f"{first.file}:{first.where(('metadata', 'name'))[0]}")
        else:
            seen[key] = cluster.doc
