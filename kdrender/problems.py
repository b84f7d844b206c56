"""Problems found in user input, and how they are located and formatted.

Every stage reports mistakes as :class:`Problem` values instead of raising, so that
all problems of a repo are reported at once.  A problem knows its file, line and
column (1-based) and the field path inside the document, e.g.
``spec.roles[1].members``.
"""

from __future__ import annotations

import json

from .credentials import redact
from .lazyre import lazy
from .record import field, record


Path = tuple  # a path of str keys and int indexes
_PLAIN = lazy(r"^[A-Za-z0-9_-]+$")


def format_path(path: Iterable) -> str:
    """``('spec', 'roles', 1, 'members')`` -> ``spec.roles[1].members``."""
    out = ""
    for part in path:
        if isinstance(part, str) and not part.isascii():  # a lone surrogate from JSON cannot be printed
            part = part.encode("utf-8", "backslashreplace").decode("utf-8")
        if isinstance(part, int):
            out += f"[{part}]"
        elif not _PLAIN.match(str(part)):
            out += f'["{part}"]'
        elif out:
            out += "." + str(part)
        else:
            out = str(part)
    return out


@record(frozen=True, order=True)
class Problem:
    file: str
    line: int
    column: int
    path: str
    message: str
    rule: str = field(default="", compare=False)
    level: str = field(default="error", compare=False)

    def __post_init__(self):  # a credential in a URL is never repeated, whatever reports it
        object.__setattr__(self, "path", redact(self.path))
        object.__setattr__(self, "message", redact(self.message))

    def text(self) -> str:
        where = f"{self.file}:{self.line}:{self.column}"
        return f"{where}: {self.path}: {self.message}" if self.path else f"{where}: {self.message}"

    def github(self) -> str:
        def esc(s: str) -> str:
            return s.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
        title = f" title={self.rule}" if self.rule else ""
        kind = "error" if self.level == "error" else "warning"
        msg = f"{self.path}: {self.message}" if self.path else self.message
        return f"::{kind} file={self.file},line={self.line},col={self.column}{title.replace(' ', ',', 1) if title else ''}::{esc(msg)}"

    def as_dict(self) -> dict:
        return {"file": self.file, "line": self.line, "column": self.column, "path": self.path,
                "message": self.message, "rule": self.rule, "level": self.level}


DEFAULT_PROBLEM_LIMIT = 500  # kdrender.budget LIMITS["problems"]; kdrender.yaml kdrender.limits.problems


def format_problems(problems: list[Problem], fmt: str = "text", limit: int | None = None) -> str:
    """The problems, sorted; beyond ``limit`` only counted (a hostile file must not print megabytes)."""
    problems = sorted(problems)
    limit = DEFAULT_PROBLEM_LIMIT if limit is None else limit
    hidden = max(0, len(problems) - limit)
    problems = problems[:limit]
    if fmt == "json":
        return json.dumps([p.as_dict() for p in problems], indent=2, sort_keys=True)
    more = [f"kdrender: {hidden} more problem{'s' if hidden != 1 else ''} not shown "
            "(limits.problems in kdrender.yaml)"] if hidden else []
    if fmt == "github":
        return "\n".join([p.github() for p in problems] + more)
    return "\n".join([p.text() for p in problems] + more)


class UserError(Exception):
    """A mistake in user input that stops the run; carries the problems to print."""

    def __init__(self, problems: list[Problem], model=None):
        super().__init__("\n".join(p.text() for p in problems))
        self.problems = problems
        self.model = model


def report(problems: list, notices: list = (), warnings: list = (), limit: int | None = None) -> str:
    """What the commands print on stderr: notices, warnings, problems and a count line."""
    limit = DEFAULT_PROBLEM_LIMIT if limit is None else limit
    warnings = list(warnings)
    lines = [f"notice: {n}" for n in notices[:limit]] + _more(len(notices) - limit, "notice")
    lines += [f"warning: {w.text()}" for w in warnings[:limit]] + _more(len(warnings) - limit, "warning")
    if problems:
        lines.append(format_problems(problems, limit=limit))
        lines.append(f"kdrender: {len(problems)} problem{'s' if len(problems) != 1 else ''} found")
    return "".join(line + "\n" for line in lines)


def _more(hidden: int, what: str) -> list:
    """One summary line for what the print limit left out."""
    if hidden <= 0:
        return []
    return [f"kdrender: {hidden} more {what}{'s' if hidden != 1 else ''} not shown (limits.problems in kdrender.yaml)"]
