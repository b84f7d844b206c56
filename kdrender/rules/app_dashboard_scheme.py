"""dashboard-scheme: a service endpoint marked ``isDashboard`` needs a ``urlScheme``.

KubeDirector: "The endpoint for service(x) must include a urlScheme value because isDashboard is true."
"""

ID = "dashboard-scheme"
TARGET = "app"


def check(ctx):
    for i, service in enumerate(ctx.spec.get("services") or []):
        endpoint = service.get("endpoint") or {}
        if endpoint.get("isDashboard") and not endpoint.get("urlScheme"):
            yield ("spec", "services", i, "endpoint"), (
                f"The endpoint for service({service.get('id')}) must include a urlScheme value because isDashboard is true.")
