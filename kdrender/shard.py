"""``--shard K/N``: a deterministic split of a repo's clusters over N CI jobs.

A bundle belongs to the shard of its cluster file's path, ``1 + int(sha256("<path>")[:16], 16) % N``:
the same on every run, machine and Python (never ``hash()``, which is seeded per process), and the
bundles of one file stay together.  A golden folder of no cluster belongs to the shard of its path
(``golden/<namespace>/<name>``).  A problem of ``validate`` belongs to the shard of its file's
path the same way, so all the problems of one file stay together; problems of ``kdrender.yaml`` and ``catalog/`` are
reported by shard 1 only.  Every shard still reads and validates the whole repo: the
cross-cluster rules (duplicate names, connections, object-name collisions) see every cluster;
only what is rendered, compared and reported is split.  The union of the N shards is exactly
the full run.
"""

from __future__ import annotations

from .digest import sha256


class ShardError(ValueError):
    """A --shard value that is not K/N with 1 <= K <= N <= MAX_SHARDS."""


MAX_SHARDS = 1024


def parse(text: str | None) -> tuple[int, int] | None:
    """``"K/N"`` -> ``(K, N)``; None for None.  Raises :class:`ShardError` with the reason."""
    if text is None:
        return None
    k, sep, n = text.partition("/")
    if not sep or not k.isdigit() or not n.isdigit() or not k.isascii() or not n.isascii():
        raise ShardError(f"{text!r} is not K/N (for example 2/4: the second of four shards)")
    k, n = int(k), int(n)
    if not 1 <= n <= MAX_SHARDS:
        raise ShardError(f"{text!r}: the number of shards N must be 1 to {MAX_SHARDS}")
    if not 1 <= k <= n:
        raise ShardError(f"{text!r}: the shard K must be 1 to N ({n})")
    return k, n


def shard_of(key: str, count: int) -> int:
    """The shard (1-based) of ``key`` among ``count``."""
    return 1 + int(sha256(key.encode("utf-8")).hexdigest()[:16], 16) % count


def in_shard(shard: tuple[int, int] | None, key: str) -> bool:
    return shard is None or shard_of(key, shard[1]) == shard[0]


def bundle_key(namespace: str, name: str) -> str:
    return f"{namespace}/{name}"


def problem_in_shard(shard: tuple[int, int] | None, file: str) -> bool:
    """Whether a problem of ``file`` is reported by ``shard``: cluster files by their path, every
    other file (kdrender.yaml, catalog/) by shard 1."""
    if shard is None:
        return True
    if file.startswith("clusters/"):
        return in_shard(shard, file)
    return shard[0] == 1
