"""The streaming check of a repo: one index pass, then each cluster on its own, in bounded memory.

``validate``, ``build`` and ``check`` (and ``generate`` of more than :data:`KEEP` cluster files)
never hold the whole repo:

1. kdrender.yaml and the catalog are read and checked (``validate.check_base``): every cluster
   needs them, and they stay in memory.
2. The *index pass* reads each cluster file and checks it (``validate.check_file``: schema,
   cluster rules, defaults), resolves its clusters and works out the names of their objects.  It
   keeps only what the cross-cluster rules need: each cluster's namespace, name and place (file,
   document), its connections, a 32-bit fingerprint of each object name, and the file's
   problems; then the file is dropped.  Forked workers index chunks of files.
3. The *cross-cluster rules* run over the index: two clusters of one name, connections to
   missing clusters (the repo rules, ``validate.repo_problems``), object names that two clusters
   share (``resolve.name_problems``).  Fingerprints only say where to look: a cluster whose
   name or object names it shares with another is read again, with the others involved, and the
   exact rule runs over them.  A valid repo reads nothing again.
4. ``model.clusters`` is a :class:`Clusters` sequence in the model's order (namespace, name,
   file) that reads, checks and defaults a cluster again when it is asked for; rendering
   (kdrender/stream.py) takes it a chunk at a time, so each cluster goes load, validate, default,
   resolve, render and emit, and is dropped.  ``Clusters.take`` skips unselected clusters without
   reading them, ``Clusters.find`` reads a connected cluster.

Up to :data:`KEEP` cluster files, the index keeps the checked clusters (a small run reads each file
once).  The problems, warnings and notices are those of ``validate.validate_repo`` (and, with a
selection, of ``pipeline.load_model``'s scope rules) on the same files, in the same order.
"""

from __future__ import annotations

import sys
from array import array
from collections.abc import Sequence

from .load import RepoFiles, is_extra, load_repo, read_file, scan_files
from .model import Model
from .problems import UserError
from .record import record

KEEP = 256  # cluster files up to which the index keeps the clusters themselves
SHIFT = 24  # a document's place: file number << SHIFT | its index in the file (< 2**24: limits.nodes)
FP_MASK = 0xFFFFFFFF
BUCKETS = 64  # fingerprints are kept in this many buckets (finding the shared ones needs one at a time)
SPILL = 512  # a bucket's fingerprints held before they go to the index's temporary file
CATALOG_KINDS = ("KubeDirectorApp", "KubeDirectorConfig")

_STATE: dict = {}  # the index being built, for the forked workers


@record
class FileEntry:
    """What the index keeps of one cluster file (and what a worker sends back)."""

    number: int
    load_problems: list
    extra_problems: list
    problems: list
    warnings: list
    notices: list
    ctxs: list  # (document index, namespace, name, connected cluster names) of the clusters the repo rules see
    clusters: list  # (document index, namespace, name, name problems of its own, fingerprints, Cluster or None)
    late: list  # apps and configs in a cluster file (they join the catalog)
    raw: tuple = ()  # with a selection: ((name, app) of each document, connected names), as written


