"""Property tests (hypothesis) for the pure helpers every object name and size goes through."""

from __future__ import annotations

import random
import string

from hypothesis import given, settings
from hypothesis import strategies as st

from kdrender.emit import to_yaml, yaml_stream
from kdrender.k8s import dns1123_label
from kdrender.names import SUFFIX_ALPHABET, mung, port_name, is_iana_svc_name, suffix
from kdrender.quantity import parse_quantity, quantity_value

NAME_CHARS = string.ascii_letters + string.digits + "-._"


@given(st.text(alphabet=NAME_CHARS, min_size=1, max_size=80))
def test_mung_is_kubedirectors_munging(name):
    out = mung(name)
    assert len(out) <= 46
    assert "." not in out and "_" not in out and out == out.lower()
    # index by index: replaced, or dropped only at index 45
    expected = "".join(("-" if c in "._" else c.lower()) for c in name[:45])
    if len(name) > 45:
        expected += "" if name[45] in "._" else name[45].lower()
    assert out == expected


@given(st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-", min_size=1, max_size=40).filter(
    lambda s: s[0].isalnum() and s[-1].isalnum()))
def test_valid_short_names_survive_munging(name):
    assert dns1123_label(name) is None
    assert mung(name) == name


@given(st.text(min_size=0, max_size=30))
def test_suffix_is_stable_and_from_the_generate_name_alphabet(key):
    assert suffix(key) == suffix(key)
    assert len(suffix(key)) == 5 and set(suffix(key)) <= set(SUFFIX_ALPHABET)


@given(st.text(alphabet=string.ascii_letters + string.digits + "_-.", min_size=1, max_size=30).filter(
    lambda s: any(c.isalpha() for c in s[:15])))
def test_port_names_are_iana_service_names(service_id):
    name = port_name(service_id)
    assert is_iana_svc_name(name), name


@given(st.integers(min_value=0, max_value=10**6), st.sampled_from(["", "m", "k", "M", "G", "Ki", "Mi", "Gi"]))
def test_quantities_round_up_like_go(number, unit):
    text = f"{number}{unit}"
    value = parse_quantity(text)
    assert value is not None and value >= 0
    assert quantity_value(text) - 1 < value <= quantity_value(text)  # Go's Value() rounds up


@given(st.text(alphabet="abc", min_size=1, max_size=3).map(lambda s: s + "x"))
def test_not_a_quantity(text):
    assert parse_quantity(text) is None


nested = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-1000, 1000), st.text(max_size=20)),
    lambda children: st.one_of(st.lists(children, max_size=4),
                               st.dictionaries(st.text(min_size=1, max_size=8), children, max_size=4)),
    max_leaves=20,
)


def shuffled(value, rng):
    if isinstance(value, dict):
        items = list(value.items())
        rng.shuffle(items)
        return {k: shuffled(v, rng) for k, v in items}
    if isinstance(value, list):
        return [shuffled(v, rng) for v in value]
    return value


@settings(max_examples=150)
@given(st.dictionaries(st.text(min_size=1, max_size=8), nested, max_size=6), st.integers())
def test_emit_does_not_depend_on_key_order(obj, seed):
    assert to_yaml(shuffled(obj, random.Random(seed))) == to_yaml(obj)
    assert yaml_stream([shuffled(obj, random.Random(seed + 1))]) == yaml_stream([obj])


def test_shared_objects_are_written_out_not_aliased():
    shared = {"limits": {"cpu": "2"}}
    text = to_yaml({"a": shared, "b": shared, "c": [shared, shared]})
    assert "&" not in text and "*" not in text
    assert text.count("cpu: '2'") == 4
