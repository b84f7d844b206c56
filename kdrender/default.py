"""Stage 3, default: fill in what KubeDirector's admission webhook fills in (spec section 4).

Pure functions from validated data to new, defaulted data; the input is never changed.
"""

from __future__ import annotations

import copy

from .cardinality import members_for

DEFAULT_MAX_LOG_SIZE_DUMP = 256


def default_app(spec: dict) -> dict:
    """Push the app-level defaults into each role and drop them from the spec, as the webhook does."""
    spec = copy.deepcopy(spec)
    image = spec.pop("defaultImageRepoTag", None)
    package = spec.pop("defaultConfigPackage", None)
    persist_dirs = spec.pop("defaultPersistDirs", None)
    events = spec.pop("defaultEventList", None)
    max_log = spec.pop("defaultMaxLogSizeDump", None)
    for role in spec["roles"]:
        if not role.get("imageRepoTag"):
            if not image:
                continue  # reported by the role-image rule; KubeDirector skips the rest too
            role["imageRepoTag"] = image
        if "configPackage" not in role:  # an explicit null means "no package"
            role["configPackage"] = copy.deepcopy(package)
        if role.get("persistDirs") is None and persist_dirs is not None:
            role["persistDirs"] = list(persist_dirs)
        if role.get("eventList") is None and events is not None:
            role["eventList"] = list(events)
        if role.get("maxLogSizeDump") is None:
            role["maxLogSizeDump"] = max_log if max_log is not None else DEFAULT_MAX_LOG_SIZE_DUMP
    spec.setdefault("services", [])
    spec.setdefault("capabilities", [])
    spec.setdefault("systemdRequired", False)
    spec["config"].setdefault("configMeta", None)
    return spec


def default_cluster(spec: dict, app_spec: dict, settings: dict) -> dict:
    """Fill members, appCatalog, serviceType, namingScheme, storage class and role secrets."""
    spec = copy.deepcopy(spec)
    spec.setdefault("appCatalog", "local")
    spec["serviceType"] = spec.get("serviceType") or settings["defaultServiceType"]
    spec["namingScheme"] = spec.get("namingScheme") or settings["defaultNamingScheme"]
    app_roles = {role["id"]: role for role in app_spec["roles"]}
    default_secret = spec.get("defaultSecret")
    storage_class = settings.get("defaultStorageClassName")
    for role in spec["roles"]:
        role["members"] = members_for(role, app_roles[role["id"]])
        storage = role.get("storage")
        if isinstance(storage, dict) and not storage.get("storageClassName") and storage_class:
            storage["storageClassName"] = storage_class
        if not role.get("secret") and default_secret:  # absent or null, as a nil pointer in KubeDirector
            role["secret"] = copy.deepcopy(default_secret)
    return spec
