"""shared-memory: ``sharedMemory`` must be a positive quantity, and allowed.

``forceSharedMemorySizeSupport: false`` in the config forbids it; unset, the target Kubernetes
version (``kdrender.kubernetesVersion``) must be 1.22 or newer.  KubeDirector's messages:
"Specifying shared memory size for role (x) not allowed; feature disabled by global KubeDirector
config.", "... requires K8s version >= 1.22.", "Shared memory size for role (x) is incorrectly
defined." and "... should be greater than zero."  It must be a whole number of bytes, at most 2^63-1 (the
emptyDir's ``sizeLimit``).
"""

from ..quantity import beyond, fractional_bytes, parse_quantity

ID = "shared-memory"
TARGET = "cluster"


def check(ctx):
    force = ctx.config.get("forceSharedMemorySizeSupport")
    for i, role in enumerate(ctx.spec.get("roles") or []):
        if "sharedMemory" not in role or role["sharedMemory"] is None:
            continue
        rid = role.get("id")
        path = ("spec", "roles", i, "sharedMemory")
        if force is False:
            yield path, f"Specifying shared memory size for role ({rid}) not allowed; feature disabled by global KubeDirector config."
            continue
        if force is None and not ctx.config.supports("sharedMemorySize"):
            yield path, f"Specifying shared memory size for role ({rid}) requires K8s version >= 1.22."
            continue
        size = parse_quantity(role["sharedMemory"])
        if size is None:
            yield path, f"Shared memory size for role ({rid}) is incorrectly defined."
        elif size <= 0:
            yield path, f"Shared memory size for role ({rid}) should be greater than zero."
        elif problem := beyond(role["sharedMemory"], "bytes") or fractional_bytes(role["sharedMemory"]):
            yield path, problem
