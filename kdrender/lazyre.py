"""Regular expressions compiled when first used, not when their module is imported.

Compiling a pattern costs 0.1-7 ms; ``kdrender generate`` imports modules whose patterns a given
run mostly never uses (a rule's pattern for a field the file does not have, the YAML writer's for
golden files), and Argo CD starts it on every refresh (issue 12).  :class:`LazyPattern` compiles
on first use and then puts the compiled pattern's methods on itself, so every later ``.match``
is the compiled pattern's own method.  It stands where a module-level ``re.compile`` stood; pass
its methods, not the object, to ``re`` functions.
"""

from __future__ import annotations

import re

_METHODS = ("match", "fullmatch", "search", "sub", "subn", "split", "findall", "finditer", "scanner", "pattern",
            "flags", "groups", "groupindex")


class LazyPattern:
    """Stands for ``re.compile(pattern, flags)`` until one of its attributes is first used."""

    def __init__(self, pattern, flags=0):
        self._args = (pattern, flags)

    def __getattr__(self, name):  # only reached for what is not yet on the instance
        if name.startswith("__"):
            raise AttributeError(name)
        compiled = re.compile(*self._args)
        for method in _METHODS:
            self.__dict__[method] = getattr(compiled, method)
        return getattr(compiled, name)

    def __repr__(self):
        return f"LazyPattern({self._args[0]!r})"


lazy = LazyPattern  # NAME = lazy(r"...") at module level
