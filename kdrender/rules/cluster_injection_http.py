"""injection-http: file injections fetched over plain ``http://`` (a warning).

The in-pod agent downloads them as root into the container; over ``http://`` anyone on the
path can read or replace them.  Use ``https://``.  A warning: KubeDirector accepts such URLs.
"""

from .app_package_http import is_plain_http, message

ID = "injection-http"
TARGET = "cluster"
LEVEL = "warning"


def check(ctx):
    for i, role in enumerate(ctx.spec.get("roles") or []):
        for j, injection in enumerate(role.get("fileInjections") or []):
            if isinstance(injection, dict) and is_plain_http(injection.get("srcURL")):
                yield ("spec", "roles", i, "fileInjections", j, "srcURL"), (
                    message(f"file injection {injection['srcURL']!r} of role {role.get('id')!r}"))
