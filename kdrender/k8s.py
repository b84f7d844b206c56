"""Kubernetes syntax rules for names, labels, annotations and quantities (as the API server checks them)."""

from __future__ import annotations

import math
from decimal import Decimal, InvalidOperation
from functools import lru_cache

from .lazyre import lazy

# "\Z", not "$": "$" also matches before a final newline, which the API server refuses
_DNS1123_LABEL = lazy(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?\Z")
_DNS1123_SUBDOMAIN = lazy(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\Z")
_DNS1035_LABEL = lazy(r"^[a-z]([-a-z0-9]*[a-z0-9])?\Z")
_QUALIFIED_NAME = lazy(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]\Z")
_LABEL_VALUE = lazy(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?\Z")
_QUANTITY = lazy(r"^([+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+))([eE][+-]?[0-9]+|[KMGTPE]i|[numkMGTPE]|)\Z")

_SUFFIX = {
    "": Decimal(1), "n": Decimal("1e-9"), "u": Decimal("1e-6"), "m": Decimal("0.001"), "k": Decimal(10) ** 3, "M": Decimal(10) ** 6,
    "G": Decimal(10) ** 9, "T": Decimal(10) ** 12, "P": Decimal(10) ** 15, "E": Decimal(10) ** 18,
    "Ki": Decimal(2) ** 10, "Mi": Decimal(2) ** 20, "Gi": Decimal(2) ** 30, "Ti": Decimal(2) ** 40,
    "Pi": Decimal(2) ** 50, "Ei": Decimal(2) ** 60,
}


def dns1123_label(name: str) -> str | None:
    """None when ``name`` is a valid DNS-1123 label, else the reason."""
    if len(name) > 63:
        return f"must be no more than 63 characters (it has {len(name)})"
    if not _DNS1123_LABEL.match(name):
        return "must consist of lower case alphanumeric characters or '-', and start and end with an alphanumeric character"
    return None


def dns1035_label(name: str) -> str | None:
    """None when ``name`` is a valid DNS-1035 label (what a Service name must be), else the reason."""
    if len(name) > 63:
        return f"must be no more than 63 characters (it has {len(name)})"
    if not _DNS1035_LABEL.match(name):
        return "must consist of lower case alphanumeric characters or '-', start with a letter and end with an alphanumeric character"
    return None


def dns1123_subdomain(name: str) -> str | None:
    if len(name) > 253:
        return f"must be no more than 253 characters (it has {len(name)})"
    if not _DNS1123_SUBDOMAIN.match(name):
        return "must consist of lower case alphanumeric characters, '-' or '.', and start and end with an alphanumeric character"
    return None


def qualified_name(key: str) -> str | None:
    """Label and annotation keys: ``[prefix/]name``."""
    prefix, _, name = key.rpartition("/")
    if "/" in prefix:
        return "may contain at most one '/'"
    if "/" in key and not prefix:
        return "prefix part must not be empty"
    if prefix and dns1123_subdomain(prefix):
        return f"prefix {prefix!r} must be a DNS-1123 subdomain"
    if not name:
        return "name part must not be empty"
    if len(name) > 63:
        return f"name part must be no more than 63 characters (it has {len(name)})"
    if not _QUALIFIED_NAME.match(name):
        return "name part must consist of alphanumeric characters, '-', '_' or '.', and start and end with an alphanumeric character"
    return None


def label_value(value: str) -> str | None:
    if len(value) > 63:
        return f"must be no more than 63 characters (it has {len(value)})"
    if not _LABEL_VALUE.match(value):
        return "must be empty or consist of alphanumeric characters, '-', '_' or '.', and start and end with an alphanumeric character"
    return None


# resource.Quantity: an exponent must fit an int32 (else "unable to parse quantity's suffix"), the
# value is capped at the largest int64 and a non-zero value is rounded up to at least 1n.
QUANTITY_MAX = Decimal(2**63 - 1)
QUANTITY_MIN = Decimal("1e-9")
_INT32 = 2**31


def parse_quantity(value) -> Decimal | None:
    """The value of a Kubernetes quantity as the API server bounds it, or None when it is not one."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        value = repr(value)
    if not isinstance(value, str):
        return None
    return _parse_quantity_text(value)


@lru_cache(maxsize=4096)  # thousands of clusters repeat the same few quantities ("2", "4Gi")
def _parse_quantity_text(value: str) -> Decimal | None:
    m = _QUANTITY.match(value.strip())
    if not m:
        return None
    number, suffix = m.groups()
    try:
        base = Decimal(number)
        if suffix[:1] in ("e", "E"):
            exponent = int(suffix[1:])
            if not -_INT32 <= exponent < _INT32:
                return None
        else:
            base, exponent = base * _SUFFIX[suffix], 0
    except (InvalidOperation, KeyError, ValueError):
        return None
    if not base:
        return Decimal(0)
    magnitude = base.copy_abs()
    if magnitude.adjusted() + exponent > 18:  # at least 10**19, beyond int64: capped (no huge power computed)
        magnitude = QUANTITY_MAX
    elif magnitude.adjusted() + exponent < -10:
        magnitude = QUANTITY_MIN
    else:
        magnitude = min(QUANTITY_MAX, max(QUANTITY_MIN, magnitude.scaleb(exponent)))
    return magnitude if base > 0 else -magnitude


def quantity_value(value) -> int:
    """Go ``resource.Quantity.Value()``: the value rounded up to an integer."""
    q = parse_quantity(value)
    return int(math.ceil(q)) if q is not None else 0


def quantity_string(value) -> str:
    """Quantities are written as strings in manifests (numbers from YAML are kept as written)."""
    if isinstance(value, str):
        return value
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
