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


@settings(max_examples=800, deadline=None)
@given(st.dictionaries(keys, st.one_of(data, st.floats(allow_nan=False)), max_size=5))
def test_emitted_text_bounds_the_object_size(obj):
    """kdrender/apicheck.py skips measuring an object whose emitted text is under the limit: that is
    safe only if the text's UTF-8 size is never below the measure, in YAML and in JSON."""
    from kdrender.apicheck import _payload, text_bytes
    from kdrender.emit import json_lines

    size = _payload(obj)
    assert text_bytes(to_yaml(obj)) >= size
    assert text_bytes(json_lines([obj])[0]) >= size


def test_an_object_over_the_limit_is_measured_not_judged_by_its_text():
    """A text over the limit (quotes escaped, keys quoted) is only a hint: the object is measured."""
    from kdrender.apicheck import MAX_OBJECT_BYTES, object_problems
    from kdrender.emit import json_lines

    near = {"kind": "Service", "metadata": {"name": "c"}, "spec": {"k": '"' * (MAX_OBJECT_BYTES // 2 + 10)}}
    text = json_lines([near])[0]
    assert len(text) > MAX_OBJECT_BYTES
    assert object_problems(near, text) == object_problems(near) == []
    near["spec"]["k"] += '"' * (MAX_OBJECT_BYTES // 2)
    [message] = object_problems(near, json_lines([near])[0])
    assert "-byte limit of an object" in message


long_values = st.one_of(st.builds(lambda head, n: head * n, st.text(alphabet=TRICKY, min_size=1, max_size=8),
                                  st.integers(min_value=16 * 1024, max_value=16 * 1024 + 3)),
                        st.sampled_from(["\x00kdrender-long-value-0\x00", "\x00kdrender-long-value-1\x00", "x" * 20000]))


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.one_of(keys, st.just("\x00kdrender-long-value-0\x00")), st.one_of(strings, long_values),
                       max_size=4),
       st.dictionaries(keys, data, max_size=3))
def test_json_lines_are_json_dumps(data_, metadata):
    """emit.json_lines encodes long ConfigMap values once per run; the text is json.dumps' to the byte,
    whatever the values hold (marks included)."""
    import json

    from kdrender.emit import json_lines

    for obj in ({"kind": "ConfigMap", "data": data_, "metadata": metadata}, {"kind": "Secret", "data": data_}):
        expected = json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False) + "\n"
        assert json_lines([obj, obj]) == [expected, expected]
