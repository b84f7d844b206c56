"""secret-keys: plaintext ``secretKeys[].value`` is not rendered.

KubeDirector encrypts a plaintext value at admission and decrypts it into configmeta.  A
renderer must never write secret values into a bundle, so kdrender leaves such keys out of
configmeta and warns; keep the value in a Secret and connect it instead
(``spec.connections.secrets``).  ``encryptedValue`` entries are kept encrypted and never
decrypted into the bundle.
"""

ID = "secret-keys"
TARGET = "cluster"
LEVEL = "warning"


def check(ctx):
    for i, role in enumerate(ctx.spec.get("roles") or []):
        for j, key in enumerate(role.get("secretKeys") or []):
            if key.get("value"):
                yield ("spec", "roles", i, "secretKeys", j, "value"), (
                    f"plaintext secret key {key.get('name')!r} is not rendered (values never enter the bundle); "
                    "keep it in a Secret and list it under spec.connections.secrets")
