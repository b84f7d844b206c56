"""package-http: setup packages fetched over plain ``http://`` (a warning).

The in-pod agent downloads them as root and runs the setup package's startscript; over
``http://`` anyone on the path can read or replace them.  Use ``https://`` (or a ``file://``
package inside the image).  A warning: KubeDirector accepts such URLs.
"""

ID = "package-http"
TARGET = "app"
LEVEL = "warning"


def is_plain_http(url) -> bool:
    return isinstance(url, str) and url[:7].lower() == "http://"


def message(what: str) -> str:
    return f"{what} is fetched over plain http://, which anyone on the network path can read or alter; use https://"


def check(ctx):
    package = ctx.spec.get("defaultConfigPackage")
    if isinstance(package, dict) and is_plain_http(package.get("packageURL")):
        yield ("spec", "defaultConfigPackage", "packageURL"), message("the default setup package")
    for i, role in enumerate(ctx.spec.get("roles") or []):
        package = role.get("configPackage") if isinstance(role, dict) else None
        if isinstance(package, dict) and is_plain_http(package.get("packageURL")):
            yield ("spec", "roles", i, "configPackage", "packageURL"), (
                message(f"the setup package of role {role.get('id')!r}"))
