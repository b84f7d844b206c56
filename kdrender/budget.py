"""Resource budgets of one run: what a hostile repo may make kdrender read, build and print.

One :class:`Budget` is shared by every file a run reads (not one per document), so many small
files cannot add up to more than one big one.  The defaults keep a run of ``kdrender generate``
well under the 512 Mi memory limit of the Argo CD sidecar (see README "Safety"); a repo can change
them in ``kdrender.yaml`` under ``kdrender.limits``, up to the ceilings below.
"""

from __future__ import annotations

from .problems import DEFAULT_PROBLEM_LIMIT
from .record import record

# name in kdrender.yaml -> (default, ceiling).  The ceilings are what the schema allows.
LIMITS = {
    "fileBytes": (1 << 20, 64 << 20),  # one input (or golden) file
    "totalBytes": (16 << 20, 256 << 20),  # all input files of a run together
    "nodes": (200_000, 4_000_000),  # YAML/JSON values of a run, aliases expanded
    "depth": (64, 200),  # nesting of mappings and lists (Python's recursion limit is 1000)
    "problems": (DEFAULT_PROBLEM_LIMIT, 100_000),  # problems printed; the rest are counted
}


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
        """Count ``size`` bytes of input; the reason when the run's byte budget is spent."""
        self.used_bytes += size
        if self.used_bytes > self.total_bytes:
            return (f"the files of this run add up to more than {self.total_bytes} bytes "
                    "(limits.totalBytes in kdrender.yaml); not read")
        return None

    def take_nodes(self, count: int = 1) -> None:
        self.used_nodes += count
        if self.used_nodes > self.nodes:
            raise BudgetExceeded(f"more than {self.nodes} values in the files of this run, aliases expanded "
                                 "(limits.nodes in kdrender.yaml)")

    def too_deep(self, depth: int) -> str | None:
        if depth > self.depth:
            return f"nested more than {self.depth} levels deep (limits.depth in kdrender.yaml)"
        return None
