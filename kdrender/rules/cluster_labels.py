"""labels: role labels and annotations must be valid Kubernetes labels and annotations.

Pod labels become StatefulSet pod template labels; they may not change the labels kdrender
uses in selectors (``kubedirector.hpe.com/kdcluster`` and ``kubedirector.hpe.com/role``,
and ``kubedirector.hpe.com/headless`` for the headless Service), or the selector would no
longer match its pods.
"""

from ..k8s import label_value, qualified_name

ID = "labels"
TARGET = "cluster"

SELECTOR_KEYS = ("kubedirector.hpe.com/kdcluster", "kubedirector.hpe.com/role", "kubedirector.hpe.com/headless")


def check_maps(owner_path, owner, kinds=("podLabels", "serviceLabels", "podAnnotations", "serviceAnnotations")):
    for field in kinds:
        mapping = owner.get(field) or {}
        is_label = field.endswith("Labels")
        total = 0
        for key, value in mapping.items():
            path = owner_path + (field, key)
            # the API server matches annotation keys in lower case (Example.COM/Owner is valid)
            reason = qualified_name(key if is_label else key.lower())
            if reason:
                yield path, f"{'label' if is_label else 'annotation'} key {key!r} is invalid: {reason}"
            if is_label:
                reason = label_value(value)
                if reason:
                    yield path, f"label value {value!r} is invalid: {reason}"
                if field == "podLabels" and key in SELECTOR_KEYS:
                    yield path, f"pod label {key!r} is set by kdrender and used in selectors; it cannot be overridden"
            total += len(key) + len(value)
        if not is_label and total > 256 * 1024:
            yield owner_path + (field,), "annotations may not be larger than 256 KiB in all"


def check(ctx):
    for i, role in enumerate(ctx.spec.get("roles") or []):
        yield from check_maps(("spec", "roles", i), role)
