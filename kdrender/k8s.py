"""Kubernetes syntax rules for names, labels and annotations (as the API server checks them); quantities are in
``kdrender.quantity``."""

from __future__ import annotations

from .lazyre import lazy

# "\Z", not "$": "$" also matches before a final newline, which the API server refuses
_DNS1123_LABEL = lazy(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?\Z")
_DNS1123_SUBDOMAIN = lazy(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\Z")
_DNS1035_LABEL = lazy(r"^[a-z]([-a-z0-9]*[a-z0-9])?\Z")
_QUALIFIED_NAME = lazy(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]\Z")
_LABEL_VALUE = lazy(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?\Z")


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