class Index:
    def __init__(self, root: str, repo: RepoFiles, base, files: Sequence, keep: bool, late_known: bool = False):
        self.root, self.repo, self.base, self.files = root, repo, base, files
        self.budget = repo.budget
        self.keep = keep
        self.late_known = late_known  # the apps and configs of cluster files are in ``base`` already
        self.selection = False
        self.wanted: set = set()
        self.entries_problems = ([], [], [], [], [])  # load, extras, clusters, warnings, notices
        self.late: list = []
        self.raw: dict = {}  # file number -> raw, of the files read besides the selected ones
        self.chosen = 0  # with a selection: the selected files are files[:chosen]
        self.chosen_apps: set = set()  # the apps of their clusters, as written
        self.chosen_conns: set = set()  # the names of the clusters they connect to
        self.keys = Keys()  # (namespace, name) -> place of the first cluster the repo rules see
        self.dups: list = []  # (key, place) of the others
        self.connections: list = []  # (place, namespace, name, names) of clusters with connections
        self.valid = array("q")  # place of each cluster of the model, in the order indexed
        self.valid_keys = Pairs()  # its (namespace, name)
        self.own_names: dict = {}  # ordinal -> name problems of the cluster alone
        # 32 bits: a fingerprint two names share by chance only makes those clusters be read again
        self.fingerprints = Fingerprints()
        self.kept: dict = {}  # place -> Cluster (small runs)
        self._loaded = (None, None)

    # -- the index pass ------------------------------------------------------------------
    def index_file(self, number: int) -> FileEntry:
        from .resolve import name_problems, object_names, resolve_one
        from .validate import check_file, refused_filter

        rel = self.files[number]
        held = self.budget.used_bytes
        docs, load_problems = read_file(self.root, rel, self.budget)
        if not self.keep:
            self.budget.release(self.budget.used_bytes - held)
        kdocs, extras, late = _classify(docs)
        check = check_file(self.base, kdocs, extras)
        config = self.base.model.config
        ctxs = []
        for i, ctx in check.ctxs:
            conns = (ctx.spec.get("connections") or {}).get("clusters") or ()
            ctxs.append((i, sys.intern(ctx.namespace), ctx.name, tuple(conns)))
        clusters = []
        for i, cluster in check.clusters:
            rc = resolve_one(cluster, config)
            ns = cluster.namespace
            fps = array("I", [hash((ns, kind, name)) & FP_MASK for kind, name, _ in object_names(rc)])
            fps.extend(hash((ns, d.data["kind"], d.data["metadata"]["name"])) & FP_MASK for d in cluster.extras)
            clusters.append((i, sys.intern(ns), cluster.name, name_problems([rc]), fps, cluster if self.keep else None))
        raw = ()
        if self.selection:
            from .scope import _spec, connected_names

            raw = (tuple((d.name, _spec(d).get("app")) for d in kdocs), connected_names(kdocs))
        return FileEntry(number, load_problems, refused_filter(load_problems, check.extra_problems),
                         refused_filter(load_problems, check.problems), check.warnings, check.notices, ctxs, clusters,
                         [] if self.late_known else late, raw)

    def add(self, entry: FileEntry) -> None:
        loads, extras, problems, warnings, notices = self.entries_problems
        loads += entry.load_problems
        extras += entry.extra_problems
        problems += entry.problems
        warnings += entry.warnings
        notices += entry.notices
        self.late += entry.late
        if entry.raw and entry.number < self.chosen:  # what _relevant needs of a selected file
            pairs, conns = entry.raw
            self.chosen_apps.update(app for _, app in pairs)
            self.chosen_conns |= conns
        elif entry.raw:
            self.raw[entry.number] = entry.raw
        base = entry.number << SHIFT
        for i, ns, name, conns in entry.ctxs:
            key = (ns, name)
            first = self.keys.setdefault(key, base | i)
            if first != base | i:
                self.dups.append((key, base | i))
            if conns:
                self.connections.append((base | i, ns, name, conns))
        for i, ns, name, own, fps, cluster in entry.clusters:
            ordinal = len(self.valid)
            self.valid.append(base | i)
            self.valid_keys.append((ns, name))
            if own:
                self.own_names[ordinal] = own
            self.fingerprints.add(fps, ordinal)
            if cluster is not None:
                self.kept[base | i] = cluster

    def run(self, numbers) -> None:
        """Index the files ``numbers`` (in order), in forked workers when there are many."""
        from . import stream

        numbers = list(numbers)
        workers = stream.jobs()
        if self.keep or workers < 2 or len(numbers) < stream.MIN_PARALLEL or not stream._can_fork() \
                or _recording():
            for number in numbers:
                self.add(self.index_file(number))
            return
        _STATE["index"] = self
        try:
            tasks = [(numbers[start:start + stream.CHUNK],) for start in range(0, len(numbers), stream.CHUNK)]
            for entries in stream.in_order(_index_chunk, tasks, workers, stream.RECYCLE):
                for entry in entries:
                    self.add(entry)
        finally:
            _STATE.clear()

    # -- reading a cluster again ---------------------------------------------------------
    def file_of(self, place: int) -> str:
        return self.files[place >> SHIFT]

    def checked(self, place: int):
        """The check of the file of ``place`` (the last one is remembered)."""
        from .validate import check_file

        number = place >> SHIFT
        if self._loaded[0] != number:
            held = self.budget.used_bytes
            docs, _ = read_file(self.root, self.files[number], self.budget)
            self.budget.release(self.budget.used_bytes - held)
            kdocs, extras, _ = _classify(docs)
            self._loaded = (number, check_file(self.base, kdocs, extras))
        return self._loaded[1]

    def cluster_at(self, place: int):
        if place in self.kept:
            return self.kept[place]
        i = place & ((1 << SHIFT) - 1)
        return next((c for j, c in self.checked(place).clusters if j == i), None)

    def ctx_at(self, place: int):
        i = place & ((1 << SHIFT) - 1)
        return next(ctx for j, ctx in self.checked(place).ctxs if j == i)

    # -- the cross-cluster rules ---------------------------------------------------------
    def finish(self, namespace=None, options=None, cache=None) -> tuple[Model, list]:
        from .resolve import name_problems, resolve_one
        from .validate import refused_filter, repo_problems

        base = self.base
        loads, extras, cluster_problems, file_warnings, notices = self.entries_problems
        involved = {place for _, place in self.dups} | {self.keys[key] for key, _ in self.dups}
        for place, ns, name, conns in self.connections:
            if any((ns, other) not in self.keys or other == name for other in conns):
                involved.add(place)
        repo = repo_problems([self.ctx_at(place) for place in sorted(involved)], base.app_ctxs, self.keys)
        problems = list(self.repo.problems) + loads + refused_filter(self.repo.problems, base.problems)
        problems += extras + cluster_problems + repo
        model = base.model
        model.notices.extend(notices)
        model.warnings.extend(file_warnings)
        model.warnings.extend(p for p in problems if p.level != "error")
        errors = [p for p in problems if p.level == "error"]
        broken = {p.file for p in errors}
        shared = self._shared_names(broken)
        for ordinal, own in self.own_names.items():
            if ordinal not in shared and self.file_of(self.valid[ordinal]) not in broken:
                errors.extend(own)
        if shared:
            together = sorted(shared, key=self._order_key)
            errors.extend(name_problems(resolve_one(self.cluster_at(self.valid[o]), model.config) for o in together))
        model.clusters = Clusters(self, self._order())
        return model, sorted(set(errors))

    def _order_key(self, ordinal: int):
        return self.valid_keys[ordinal], self.file_of(self.valid[ordinal])

    def _order(self) -> array:
        """The places of the model's clusters, in the model's order (namespace, name, file)."""
        keys, count = self.valid_keys, len(self.valid)
        if not self.dups and all(keys[o] < keys[o + 1] for o in range(count - 1)):
            return array("q", self.valid)  # indexed in that order (files named after their clusters)
        order = sorted(range(count), key=keys.sort_key)
        if self.dups:  # one name twice: by file too
            order.sort(key=self._order_key)
        return array("q", (self.valid[o] for o in order))

    def _shared_names(self, broken: set) -> set:
        """Ordinals of the clusters (in files without errors) that share an object name's fingerprint."""
        shared: set = set()
        for bucket in self.fingerprints.buckets():  # fingerprint << 32 | ordinal
            seen, twice = set(), set()
            for entry in bucket:
                fp = entry >> 32
                if fp in seen:
                    twice.add(fp)
                else:
                    seen.add(fp)
            if not twice:
                continue
            groups: dict = {}
            for entry in bucket:
                fp, ordinal = entry >> 32, entry & 0xFFFFFFFF
                if fp in twice and self.file_of(self.valid[ordinal]) not in broken:
                    groups.setdefault(fp, set()).add(ordinal)
            for group in groups.values():
                if len(group) > 1:
                    shared |= group
        self.fingerprints.close()
        return shared


