"""volume-projections: projected PVC mount paths must be unique in the role and not clash with system mounts.

System mounts are ``/tmp``, ``/run``, ``/run/lock``, the role's secret mount, ``/dev/shm`` and,
for systemd apps, the cgroup mounts.  KubeDirector: "Specified mountPath(p) for role(r) is
invalid. It must be unique within the role." and "... It clashes with system generated mountPath."
A claim used by more than one member needs ReadWriteMany or ReadOnlyMany access; that cannot be
checked without a cluster.

kdrender also refuses a mount path that is one of the role's persist directories (``/etc``,
``/opt``, ... on a role with ``storage``): KubeDirector leaves those out of its check, and the API
server then refuses the StatefulSet for a duplicate ``mountPath``.
"""

import posixpath

from ..resolve import persist_dirs

ID = "volume-projections"
TARGET = "cluster"


def check(ctx):
    secret_default = ctx.spec.get("defaultSecret")
    systemd = bool((ctx.app or {}).get("systemdRequired")) and not ctx.config.get("nativeSystemdSupport")
    for i, role in enumerate(ctx.spec.get("roles") or []):
        system = {"/tmp", "/run", "/run/lock"}
        secret = role.get("secret") or secret_default
        if isinstance(secret, dict) and secret.get("mountPath"):
            system.add(posixpath.normpath(secret["mountPath"]))
        if role.get("sharedMemory"):
            system.add("/dev/shm")
        if systemd:
            system |= {"/sys/fs/cgroup", "/sys/fs/cgroup/systemd"}
        app_role = ctx.app_role(role.get("id"))  # None: the app or role is missing (reported elsewhere)
        persist = set(persist_dirs(app_role.get("configPackage"), app_role.get("persistDirs"))
                      if role.get("storage") and app_role else ())
        seen = set()
        for j, projection in enumerate(role.get("volumeProjections") or []):
            mount = posixpath.normpath(projection.get("mountPath", ""))
            path = ("spec", "roles", i, "volumeProjections", j, "mountPath")
            if mount in seen:
                yield path, f"Specified mountPath({projection.get('mountPath')}) for role({role.get('id')}) is invalid. It must be unique within the role."
            elif mount in system:
                yield path, f"Specified mountPath({projection.get('mountPath')}) for role({role.get('id')}) is invalid. It clashes with system generated mountPath."
            elif mount in persist:
                yield path, (f"Specified mountPath({projection.get('mountPath')}) for role({role.get('id')}) is invalid. "
                             f"It clashes with the persist directory {mount} that the role's storage is mounted on.")
            seen.add(mount)
