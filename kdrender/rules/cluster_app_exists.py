"""app-exists: the cluster's ``spec.app`` must be a KubeDirectorApp in the repo's catalog.

KubeDirector: "Invalid app(x). This app resource ID has not been registered."
"""

ID = "app-exists"
TARGET = "cluster"


def check(ctx):
    if ctx.app is None:
        yield ("spec", "app"), (
            f"Invalid app({ctx.app_name}). This app resource ID has not been registered. "
            f"(no KubeDirectorApp named {ctx.app_name!r} in catalog/)")
