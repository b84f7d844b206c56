"""role-image: every role needs an image, its own ``imageRepoTag`` or the app's ``defaultImageRepoTag``.

KubeDirector: "Role(x) has no specified image, and no top-level default image is specified."
"""

ID = "role-image"
TARGET = "app"


def check(ctx):
    spec = ctx.spec
    if spec.get("defaultImageRepoTag"):
        return
    for i, role in enumerate(spec.get("roles") or []):
        if not role.get("imageRepoTag"):
            yield ("spec", "roles", i), (
                f"Role({role.get('id')}) has no specified image, and no top-level default image is specified.")
