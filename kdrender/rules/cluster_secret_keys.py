"""secret-keys: no plaintext secret in a cluster file: ``secretKeys[].value`` is refused.

KubeDirector encrypts a plaintext value at admission, but in Git the value is plaintext in every
clone, CI log and review.  Keep the name in ``secretKeys`` without a value and the value in a Secret
named by the cluster annotation ``kdrender.dev/secret-keys`` (the agent fills it into configmeta in
the pod), managed with Sealed Secrets, SOPS or External Secrets.  An exported cluster
(``kubectl get kdcluster -o yaml``) whose ``kubectl.kubernetes.io/last-applied-configuration``
annotation still holds a plaintext value is refused too: remove the annotation.  Values are never
shown.  ``encryptedValue`` entries are kept encrypted and never decrypted into the bundle.
"""

import json

ID = "secret-keys"
TARGET = "cluster"

LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
ADVICE = ("keep the name without a value and the value in a Secret named by the cluster annotation "
          "kdrender.dev/secret-keys (filled in the pod), managed with Sealed Secrets, SOPS or External Secrets")


def plaintext_keys(spec):
    """(role index, role id, key index, key name) of every secret key with a plaintext value."""
    roles = spec.get("roles") if isinstance(spec, dict) else None
    for i, role in enumerate(roles if isinstance(roles, list) else []):
        keys = role.get("secretKeys") if isinstance(role, dict) else None
        for j, key in enumerate(keys if isinstance(keys, list) else []):
            if isinstance(key, dict) and key.get("value"):
                yield i, role.get("id"), j, key.get("name")


def _last_applied(metadata):
    annotations = metadata.get("annotations") if isinstance(metadata, dict) else None
    text = annotations.get(LAST_APPLIED) if isinstance(annotations, dict) else None
    if not isinstance(text, str):
        return None, None
    try:
        data = json.loads(text)
    except ValueError:
        return text, None
    return text, data if isinstance(data, dict) else {}


def check(ctx):
    for i, _, j, name in plaintext_keys(ctx.spec):
        yield ("spec", "roles", i, "secretKeys", j, "value"), (
            f"plaintext secret key {name!r} must not be in Git (the value is not shown); {ADVICE}")
    text, applied = _last_applied(ctx.doc.data.get("metadata"))
    path = ("metadata", "annotations", LAST_APPLIED)
    if applied is None and text is not None and "secretKeys" in text:
        yield path, ("cannot be read as JSON and mentions secretKeys, so it may hold a plaintext secret; "
                     "remove this annotation from the exported file")
    for _, role, _, name in plaintext_keys((applied or {}).get("spec")):
        yield path, (f"holds the plaintext value of secret key {name!r} of role {role!r} (not shown); remove this "
                     f"annotation from the exported file and {ADVICE}")
