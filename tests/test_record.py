"""kdrender/record.py and kdrender/digest.py stand in for dataclasses, hashlib and uuid on the generate
path (issue 12): they must behave as those do where kdrender relies on them."""

from __future__ import annotations

import copy
import dataclasses
import hashlib
import pickle
import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kdrender import digest
from kdrender.problems import Problem
from kdrender.record import FrozenInstanceError, field, fields, record, replace


@record(frozen=True, order=True)
class Point:
    x: int
    y: int
    note: str = field(default="", compare=False)
    tags: list = field(default_factory=list, compare=False)


@dataclasses.dataclass(frozen=True, order=True)
class DPoint:
    x: int
    y: int
    note: str = dataclasses.field(default="", compare=False)
    tags: list = dataclasses.field(default_factory=list, compare=False)


@record
class Box:
    size: int = 1
    items: dict = field(default_factory=dict)

    def __post_init__(self):
        self.items.setdefault("made", self.size)


points = st.builds(lambda x, y, note: (x, y, note), st.integers(-3, 3), st.integers(-3, 3), st.text(max_size=2))


@given(points, points)
def test_frozen_ordered_records_compare_hash_and_print_as_dataclasses(a, b):
    ra, rb, da, db = Point(*a), Point(*b), DPoint(*a), DPoint(*b)
    assert (ra == rb, ra < rb, ra <= rb, ra > rb, ra >= rb) == (da == db, da < db, da <= db, da > db, da >= db)
    assert (hash(ra) == hash(rb)) if ra == rb else True
    assert repr(ra).replace("Point", "DPoint", 1) == repr(da)
    assert sorted([rb, ra]) == sorted([ra, rb])


def test_defaults_factories_post_init_replace_and_copies():
    a, b = Box(), Box()
    assert a.items == {"made": 1} and a.items is not b.items  # a fresh factory value each time
    assert Box(3).items == {"made": 3} and Box(size=2, items={"x": 0}).items == {"x": 0, "made": 2}
    assert Box.size == 1 and not hasattr(Box, "items")  # defaults stay class attributes, factories do not
    assert [f.name for f in fields(Box)] == ["size", "items"]
    assert replace(Box(2), size=5) == Box(5, {"made": 2})  # through __init__: __post_init__ runs again
    with pytest.raises(TypeError):
        replace(Box(), colour=1)
    with pytest.raises(TypeError):
        hash(Box())  # mutable records are not hashable, as dataclasses with eq
    p = Point(1, 2, "n", ["t"])
    with pytest.raises(FrozenInstanceError):
        p.x = 3
    with pytest.raises(AttributeError):
        del p.y
    for clone in (pickle.loads(pickle.dumps(p)), copy.deepcopy(p), copy.copy(p)):
        assert clone == p and clone.note == "n" and clone.tags == ["t"]
    assert p != DPoint(1, 2) and Point(1, 2, "a") == Point(1, 2, "b")


def test_a_field_without_default_after_one_with_is_refused():
    with pytest.raises(TypeError):
        @record
        class Bad:
            a: int = 0
            b: int


def test_problems_stay_redacted_through_replace():
    p = Problem("f", 1, 2, "spec.url", "see https://user:secret@host/x")
    assert "secret" not in p.message
    q = replace(p, level="warning")
    assert q.level == "warning" and q.message == p.message and q == p  # level is not compared


@given(st.binary(max_size=300))
def test_digests_are_hashlibs(data):
    assert digest.sha256(data).hexdigest() == hashlib.sha256(data).hexdigest()
    assert digest.sha1(data).hexdigest() == hashlib.sha1(data).hexdigest()


@given(st.uuids(), st.text(max_size=40))
def test_uuid5_is_uuids(namespace, name):
    assert digest.uuid5(str(namespace), name) == str(uuid.uuid5(namespace, name))


def test_pyyaml_is_imported_with_lazy_patterns_that_behave_as_compiled_ones():
    """kdrender/pyyaml.py: PyYAML's import-time patterns compile on first use; re.compile is restored."""
    import re
    import subprocess
    import sys

    probe = ("import re, sys\nfrom kdrender.pyyaml import yaml, LazyPattern\n"
             "from yaml.reader import Reader\nfrom yaml.resolver import Resolver\n"
             "assert re.compile.__module__ == 're'\n"
             "print(type(Reader.NON_PRINTABLE).__name__)\n"
             "print(yaml.safe_load('a: 0x1F\\nb: 2001-12-14\\nc: yes\\nd: .5\\ne: ~\\n'))\n"
             "print(yaml.load('a: 1\\n', Loader=yaml.SafeLoader))\n"
             "try:\n    yaml.load('a: \\x07', Loader=yaml.SafeLoader)\nexcept yaml.YAMLError as exc:\n"
             "    print('refused', 'unacceptable character' in str(exc))\n"
             "print(type(re.compile('x')).__name__)\n")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout.split("\n")
    assert out[0].startswith("LazyPattern")
    assert out[1] == "{'a': 31, 'b': datetime.date(2001, 12, 14), 'c': True, 'd': 0.5, 'e': None}"
    assert out[2] == "{'a': 1}"  # the pure-Python reader and its (lazy) non-printable check
    assert out[3] == "refused True"
    assert out[4] == "Pattern"  # patterns compiled after the import are ordinary ones
    from kdrender.pyyaml import LazyPattern

    lazy = LazyPattern(r"^(?:[0-9]+)$", re.X)
    assert lazy.match("12") and not lazy.match("1a") and "match" in lazy.__dict__  # the compiled method itself
    assert lazy.sub("x", "12") == "x" and lazy.pattern == r"^(?:[0-9]+)$"
