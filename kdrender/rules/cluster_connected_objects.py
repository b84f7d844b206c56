"""connected-objects: what the agent fills into configmeta from the cluster, and cannot be checked offline.

KubeDirector lists connected ConfigMaps and Secrets in configmeta under their
``kubedirector.hpe.com/cmType`` / ``secretType`` label and skips missing or unlabelled ones.
kdrender's agent fills them in the pod from their mounts (their content never enters Git or the
bundle); the type comes from the object when the cluster's file holds it, else from the
annotations ``kdrender.dev/configmap-types`` / ``kdrender.dev/secret-types`` (``"<name>=<type>"``).
Warned: connected objects that are not in the repo (whether they exist cannot be checked
offline; an empty one is told from a missing one by the key ``kdrender.dev-exists``), objects of unknown type (left out of configmeta), the ``secret_keys`` Secret named by
``kdrender.dev/secret-keys``, roles whose ``secretKeys`` no Secret fills, and auth tokens an
adopted cluster's status records (kept only when copied into the ``<headless>-auth-tokens``
Secret; kdrender never renders them).
"""

from ..inpod import ANN_SECRET_KEYS, EXISTS_KEY, KINDS, connected_objects, secret_key_names

ID = "connected-objects"
TARGET = "cluster"
LEVEL = "warning"


def check(ctx):
    metadata = ctx.doc.data.get("metadata") or {}
    annotations = metadata.get("annotations") or {}
    conns = ctx.spec.get("connections") or {}
    for what, name, kind_type, _labels, _notes, in_repo in connected_objects(ctx, annotations):
        kind, label, ann = KINDS[what]
        index = (conns.get(what) or []).index(name)
        notes = []
        if not in_repo:
            notes.append("is not in this repo: whether it exists cannot be checked offline (the agent "
                         "leaves it out of configmeta while it is missing, and while it is empty unless it "
                         f"holds the key {EXISTS_KEY})")
        if not kind_type:
            notes.append(f"has no {label} known to kdrender, so it is left out of configmeta as KubeDirector "
                         f"leaves out unlabelled objects; declare it with the annotation {ann}: \"{name}=<type>\" "
                         "or keep the object in the cluster's file")
        if notes:
            yield ("spec", "connections", what, index), f"connected {kind} {name!r} " + "; it ".join(notes)
    secret = annotations.get(ANN_SECRET_KEYS)
    for i, role in enumerate(ctx.spec.get("roles") or []):
        names = secret_key_names(role)
        plain = [k.get("name") for k in role.get("secretKeys") or []
                 if k.get("name") in names and not k.get("encryptedValue")]
        if plain and not secret:
            yield ("spec", "roles", i, "secretKeys"), (
                f"secretKeys {', '.join(plain)} of role {role.get('id')!r} are left out of configmeta: name the "
                f"Secret that holds them with the annotation {ANN_SECRET_KEYS}")
        elif names and secret:
            yield ("spec", "roles", i, "secretKeys"), (
                f"secretKeys of role {role.get('id')!r} are filled in the pod from Secret {secret!r}, whose "
                "presence cannot be checked offline")
    status = ctx.doc.data.get("status") or {}
    recorded = sum(1 for role in status.get("roles") or [] for member in role.get("members") or []
                   if isinstance(member, dict) and member.get("authToken"))
    if recorded:
        headless = status.get("clusterService") or "<headless>"
        yield ("status",), (
            f"the status records auth tokens of {recorded} member(s); kdrender never renders them: to keep them, "
            f"store each under its pod's name in Secret '{headless}-auth-tokens' (README, configmeta)")
