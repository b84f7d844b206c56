"""PyYAML, imported with the regular expressions its modules compile at import time made lazy.

``import yaml`` compiles about ten patterns, among them the reader's check for non-printable
characters (a character class up to U+10FFFF), which alone takes 5-7 ms: more than a tenth of a
rendering ``kdrender generate`` (issue 12), and libyaml's parser, which kdrender uses, never
needs it.  While PyYAML's modules are first imported, ``re.compile`` hands out a placeholder that
compiles on first use and then puts the compiled pattern's methods on itself, so every later
``.match``/``.search`` is the compiled pattern's own method (no extra call).  ``re.compile`` is
restored at once; patterns compiled later are ordinary ones.  If PyYAML is already imported (by
yamllint, say), nothing is changed.

Every kdrender module imports PyYAML from here: ``from .pyyaml import yaml``.
"""

from __future__ import annotations

import re
import sys

from .lazyre import LazyPattern

_compile = re.compile


def _lazy_compile(pattern, flags=0):
    if isinstance(pattern, str) and isinstance(flags, int):
        return LazyPattern(pattern, flags)
    return _compile(pattern, flags)


def _import():
    if "yaml" in sys.modules:
        return sys.modules["yaml"]
    re.compile = _lazy_compile
    try:
        import yaml
    finally:
        re.compile = _compile
    return yaml


yaml = _import()
