"""Credentials in URLs (``https://user:password@host/...``): found anywhere in the input, never echoed.

Git is no place for a password or a token, and whatever kdrender reads may end up in a CI log or
in Argo CD's UI.  :func:`redact` hides the user-info part of every URL in a text; problems pass
through it (kdrender/problems.py), so neither a message, a field path nor a "did you mean" hint
ever repeats a credential.
"""

from __future__ import annotations

from .lazyre import lazy

# Linear in the text whatever it holds (every value and key of a hostile repo passes through
# here): find each "://", then look a bounded way back for the scheme and forward for "@".
_SCHEME_BEFORE = lazy(r"[A-Za-z][A-Za-z0-9+.\-]{0,31}$")
_AUTHORITY = lazy(r"[^/?#@\s]*")
# a lone user name is a credential in these (``https://<token>@host`` is how tokens are passed);
# elsewhere only a password is (``ssh://git@host`` is no secret)
_TOKEN_SCHEMES = ("http", "https", "ftp", "ftps")
HIDDEN = "\u2026@"  # what replaces a URL's user-info: https://…@host/


def _userinfos(text: str):
    """(scheme, start, end) of the user-info of every URL in ``text``: ``text[start:end]``, before an ``@``."""
    pos = 0
    while True:
        i = text.find("://", pos)
        if i < 0:
            return
        pos = i + 3
        scheme = _SCHEME_BEFORE.search(text, max(0, i - 32), i)
        if not scheme:
            continue
        end = _AUTHORITY.match(text, pos).end()
        if end < len(text) and text[end] == "@":
            yield scheme.group(0), pos, end
            pos = end + 1


def has_credentials(text: str) -> bool:
    for scheme, start, end in _userinfos(text):
        if ":" in text[start:end] or (end > start and scheme.lower() in _TOKEN_SCHEMES):
            return True
    return False


def redact(text: str) -> str:
    """``text`` with the user-info of every URL replaced by ``…``."""
    if "@" not in text:
        return text
    out, last = [], 0
    for _, start, end in _userinfos(text):
        out.append(text[last:start] + HIDDEN)
        last = end + 1
    return "".join(out) + text[last:]


def strip_userinfo(url: str) -> str:
    """``url`` without the user-info of any URL in it that holds a credential
    (``https://user:token@host/x`` -> ``https://host/x``; ``ssh://git@host/x`` stays as it is)."""
    out, last = [], 0
    for scheme, start, end in _userinfos(url):
        if ":" in url[start:end] or (end > start and scheme.lower() in _TOKEN_SCHEMES):
            out.append(url[last:start])
            last = end + 1
    return "".join(out) + url[last:]


def credential_paths(data, path: tuple = ()):
    """Field paths of every string (value or key) in ``data`` that holds a URL with user-info."""
    if isinstance(data, dict):
        for key, value in data.items():
            if isinstance(key, str) and has_credentials(key):
                yield path + (key,)
            else:
                yield from credential_paths(value, path + (key,))
    elif isinstance(data, list):
        for i, value in enumerate(data):
            yield from credential_paths(value, path + (i,))
    elif isinstance(data, str) and has_credentials(data):
        yield path
