"""The fast YAML writer (kdrender/fastyaml.py) gives exactly PyYAML's bytes (emit.pyyaml_dump)."""

from __future__ import annotations

from pathlib import Path

import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from kdrender.emit import ambiguous, pyyaml_dump, to_yaml
from kdrender.fastyaml import Writer

PROJECT = Path(__file__).resolve().parent.parent

# characters that steer PyYAML's scalar styles: indicators, quotes, spaces, breaks, non-ASCII
TRICKY = "ab01 :#-?,[]{}&*!|>'\"%@`.~=<+_\n\t\\/$()é\u2028\x85\ufeff\x00"
strings = st.one_of(
    st.text(alphabet=TRICKY, max_size=12),
    st.text(alphabet="abcxyz0123456789-./:", max_size=20),
    st.sampled_from(["1e3", "yes", "~", "", "...", "---", "- a", "a: b", "a #b", "line\nline\n", "\n\nx", " x\ny",
                     "x\n\n", "x \ny", "a\r\nb", "#!/bin/sh\nset -e\n  echo hi\n\n  done\n"]),
    st.text(max_size=10),
)
scalars = st.one_of(strings, st.integers(min_value=-10**20, max_value=10**20), st.booleans(), st.none())
keys = st.one_of(strings, st.text(alphabet="abc", min_size=126, max_size=130))
data = st.recursive(scalars, lambda children: st.one_of(
    st.lists(children, max_size=4), st.dictionaries(keys, children, max_size=4)), max_leaves=25)


@settings(max_examples=1500, deadline=None)
@given(st.dictionaries(keys, data, max_size=5))
def test_same_bytes_as_pyyaml(obj):
    assert to_yaml(obj) == pyyaml_dump(obj)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(keys, data, min_size=1, max_size=5))
def test_same_bytes_with_a_fresh_fragment_cache(obj):
    """Fragments are kept between objects; a new writer must give the same text as one that saw others."""
    assert Writer(pyyaml_dump, ambiguous).dump(obj) == pyyaml_dump(obj) if _lays_out(obj) else True


def _lays_out(obj) -> bool:
    from kdrender.fastyaml import Fallback

    try:
        Writer(pyyaml_dump, ambiguous).dump(obj)
    except Fallback:
        return False
    return True


def test_rendered_objects_take_the_fast_path():
    """Every golden object is laid out by the writer itself (no whole-object fallback) and matches."""
    files = sorted((PROJECT / "golden").rglob("*.yaml"))
    assert files
    for path in files:
        obj = yaml.safe_load(path.read_text())
        writer = Writer(pyyaml_dump, ambiguous)
        assert writer.dump(obj) == pyyaml_dump(obj), path
