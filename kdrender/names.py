"""Object names: KubeDirector's munging, kdrender's deterministic replacement for random suffixes."""

from __future__ import annotations

import hashlib

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
    number = int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big")
    chars = []
    for _ in range(5):
        number, rest = divmod(number, len(SUFFIX_ALPHABET))
        chars.append(SUFFIX_ALPHABET[rest])
    return "".join(chars)


def headless_name(scheme: str, namespace: str, cluster: str) -> str:
    if scheme == "UID":
        return "kdhs-" + suffix(f"{namespace}/{cluster}")
    return mung(cluster)


def statefulset_name(scheme: str, namespace: str, cluster: str, role: str) -> str:
    if scheme == "UID":
        return "kdss-" + suffix(f"{namespace}/{cluster}/{role}")
    return mung(f"{cluster}-{role}")


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