class Clusters:
    """The clusters of a streaming model, in the model's order; each is read again when asked for."""

    def __init__(self, index: Index, order: array):
        self.index, self.order = index, order

    def __len__(self) -> int:
        return len(self.order)

    def __getitem__(self, item):
        if isinstance(item, slice):
            return [self.index.cluster_at(place) for place in self.order[item]]
        return self.index.cluster_at(self.order[item])

    def __iter__(self):
        for place in self.order:
            yield self.index.cluster_at(place)

    def file_of_key(self, namespace: str, name: str) -> str | None:
        """The file of the cluster of that name, without reading it; None when there is none."""
        place = self.index.keys.get((namespace, name))
        return None if place is None else self.index.file_of(place)

    def take(self, start: int, stop: int | None, want=None) -> list:
        """The clusters of ``[start:stop]`` whose file ``want`` accepts (all without ``want``);
        the others are not read."""
        index = self.index
        return [index.cluster_at(place) for place in self.order[start:stop]
                if want is None or want(index.file_of(place))]

    def find(self, namespace: str, name: str):
        """The cluster of that name (for a cluster that connects to it), or None."""
        place = self.index.keys.get((namespace, name))
        return None if place is None else self.index.cluster_at(place)


class Texts(Sequence):
    """Strings in order, as their UTF-8 in one buffer and where each ends: a few bytes a string
    besides its characters (a list of 50,000 paths as str holds four times that)."""

    def __init__(self, texts=()):
        self._data = bytearray()
        self._ends = array("Q")
        for text in texts:
            self.append(text)

    def __len__(self) -> int:
        return len(self._ends)

    def append(self, text: str) -> int:
        """Add ``text``; its number."""
        self._data += text.encode("utf-8", "surrogatepass")
        self._ends.append(len(self._data))
        return len(self._ends) - 1

    def encoded(self, number: int) -> bytes:
        if not 0 <= number < len(self._ends):
            raise IndexError(number)
        return bytes(self._data[self._ends[number - 1] if number else 0:self._ends[number]])

    def __getitem__(self, item):
        if isinstance(item, slice):
            return [self[i] for i in range(*item.indices(len(self)))]
        return self.encoded(item + len(self) if item < 0 else item).decode("utf-8", "surrogatepass")


