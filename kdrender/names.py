"""Object names: KubeDirector's munging, kdrender's deterministic replacement for random suffixes."""

from __future__ import annotations

from .digest import sha256

NAME_LENGTH_LIMIT = 46  # KubeDirector's nameLengthLimit
SUFFIX_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"  # the API server's generateName alphabet


def mung(name: str) -> str:
    """KubeDirector's ``MungObjectName``: '.' and '_' become '-', lower case, cut to 46.

    At index 45 a '.' or '_' is dropped instead of replaced, exactly as KubeDirector does.
    """
    out = []
    for i, ch in enumerate(name[:NAME_LENGTH_LIMIT]):
        if ch in "._":
            if i != NAME_LENGTH_LIMIT - 1:
                out.append("-")
        else:
            out.append(ch.lower())
    return "".join(out)


def suffix(key: str) -> str:
    """A stable 5-character suffix from the generateName alphabet (replaces the random one)."""
    number = int.from_bytes(sha256(key.encode()).digest()[:8], "big")
    chars = []
    for _ in range(5):
        number, rest = divmod(number, len(SUFFIX_ALPHABET))
        chars.append(SUFFIX_ALPHABET[rest])
    return "".join(chars)


CUT_KEEP = NAME_LENGTH_LIMIT - 6  # characters kept before "-<suffix>" when a name is cut
LABEL_VALUE_LIMIT = 63
DIGIT_PREFIX = "kd-"  # Service names (DNS-1035) must start with a letter


def object_name(full: str) -> str:
    """The ``CrNameRole`` name of an object from ``<cluster>`` or ``<cluster>-<role>``.

    A name of at most 46 characters is KubeDirector's munged name, unchanged.  A longer one
    (where KubeDirector relies on its random suffix) is cut to 40 characters without a trailing
    ``-`` and ends in ``-`` plus the stable suffix of the full name, so the roles of a long-named
    cluster (and two long cluster names that share their first 40 characters) stay distinct and a
    name never ends in ``-``.  A name that would not start with a letter (``9lives``) gets
    ``kd-`` in front, as Service names must.
    """
    name = mung(full) if len(full) <= NAME_LENGTH_LIMIT else full.lower().replace(".", "-").replace("_", "-")
    if not ("a" <= name[:1] <= "z"):
        name = DIGIT_PREFIX + name
    if len(name) <= NAME_LENGTH_LIMIT:
        return name
    return name[:CUT_KEEP].rstrip("-") + "-" + suffix(full)


def label_value(name: str) -> str:
    """A cluster name as a label value: itself up to 63 characters, else cut with a stable suffix.

    Custom resource names may have up to 253 characters; label values only 63.
    """
    if len(name) <= LABEL_VALUE_LIMIT:
        return name
    return name[:LABEL_VALUE_LIMIT - 6].rstrip("-.") + "-" + suffix(name)


def headless_name(scheme: str, namespace: str, cluster: str) -> str:
    if scheme == "UID":
        return "kdhs-" + suffix(f"{namespace}/{cluster}")
    return object_name(cluster)


def statefulset_name(scheme: str, namespace: str, cluster: str, role: str) -> str:
    if scheme == "UID":
        return "kdss-" + suffix(f"{namespace}/{cluster}/{role}")
    return object_name(f"{cluster}-{role}")


def member_service_name(scheme: str, pod: str) -> str:
    return "s-" + pod if scheme == "UID" else pod


def port_label(service_id: str) -> str:
    """A service id as a DNS label: lower case, ``_`` and ``.`` as ``-`` (v1beta1 ids already are)."""
    name = service_id.lower().replace("_", "-").replace(".", "-")
    while "--" in name:
        name = name.replace("--", "-")
    return name.strip("-")


def port_name(service_id: str) -> str:
    """Container port name of an app service: its id, made an IANA service name if it is not one.

    v1beta1 ids already are; 2018 ids such as ``spark_master`` or ``jupyter-notebook`` (16
    characters) are not, and are cut to the 15 characters a container port name may have.
    """
    return port_label(service_id)[:15].strip("-")


def is_iana_svc_name(name: str) -> bool:
    return (0 < len(name) <= 15 and all(c.isdigit() or c == "-" or "a" <= c <= "z" for c in name)
            and any("a" <= c <= "z" for c in name) and not name.startswith("-")
            and not name.endswith("-") and "--" not in name)


# Names of the objects kdrender adds next to KubeDirector's, derived from the headless Service's
# name (here, not in render/, so that resolve's name checks and render share them).
LISTED_SHARDS = 4  # configmeta ConfigMaps every pod template projects (more are listed when needed)


def configmap_names(headless: str) -> tuple[str, str]:
    """The configmeta and agent ConfigMaps of a cluster."""
    return f"{headless}-configmeta", f"{headless}-kd-agent"


def ready_service_name(headless: str) -> str:
    """The readiness Service (headless, without publishNotReadyAddresses)."""
    return f"{headless}-ready"


def shard_name(headless: str, index: int) -> str:
    """ConfigMap ``index`` of a configmeta split over several (0 is ``<headless>-configmeta``)."""
    meta_name = configmap_names(headless)[0]
    return meta_name if index == 0 else f"{meta_name}-{index}"
