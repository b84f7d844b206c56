"""A fast YAML writer for kdrender's plain data that gives exactly the bytes PyYAML gives.

Rendered objects are trees of dicts (string keys), lists, strings, ints, bools and None; PyYAML
spends most of a ``build`` walking them node by node.  This writer lays out the block structure
itself (sorted keys, indentless sequences, ``{}``/``[]`` for empty collections: PyYAML's block
style) and asks PyYAML only for the scalars it cannot prove plain: each such string is dumped by
PyYAML once and the fragment is kept (strings repeat across clusters).  Anything else (floats,
other types, keys PyYAML would write as complex keys, fragments that span lines other than a
literal block) raises :class:`Fallback`, and the caller dumps the whole object with PyYAML.

tests/test_fastyaml.py proves byte equality with PyYAML's output (as configured in emit.py) on
generated data and on every rendered example.
"""

from __future__ import annotations

from .lazyre import lazy

# strings PyYAML writes plain in block context (as keys and values) unless a resolver claims them:
# no indicator first, no ": " or " #", no leading or trailing space, ASCII only, short
_PLAIN = lazy(r"[A-Za-z0-9_./$(][A-Za-z0-9_./$()=+@%~,;^ -]*(?::[A-Za-z0-9_./$()=+@%~,;^-][A-Za-z0-9_./$()=+@%~,;^ -]*)*")
_CACHE_CHARS = 4_000_000
_MAX_PLAIN = 1000  # far below the line width, where PyYAML would start folding


_OTHER_BREAKS = lazy("[\r\x85\u2028\u2029]")


def _plain(text: str) -> bool:
    return (len(text) < _MAX_PLAIN and _PLAIN.fullmatch(text) is not None and not text.endswith(" ")
            and not text.startswith("..."))  # "..." opens a document end marker


class Fallback(Exception):
    """The object holds something this writer does not lay out; use PyYAML for it."""


class Writer:
    """``dump(obj)``: the YAML text of one dict, as ``reference(obj)`` (PyYAML) would write it."""

    def __init__(self, reference, ambiguous):
        self.reference = reference  # obj -> PyYAML's text for obj
        self.ambiguous = ambiguous  # plain string -> True when it must be quoted
        self.values: dict = {}  # string -> one-line fragment, or (header, lines) of a literal block
        self.blocks: dict = {}  # (string, indent) -> literal block text
        self.keys: dict = {}
        self.cached = 0  # characters held by the caches

    def dump(self, obj) -> str:
        if not isinstance(obj, dict) or not obj:
            raise Fallback
        out: list[str] = []
        self._mapping(obj, 0, "", out)
        return "".join(out)

    def _budget(self, size: int) -> None:
        """Keep the caches small (10,000 clusters must fit in bounded memory): start over when full."""
        self.cached += size
        if self.cached > _CACHE_CHARS:
            self.values.clear()
            self.blocks.clear()
            self.keys.clear()
            self.cached = size

    # -- scalars -----------------------------------------------------------------------------

    def _key(self, key) -> str:
        if type(key) is not str:
            raise Fallback
        text = self.keys.get(key)
        if text is None:
            self._budget(len(key))
            if len(key) < 128 and _plain(key):
                text = f"'{key}'" if self.ambiguous(key) else key
            else:
                dumped = self.reference({key: 0})
                if not dumped.endswith(": 0\n") or "\n" in dumped[:-4] or dumped.startswith("?"):
                    raise Fallback
                text = dumped[:-4]
            self.keys[key] = text
        return text

    def _string(self, value: str):
        """The one-line fragment (with its newline), or ``(header, lines)`` for a literal block."""
        if _plain(value):
            return f"'{value}'\n" if self.ambiguous(value) else f"{value}\n"
        if _OTHER_BREAKS.search(value):  # YAML line breaks besides "\n": continuation lines
            raise Fallback
        dumped = self.reference({"k": value})
        if not dumped.startswith("k: "):
            raise Fallback
        body = dumped[3:]
        if body.startswith("|"):
            header, _, rest = body.partition("\n")
            lines = rest.split("\n")[:-1]
            if any(line and not line.startswith("  ") for line in lines):
                raise Fallback
            return header, [line[2:] if line else None for line in lines]
        if body.count("\n") != 1:
            raise Fallback
        return body

    def _text(self, value, indent: int) -> str:
        """A scalar as it follows ``key: `` or ``- ``, with its newline; block content at ``indent``."""
        kind = type(value)
        if kind is str:
            frag = self.values.get(value)
            if frag is None:
                self._budget(len(value))
                frag = self.values[value] = self._string(value)
            if type(frag) is str:
                return frag
            text = self.blocks.get((value, indent))
            if text is None:
                self._budget(len(value))
                header, lines = frag
                pad = " " * indent
                text = self.blocks[(value, indent)] = header + "\n" + "".join(
                    f"{pad}{line}\n" if line is not None else "\n" for line in lines)
            return text
        if kind is int:
            return f"{value}\n"
        if kind is bool:
            return "true\n" if value else "false\n"
        if value is None:
            return "null\n"
        raise Fallback

    # -- collections -------------------------------------------------------------------------

    def _mapping(self, obj: dict, indent: int, first: str, out: list) -> None:
        pad = " " * indent
        lead = first
        try:
            keys = sorted(obj)
        except TypeError:
            raise Fallback from None
        known, values, append = self.keys, self.values, out.append
        for key in keys:
            value = obj[key]
            text = known.get(key) if type(key) is str else None
            if text is None:
                text = self._key(key)
            kind = type(value)
            if kind is str:
                frag = values.get(value)
                if type(frag) is str:
                    append(f"{lead}{text}: {frag}")
                else:
                    append(f"{lead}{text}: {self._text(value, indent + 2)}")
            elif kind is dict and value:
                append(f"{lead}{text}:\n")
                self._mapping(value, indent + 2, pad + "  ", out)
            elif kind is list and value:
                append(f"{lead}{text}:\n")
                self._sequence(value, indent, pad, out)
            elif kind is dict:
                append(f"{lead}{text}: {{}}\n")
            elif kind is list:
                append(f"{lead}{text}: []\n")
            else:
                append(f"{lead}{text}: {self._text(value, indent + 2)}")
            lead = pad

    def _sequence(self, items: list, indent: int, first: str, out: list) -> None:
        pad = " " * indent
        lead = first
        for item in items:
            kind = type(item)
            if kind is dict and item:
                self._mapping(item, indent + 2, lead + "- ", out)
            elif kind is list and item:
                self._sequence(item, indent + 2, lead + "- ", out)
            elif kind is dict:
                out.append(f"{lead}- {{}}\n")
            elif kind is list:
                out.append(f"{lead}- []\n")
            else:
                out.append(f"{lead}- {self._text(item, indent + 2)}")
            lead = pad