class Pairs:
    """``(namespace, name)`` pairs of strings, appended in turn and read back by number, as
    :class:`Texts` (a list of tuples of str holds about 130 bytes a pair besides the characters)."""

    def __init__(self):
        self._parts = Texts()  # two a pair

    def __len__(self) -> int:
        return len(self._parts) // 2

    def append(self, pair: tuple) -> int:
        namespace, name = pair
        self._parts.append(namespace)
        return self._parts.append(name) // 2

    def __getitem__(self, number: int) -> tuple:
        return self._parts[2 * number], self._parts[2 * number + 1]

    def sort_key(self, number: int) -> bytes:
        """Bytes that sort as the pair does (UTF-8 keeps the order of code points; a NUL, which no
        namespace holds, ends the namespace)."""
        return self._parts.encoded(2 * number) + b"\0" + self._parts.encoded(2 * number + 1)

    def same(self, number: int, encoded: tuple) -> bool:
        return (self._parts.encoded(2 * number), self._parts.encoded(2 * number + 1)) == encoded


class Fingerprints:
    """The object names' fingerprints, each with its cluster's ordinal, in :data:`BUCKETS` buckets by
    fingerprint; a bucket's entries go to a temporary file :data:`SPILL` at a time, so memory does
    not grow with the repo.  :meth:`buckets` gives back one bucket at a time."""

    def __init__(self):
        self._pending = [array("Q") for _ in range(BUCKETS)]
        self._runs: list = [[] for _ in range(BUCKETS)]  # (offset, count) of a bucket's entries in the spool
        self._spool = None
        self._size = 0

    def add(self, fps, ordinal: int) -> None:
        for fp in fps:
            pending = self._pending[fp % BUCKETS]
            pending.append(fp << 32 | ordinal)
            if len(pending) >= SPILL:
                self._spill(fp % BUCKETS)

    def _spill(self, bucket: int) -> None:
        import tempfile

        if self._spool is None:
            self._spool = tempfile.TemporaryFile()
        pending = self._pending[bucket]
        self._spool.write(pending.tobytes())
        self._runs[bucket].append((self._size, len(pending)))
        self._size += len(pending) * pending.itemsize
        self._pending[bucket] = array("Q")

    def buckets(self):
        """Each bucket's entries (``fingerprint << 32 | ordinal``) as one array, in turn."""
        for bucket in range(BUCKETS):
            entries = array("Q")
            for offset, count in self._runs[bucket]:
                self._spool.seek(offset)
                entries.frombytes(self._spool.read(count * entries.itemsize))
            entries.extend(self._pending[bucket])
            yield entries

    def close(self) -> None:
        if self._spool is not None:
            self._spool.close()
        self.__init__()


