"""SHA-1 and SHA-256 without :mod:`hashlib`, whose OpenSSL binding costs a few milliseconds of every
``kdrender generate`` start (issue 12): the interpreter's own implementations, where it has them.
The inputs hashed on that path are small (names, configmeta, input files); the digests are the
same whichever implementation makes them.
"""

from __future__ import annotations

try:
    from _sha256 import sha256
except ImportError:  # pragma: no cover - Python 3.12+ (_sha2) or a build without it
    try:
        from _sha2 import sha256
    except ImportError:
        from hashlib import sha256

__all__ = ["sha1", "sha256", "uuid5"]


def sha1(data: bytes = b""):
    try:
        from _sha1 import sha1 as make
    except ImportError:  # pragma: no cover
        from hashlib import sha1 as make
    return make(data)


def uuid5(namespace: str, name: str) -> str:
    """``str(uuid.uuid5(uuid.UUID(namespace), name))`` (RFC 4122 version 5), without :mod:`uuid`,
    which imports :mod:`platform` and more at start."""
    digest = bytearray(sha1(bytes.fromhex(namespace.replace("-", "")) + name.encode("utf-8")).digest()[:16])
    digest[6] = (digest[6] & 0x0F) | 0x50  # version 5
    digest[8] = (digest[8] & 0x3F) | 0x80  # RFC 4122 variant
    text = digest.hex()
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"
