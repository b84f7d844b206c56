"""file-injections: file-injection fields the in-pod agent could misread are refused.

The agent keeps each role's injections as one line of TAB-separated fields and passes them to
``curl``, ``chown`` and ``chgrp``.  So ``srcURL``, ``destDir``, the file name (the last part of
``srcURL``), ``fileOwner`` and ``fileGroup`` may not contain a TAB, a line break or another
control character, and none of them may start with ``-``, which a command would take as an
option (``chown -R``, ``--reference=...``).  KubeDirector passes these fields to a shell
unchecked; kdrender refuses them.
"""

ID = "file-injections"
TARGET = "cluster"

_CONTROL = {chr(c) for c in range(32)} | {"\x7f"}


def file_name(url: str) -> str:
    """What the agent's ``basename`` makes of the URL (trailing slashes ignored)."""
    return url.rstrip("/").rsplit("/", 1)[-1]


def _fields(injection: dict):
    """(path below the injection, what, value) of each field the agent uses."""
    src = injection.get("srcURL")
    if isinstance(src, str):
        yield ("srcURL",), "srcURL", src
        yield ("srcURL",), "the file name of srcURL", file_name(src)
    if isinstance(injection.get("destDir"), str):
        yield ("destDir",), "destDir", injection["destDir"]
    perms = injection.get("permissions") or {}
    if isinstance(perms, dict):
        for key in ("fileOwner", "fileGroup"):
            if isinstance(perms.get(key), str):
                yield ("permissions", key), key, perms[key]


def check(ctx):
    for i, role in enumerate(ctx.spec.get("roles") or []):
        for j, injection in enumerate(role.get("fileInjections") or []):
            if not isinstance(injection, dict):
                continue
            for sub, what, value in _fields(injection):
                path = ("spec", "roles", i, "fileInjections", j, *sub)
                if any(ch in _CONTROL for ch in value):
                    yield path, (f"{what} of a file injection of role {role.get('id')!r} must not contain a tab, "
                                 "line break or other control character")
                elif value.startswith("-"):
                    yield path, (f"{what} {value!r} of a file injection of role {role.get('id')!r} must not "
                                 "start with '-' (the agent's curl, chown and chgrp would read it as an option)")