class Keys:
    """The place of the first cluster of each ``(namespace, name)`` the repo rules see (a mapping
    for ``get``, ``in``, ``[]`` and ``setdefault``): the pairs in a :class:`Pairs`, found through
    an open-addressing table of their numbers (about 50 bytes a cluster; a dict of tuples, 200).
    A pair that is not two strings (a broken document's) is kept in a dict."""

    def __init__(self):
        self._pairs = Pairs()
        self._places = array("q")
        self._hashes = array("q")
        self._slots = array("i", [-1]) * 16  # pair number, or -1; at most half are used
        self._odd: dict = {}

    def __len__(self) -> int:
        return len(self._places) + len(self._odd)

    @staticmethod
    def _encoded(key) -> tuple | None:
        if isinstance(key, tuple) and len(key) == 2 and all(type(part) is str for part in key):
            return tuple(part.encode("utf-8", "surrogatepass") for part in key)
        return None

    def _slot(self, key, encoded: tuple) -> int:
        """The slot of ``key``, or the empty slot where it would go."""
        mask, slot = len(self._slots) - 1, hash(key)
        while True:
            slot &= mask
            number = self._slots[slot]
            if number < 0 or self._pairs.same(number, encoded):
                return slot
            slot += 1

    def get(self, key, default=None):
        encoded = self._encoded(key)
        if encoded is None:
            return self._odd.get(key, default) if _hashable(key) else default
        number = self._slots[self._slot(key, encoded)]
        return default if number < 0 else self._places[number]

    def __contains__(self, key) -> bool:
        return self.get(key) is not None

    def __getitem__(self, key) -> int:
        place = self.get(key)
        if place is None:
            raise KeyError(key)
        return place

    def setdefault(self, key, place: int) -> int:
        encoded = self._encoded(key)
        if encoded is None:
            return self._odd.setdefault(key, place)
        slot = self._slot(key, encoded)
        if self._slots[slot] >= 0:
            return self._places[self._slots[slot]]
        self._slots[slot] = self._pairs.append(key)
        self._places.append(place)
        self._hashes.append(hash(key))
        if 2 * len(self._places) > len(self._slots):
            self._slots = array("i", [-1]) * (2 * len(self._slots))
            mask = len(self._slots) - 1
            for number, slot in enumerate(self._hashes):
                while self._slots[slot & mask] >= 0:
                    slot += 1
                self._slots[slot & mask] = number
        return place


def _hashable(value) -> bool:
    try:
        hash(value)
    except TypeError:
        return False
    return True


