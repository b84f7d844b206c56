"""config-refs: ``config.selectedRoles`` and ``config.roleServices`` must name real, unique roles and services.

KubeDirector's messages: "Each element of selectedRoles array in config section must be unique.",
"Each roleID in roleServices array in config section must be unique.",
``Invalid roleID(x) in roleServices array ...``, ``Invalid service_id(x) in roleServices array ...``
and ``Invalid element(x) in selectedRoles array ...``, each listing the valid ids.
"""

ID = "config-refs"
TARGET = "app"


def check(ctx):
    spec = ctx.spec
    config = spec.get("config") or {}
    role_ids = [r.get("id") for r in spec.get("roles") or []]
    service_ids = [s.get("id") for s in spec.get("services") or []]
    roles_text = ",".join(role_ids)
    services_text = ",".join(service_ids)
    seen = set()
    for i, role in enumerate(config.get("selectedRoles") or []):
        path = ("spec", "config", "selectedRoles", i)
        if role in seen:
            yield path, "Each element of selectedRoles array in config section must be unique."
        seen.add(role)
        if role not in role_ids:
            yield path, f'Invalid element({role}) in selectedRoles array in config section. Valid roles: "{roles_text}"'
    seen = set()
    for i, entry in enumerate(config.get("roleServices") or []):
        path = ("spec", "config", "roleServices", i)
        role = entry.get("roleID")
        if role in seen:
            yield path + ("roleID",), "Each roleID in roleServices array in config section must be unique."
        seen.add(role)
        if role not in role_ids:
            yield path + ("roleID",), (
                f'Invalid roleID({role}) in roleServices array in config section. Valid roles: "{roles_text}"')
        for j, service in enumerate(entry.get("serviceIDs") or []):
            if service not in service_ids:
                yield path + ("serviceIDs", j), (
                    f'Invalid service_id({service}) in roleServices array in config section. '
                    f'Valid services: "{services_text}"')
