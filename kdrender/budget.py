"""Resource budgets: what one hostile file may make kdrender read and build, and what a run holds.

The budgets are per file (bytes, values with aliases expanded, nesting), so they bound what one
file can cost however many good files the repo has beside it; ``totalBytes`` bounds the input a run
holds in memory at once (kdrender.yaml, the catalog and the cluster files being worked on), not
the size of the repo: a streaming run (kdrender/index.py) gives a file's bytes back when it is done
with it.  The defaults keep a run of ``kdrender generate`` well under the 512 Mi memory limit of
the Argo CD sidecar (see README "Safety"); a repo can change them in ``kdrender.yaml`` under
``kdrender.limits``, up to the ceilings below.  Running out of a budget is reported as that, with
the file and the limit, never as a syntax error.
"""

from __future__ import annotations

from .problems import DEFAULT_PROBLEM_LIMIT
from .record import record

# name in kdrender.yaml -> (default, ceiling).  The ceilings are what the schema allows.
LIMITS = {
    "fileBytes": (1 << 20, 64 << 20),  # one input (or golden) file
    "totalBytes": (16 << 20, 256 << 20),  # the input files a run holds at once
    "nodes": (200_000, 4_000_000),  # YAML/JSON values of one file, aliases expanded
    "depth": (64, 200),  # nesting of mappings and lists (Python's recursion limit is 1000)
    "problems": (DEFAULT_PROBLEM_LIMIT, 100_000),  # problems printed; the rest are counted
}


OVER = "over budget: "  # how every budget message starts (never "invalid YAML")
RULE = "budget"


class BudgetExceeded(Exception):
    """Raised by :meth:`Budget.take_nodes`; the message says which limit and how to change it."""


@record
class Budget:
    file_bytes: int = LIMITS["fileBytes"][0]
    total_bytes: int = LIMITS["totalBytes"][0]
    nodes: int = LIMITS["nodes"][0]
    depth: int = LIMITS["depth"][0]
    problems: int = LIMITS["problems"][0]
    used_bytes: int = 0
    used_nodes: int = 0

    @classmethod
    def from_options(cls, options) -> "Budget":
        """A budget from the raw ``kdrender.limits`` mapping of kdrender.yaml; values that are not
        whole numbers between 1 and the ceiling are ignored here (the schema reports them)."""
        values = {}
        limits = options.get("limits") if isinstance(options, dict) else None
        for key, (default, ceiling) in LIMITS.items():
            value = limits.get(key) if isinstance(limits, dict) else None
            ok = isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= ceiling
            values[key] = value if ok else default
        return cls(values["fileBytes"], values["totalBytes"], values["nodes"], values["depth"], values["problems"])

    def take_bytes(self, size: int) -> str | None:
        """Count ``size`` bytes of input held; the reason when the run's byte budget is spent (the
        bytes are then not held: the caller drops the file)."""
        self.used_bytes += size
        if self.used_bytes > self.total_bytes:
            self.used_bytes -= size
            return (f"{OVER}the files this run holds at once would add up to more than {self.total_bytes} bytes "
                    "(limits.totalBytes in kdrender.yaml); not read")
        return None

    def release(self, size: int) -> None:
        """``size`` bytes of input taken before are no longer held."""
        self.used_bytes = max(0, self.used_bytes - size)

    def start_file(self) -> None:
        """The value budget is per file: a new file starts with all of it."""
        self.used_nodes = 0

    def take_nodes(self, count: int = 1) -> None:
        self.used_nodes += count
        if self.used_nodes > self.nodes:
            raise BudgetExceeded(f"{OVER}more than {self.nodes} values in this file, aliases expanded "
                                 "(limits.nodes in kdrender.yaml); not read")

    def too_deep(self, depth: int) -> str | None:
        if depth > self.depth:
            return f"{OVER}nested more than {self.depth} levels deep (limits.depth in kdrender.yaml); not read"
        return None