def _index_chunk(numbers: list) -> list:
    index = _STATE["index"]
    return [index.index_file(number) for number in numbers]


def _classify(docs: list) -> tuple[list, list, list]:
    """A cluster file's documents: KubeDirector documents, other Kubernetes objects, apps and configs."""
    kdocs, extras, late = [], [], []
    for doc in docs:
        if doc.kind in CATALOG_KINDS:
            late.append(doc)
        elif is_extra(doc):
            extras.append(doc)
        else:
            kdocs.append(doc)
    return kdocs, extras, late


def _outcache():
    """generate's output cache module, when this process has loaded it (only generate imports it)."""
    return sys.modules.get("kdrender.outcache")


def _recording() -> bool:
    """Whether generate's output cache records what this process reads (workers would not be seen)."""
    outcache = _outcache()
    return bool(outcache and outcache.recording())


def check_repo(root: str, cluster_files: list | None = None, namespace: str | None = None,
               options: dict | None = None, cache=None) -> tuple[Model, list]:
    """The model of ``root`` and its errors (see the module's docstring); ``cluster_files``
    selects clusters as ``pipeline.load_model`` does (their problems count, the others' warn)."""
    from .validate import check_base

    repo = load_repo(root, cluster_files=[])
    base = check_base(repo, namespace, options, cache)
    if cluster_files is None:
        files, problems = scan_files(root, "clusters")
        repo.problems.extend(problems)
        selected: list = []
    else:
        files = selected = sorted(set(cluster_files))
    if _outcache():  # past a number of files it stops recording (the index may then use workers)
        _outcache().files_to_read(len(files))
    files = Texts(files)
    index = Index(root, repo, base, files, keep=len(files) <= KEEP)
    index.selection = cluster_files is not None
    index.chosen = len(selected)
    index.run(range(len(files)))
    if index.selection and index.chosen_conns:  # as scope.add_connected: read the others too
        others, problems = scan_files(root, "clusters")
        repo.problems.extend(problems)
        chosen = set(selected)
        index.files = files = Texts([*files, *(rel for rel in others if rel not in chosen)])
        index.keep = index.keep and len(files) <= KEEP
        index.run(range(len(selected), len(files)))
    if index.late:  # apps or configs in cluster files: they belong to the catalog, so check again with them
        for doc in index.late:
            (repo.catalog if doc.kind == "KubeDirectorApp" else repo.configs).append(doc)
        late = index.late
        base = check_base(repo, namespace, options, cache)
        index = Index(root, repo, base, files, keep=index.keep, late_known=True)
        index.selection = cluster_files is not None
        index.chosen = len(selected)
        index.run(range(len(files)))
        index.late = late
    model, errors = index.finish()
    if cluster_files is not None:
        from .scope import demote

        errors, ignored = demote(errors, _relevant(index, repo, selected))
        model.warnings.extend(ignored)
        model.selected = set(cluster_files)
    return model, errors


def _relevant(index: Index, repo: RepoFiles, selected: list) -> set:
    """``scope.relevant_files`` from the index: the selected files, the files of the clusters they
    connect to, the configs and the catalog files of the apps all of these use."""
    wanted = index.chosen_conns
    apps = set(index.chosen_apps)
    files = set(selected)
    for number, (pairs, conns) in index.raw.items():  # the files read besides the selected ones
        if any(name in wanted for name, _ in pairs):
            files.add(index.files[number])
            apps |= {app for name, app in pairs if name in wanted}
    files |= {doc.file for doc in repo.configs}
    files |= {doc.file for doc in repo.catalog if doc.name in apps}
    return files


def load(root: str, cluster_files: list | None = None, namespace: str | None = None, options: dict | None = None,
         cache=None) -> Model:
    """:func:`check_repo`, raising UserError with the errors when there are any."""
    model, errors = check_repo(root, cluster_files, namespace, options, cache)
    if errors:
        raise UserError(errors, model)
    return model
