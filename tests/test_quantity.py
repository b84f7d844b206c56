"""Kubernetes quantities (kdrender/quantity.py, issue 18): read and written as apimachinery does.

* tests/data/quantities-go.tsv: what Go's resource.Quantity (apimachinery v0.36.3) prints for
  chosen and random inputs; kdrender's canonical form must be Go's, and a fixed point.
* numbers from YAML are the text Go's encoding/json writes for them (checked against Go).
* property tests over the grammar against the rules Quantity documents (an exact oracle with
  fractions, not kdrender's Decimal code).
* every quantity of the conformance files, written in non-canonical equivalents, renders as
  the canonical value (what the API server stores), and configmeta copies Value() as KubeDirector.
"""

from __future__ import annotations

import copy
import json
import math
import re
from fractions import Fraction
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml
from hypothesis import assume, given
from hypothesis import strategies as st

from conftest import APP_YAML, CLUSTER_YAML, edit
from kdrender.quantity import (
    BINARY_SI, DECIMAL_EXPONENT, DECIMAL_SI, INT64_MAX, beyond, canonical, parse, quantity_value, scaled_value,
)
from kdrender.render.configmeta import _flavor
from render_helpers import (
    CONFORMANCE, app_container, conformance_params, conformance_repo, of_kind, render_one, write_repo,
)

TABLE = Path(__file__).resolve().parent / "data" / "quantities-go.tsv"


def go_rows():
    lines = [line for line in TABLE.read_text(encoding="utf-8").splitlines() if line and not line.startswith("#")]
    header = lines[0].split("\t")
    return [dict(zip(header, line.split("\t"))) for line in lines[1:]]


ROWS = go_rows()


def test_the_table_has_the_cases_of_the_issue():
    table = {row["input"]: row["canonical"] for row in ROWS}
    assert {k: table[k] for k in ("0.5", "1000m", "1024Mi", "1000M", "1e3", "1.5Gi", "0.1", "100m", "12000m")} == {
        "0.5": "500m", "1000m": "1", "1024Mi": "1Gi", "1000M": "1G", "1e3": "1e3", "1.5Gi": "1536Mi",
        "0.1": "100m", "100m": "100m", "12000m": "12"}
    assert len(ROWS) > 400
    # the API server stores these as canonical already: rendering them canonical is a no-op for it
    # (README, "Upgrading"); it keeps a few other spellings as written
    stored = {row["input"]: row["stored"] for row in ROWS}
    assert all(stored[k] == table[k] for k in ("0.5", "1000m", "1024Mi", "1000M", "12000m", "0.1", "1.5Gi"))
    assert (stored["+1"], stored["1."], stored["1.500"]) == ("+1", "1.", "1.500")


@pytest.mark.parametrize("row", ROWS, ids=[row["input"] for row in ROWS])
def test_canonical_form_is_gos(row):
    text = row["input"]
    q = parse(text)
    assert q is not None
    assert canonical(text) == row["canonical"]
    if q.value:  # Go remembers a format for zero too, but writes "0" whatever it is
        assert q.format == row["format"]
    # what kdrender writes is what the API server stores for it, and kdrender reads it back unchanged
    assert row["again"] == row["canonical"]
    assert canonical(row["canonical"]) == row["canonical"]
    assert parse(row["canonical"]).value == q.value or row["input"] == "1000E"


def test_go_keeps_some_inputs_as_written_but_never_a_canonical_form():
    """The API server stores "+1", "1." and "1.500" as written (its parser keeps the text when it
    looks canonical); the canonical forms kdrender writes are always stored as they are."""
    kept = {row["input"]: row["stored"] for row in ROWS if row["stored"] != row["canonical"]}
    assert kept["+1"] == "+1" and kept["1.500"] == "1.500" and kept["1."] == "1."
    assert all(canonical(text) != text for text in kept)


@pytest.mark.parametrize("text, expected", [
    ("1000E", "1"),  # Go has no DecimalSI suffix beyond E, and writes none: refused by every rule
    ("8Ei", "9223372036854775807"),  # BinarySI is capped
    ("1e5000", "100e4998"), ("1e999999999", "1e999999999"),  # not computed digit by digit
    ("1e-999999999", "1e-9"), ("0e999999999", "0"), ("-0.5Ki", "-512"),
])
def test_edges(text, expected):
    assert canonical(text) == expected


@pytest.mark.parametrize("text, stored", [
    ("500u", "1m"), ("1n", "1m"), ("0.0000000001", "1m"), ("1e-9", "1e-3"), ("10e-6", "1e-3"), ("1.0001", "1001m"),
    ("1000000n", "1m"), ("0.5", "500m"), ("1.5Gi", "1536Mi"), ("8Ei", "9223372036854775807"), ("0.001Ti", "1099511627776m"),
    ("1e5000", "100e4998"), ("0", "0"),
])
def test_resource_lists_are_rounded_up_to_milli_units(text, stored):
    """The API server's defaulting rounds every ResourceList value up to milli-units (checked against
    kube-apiserver 1.36 by tests/e2e/test_quantities_apiserver.py), and keeps the format."""
    assert canonical(text, resource_list=True) == stored
    assert canonical(stored, resource_list=True) == stored


@pytest.mark.parametrize("text", ["", "lots", "1e", "1.5.5", "Ki", "1 Ki", "1ki", "1e2147483648", "0x10", "1e1.5"])
def test_not_quantities(text):
    assert parse(text) is None
    assert canonical(text) == text  # reported by the rules, never rewritten


# what Go's encoding/json writes for a float64 (checked with Go 1.27): kubectl turns YAML into JSON so
@pytest.mark.parametrize("number, go", [
    (0.5, "0.5"), (2.0, "2"), (1e-05, "0.00001"), (1e-06, "0.000001"), (9.99e-07, "9.99e-7"), (1e-07, "1e-7"),
    (1.5e9, "1500000000"), (1e16, "10000000000000000"), (1e20, "100000000000000000000"), (1e21, "1e+21"),
    (1.2345678901234569e+23, "1.2345678901234569e+23"), (0.1, "0.1"), (1.25, "1.25"), (100.0, "100"),
    (1e300, "1e+300"), (3e-10, "3e-10"),
])
def test_yaml_numbers_read_as_go_writes_them(number, go):
    assert canonical(number) == canonical(go)
    assert parse(number).format == parse(go).format


def test_yaml_numbers_and_others():
    assert canonical(2) == "2" and canonical(0.5) == "500m" and canonical(1e-05) == "10u"
    assert parse(True) is None and parse(None) is None and parse(float("nan")) is None and parse([1]) is None


# --- property tests against the documented rules --------------------------------------------

SI = {"": 0, "n": -9, "u": -6, "m": -3, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}
BINARY = {"Ki": 10, "Mi": 20, "Gi": 30, "Ti": 40, "Pi": 50, "Ei": 60}


@st.composite
def quantities(draw):
    sign = draw(st.sampled_from(["", "", "-", "+"]))
    whole = draw(st.text("0123456789", max_size=22))
    fraction = draw(st.none() | st.text("0123456789", max_size=14))
    if not whole and not fraction:
        whole = draw(st.text("0123456789", min_size=1, max_size=3))
    number = whole + ("." + fraction if fraction is not None else "")
    kind = draw(st.sampled_from(["si", "binary", "exponent"]))
    if kind == "si":
        suffix = draw(st.sampled_from(sorted(SI)))
    elif kind == "binary":
        suffix = draw(st.sampled_from(sorted(BINARY)))
    else:
        exponent = draw(st.integers(-40, 40) | st.integers(-6000, 6000))
        suffix = draw(st.sampled_from("eE")) + draw(st.sampled_from(["", "+"] if exponent >= 0 else [""])) + str(exponent)
    return sign + number + suffix


def oracle(text):
    """(exact value as the API server holds it, format), from Quantity's documentation: the suffix
    gives the format, non-zero values are rounded up to 1n steps, BinarySI is capped at 2^63-1 and
    is DecimalSI below 1."""
    m = re.fullmatch(r"([+-]?)([0-9.]+)(.*)", text)
    sign, number, suffix = m.groups()
    value = Fraction(number)
    if suffix in BINARY:
        value, fmt = value * 2 ** BINARY[suffix], BINARY_SI
    elif suffix in SI:
        value, fmt = value * Fraction(10) ** SI[suffix], DECIMAL_SI
    else:
        value, fmt = value * Fraction(10) ** int(suffix[1:]), DECIMAL_EXPONENT
    if value:
        value = Fraction(math.ceil(value * 10**9), 10**9)
    if fmt == BINARY_SI:
        value = min(value, Fraction(INT64_MAX))
        if 0 < value < 1:
            fmt = DECIMAL_SI
    return (-value if sign == "-" else value), fmt


def split(text):
    m = re.fullmatch(r"(-?)([0-9]+)(|[numkMGTPE]|[KMGTPE]i|e-?[0-9]+)", text)
    assert m, text
    return m.groups()


@given(quantities())
def test_value_is_the_documented_value(text):
    value, fmt = oracle(text)
    q = parse(text)
    assert Fraction(q.value) == value
    if value:
        assert q.format == fmt


@given(quantities())
def test_canonical_form_is_canonical(text):
    value, fmt = oracle(text)
    out = canonical(text)
    assert canonical(out) == out  # idempotent
    if not value:
        assert out == "0"
        return
    assume(not (fmt == DECIMAL_SI and abs(value) >= 10**21))  # Go writes these without a suffix (test_edges)
    assert Fraction(parse(out).value) == value  # no precision lost
    sign, mantissa, suffix = split(out)  # no fraction, no "+", no leading zeros
    assert (sign == "-") == (value < 0) and not mantissa.startswith("0")
    if fmt == BINARY_SI and abs(value) >= 1024 and value.denominator == 1:
        assert suffix in BINARY or suffix == ""  # the suffix family is kept
        assert int(mantissa) % 1024 or suffix == "Ei"  # the largest exact unit
    elif fmt == DECIMAL_EXPONENT:
        assert suffix == "" or suffix.startswith("e")
        assert int(mantissa) % 1000 and (suffix == "" or int(suffix[1:]) % 3 == 0)
    else:  # DecimalSI, also for BinarySI values below 1024 or with a fraction
        assert suffix in SI
        assert int(mantissa) % 1000 or suffix == "E"
        assert (value.denominator != 1) == (SI[suffix] < 0)  # "m", "u" or "n" for fractions only (all below 1)


@given(quantities())
def test_resource_lists_round_up_to_milli_units(text):
    value, fmt = oracle(text)
    assume(not (fmt == DECIMAL_SI and abs(value) >= 10**21))
    stored = canonical(text, resource_list=True)
    assert canonical(stored, resource_list=True) == stored
    milli = Fraction(math.ceil(abs(value) * 1000), 1000)  # away from zero, as Go's RoundUp(-3)
    assert Fraction(parse(stored).value) == (-milli if value < 0 else milli)
    if milli == abs(value):
        assert stored == canonical(text)


@given(quantities())
def test_scaled_values_round_up(text):
    value, _ = oracle(text)
    for scale in (0, -3):
        expected = math.ceil(value * Fraction(10) ** -scale)
        assert scaled_value(text, scale) == max(-INT64_MAX - 1, min(INT64_MAX, expected))


@given(quantities())
def test_beyond_is_the_millicore_and_byte_cap(text):
    value, fmt = oracle(text)
    capped = parse(text).capped  # the stored value of a capped BinarySI quantity hides its size
    assert capped == (fmt == BINARY_SI and abs(value) == INT64_MAX and canonical(text.lstrip("+-")) != text.lstrip("+-"))
    assert (beyond(text, "cpu") is not None) == (capped or abs(value) * 1000 > INT64_MAX)
    assert (beyond(text, "bytes") is not None) == (capped or abs(value) > INT64_MAX)


# --- rendering -----------------------------------------------------------------------------

QUANTITY_FIELDS = ("resources.limits", "resources.requests", "claims", "sizeLimit")


def rendered_quantities(objects) -> dict:
    """Every quantity of the rendered StatefulSets: {(statefulset, where): text}."""
    out = {}
    for sts in of_kind(objects, "StatefulSet"):
        name = sts["metadata"]["name"]
        for kind, values in app_container(sts).get("resources", {}).items():
            for res, text in values.items():
                out[(name, f"{kind}.{res}")] = text
        for claim in sts["spec"].get("volumeClaimTemplates", []):
            out[(name, f"claim.{claim['metadata']['name']}")] = claim["spec"]["resources"]["requests"]["storage"]
        for volume in sts["spec"]["template"]["spec"].get("volumes", []):
            if "sizeLimit" in volume.get("emptyDir", {}):
                out[(name, f"emptyDir.{volume['name']}")] = volume["emptyDir"]["sizeLimit"]
    return out


def respelled(text):
    """The same quantity in another spelling of its suffix family (``4Gi`` -> ``4096Mi``, ``2`` -> ``2000m``)."""
    sign, mantissa, suffix = split(canonical(text))
    if suffix in BINARY and suffix != "Ki":
        smaller = {v: k for k, v in BINARY.items()}[BINARY[suffix] - 10]
        return f"{sign}{int(mantissa) * 1024}{smaller}"
    if suffix in SI and SI[suffix] > -9:
        smaller = {v: k for k, v in SI.items()}[SI[suffix] - 3]
        return f"{sign}{int(mantissa) * 1000}{smaller}"
    return f"{sign}{mantissa}.000{suffix}"


def load_data(path: Path):
    text = path.read_text(encoding="utf-8")
    return json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)


def respell_roles(spec: dict) -> list:
    """Rewrite every quantity of the cluster's roles in place; the originals, in order."""
    originals = []
    for role in spec.get("roles") or []:
        for kind in ("limits", "requests"):
            values = (role.get("resources") or {}).get(kind) or {}
            for name in values:
                originals.append(values[name])
                values[name] = respelled(values[name])
        for field in ("storage", "blockStorage"):
            if isinstance(role.get(field), dict) and "size" in role[field]:
                originals.append(role[field]["size"])
                role[field]["size"] = respelled(role[field]["size"])
        if role.get("sharedMemory"):
            originals.append(role["sharedMemory"])
            role["sharedMemory"] = respelled(role["sharedMemory"])
    return originals


@pytest.mark.parametrize("version,name", conformance_params())
def test_conformance_quantities_render_canonical(tmp_path, version, name):
    """Each quantity of a conformance cluster, written in another spelling, renders as the
    canonical form of the original (the conformance files use canonical values)."""
    as_written = render_one(conformance_repo(tmp_path / "a", version, name))[2]
    before = rendered_quantities(as_written)
    assert before and all(canonical(text) == text for text in before.values())
    root = conformance_repo(tmp_path / "b", version, name)
    path = root / "clusters" / name
    data = load_data(path)
    originals = respell_roles(data["spec"])
    assert all(canonical(text) == text for text in originals)  # KubeDirector's examples are canonical
    path.write_text(json.dumps(data) if path.suffix == ".json" else yaml.safe_dump(data), encoding="utf-8")
    assert path.read_text(encoding="utf-8") != (CONFORMANCE / version / "clusters" / name).read_text(encoding="utf-8")
    after = rendered_quantities(render_one(root)[2])
    assert after == before


@pytest.mark.parametrize("version", ["v1beta1", "v1alpha1"])
def test_conformance_app_quantities_are_canonical(version):
    if not (CONFORMANCE / version / "catalog").is_dir():
        pytest.skip(f"conformance files not found at {CONFORMANCE}")
    seen = 0
    for path in sorted((CONFORMANCE / version / "catalog").iterdir()):
        if path.suffix not in (".json", ".yaml", ".yml"):
            continue
        for role in (load_data(path).get("spec") or {}).get("roles") or []:
            values = list((role.get("minResources") or {}).values()) + [(role.get("minStorage") or {}).get("size")]
            for text in filter(None, values):
                assert canonical(text) == text and canonical(canonical(text)) == text
                assert beyond(text, "bytes") is None
                seen += 1
    assert seen or version == "v1alpha1"


CLUSTER = edit(
    CLUSTER_YAML,
    ('requests: {cpu: "1", memory: 1Gi}', "requests: {cpu: 500u, memory: 1024Mi, ephemeral-storage: 1000M}"),
    ('limits: {cpu: "1", memory: 1Gi}\n  - id: worker',
     'limits: {cpu: "1000m", memory: "1.5Gi", ephemeral-storage: 1e9, nvidia.com/gpu: 2}\n'
     "    storage: {size: 0.5Ti}\n    sharedMemory: 1048576Ki\n"
     "    blockStorage: {storageClassName: fast, pathPrefix: /dev/xvd, numDevices: 1, size: 2048Mi}\n  - id: worker"),
    ('    members: 2\n    resources:\n      limits: {cpu: "1", memory: 1Gi}',
     '    members: 2\n    resources:\n      limits: {cpu: "12000m", memory: 2, cpu-ish.example.com/x: "3"}'),
)


def test_every_rendered_quantity_is_canonical(tmp_path):
    root = write_repo(tmp_path, {"catalog/web.yaml": APP_YAML, "clusters/web1.yaml": CLUSTER})
    found = {(sts.split("-")[1], where): text for (sts, where), text in rendered_quantities(render_one(root)[2]).items()}
    assert found == {
        ("controller", "limits.cpu"): "1", ("controller", "limits.memory"): "1536Mi",
        ("controller", "limits.ephemeral-storage"): "1e9", ("controller", "limits.nvidia.com/gpu"): "2",
        ("controller", "requests.cpu"): "1m", ("controller", "requests.memory"): "1Gi",  # a ResourceList: milli
        ("controller", "requests.ephemeral-storage"): "1G",
        ("controller", "claim.p"): "512Gi", ("controller", "claim.b0"): "2Gi",
        ("controller", "emptyDir.shmem"): "1Gi",
        ("controller", "emptyDir.tmpfs-tmp"): "20Gi", ("controller", "emptyDir.tmpfs-run"): "20Gi",
        ("controller", "emptyDir.tmpfs-run-lock"): "20Gi",
        ("worker", "limits.cpu"): "12", ("worker", "limits.memory"): "2", ("worker", "limits.cpu-ish.example.com/x"): "3",
        ("worker", "emptyDir.tmpfs-tmp"): "20Gi", ("worker", "emptyDir.tmpfs-run"): "20Gi",
        ("worker", "emptyDir.tmpfs-run-lock"): "20Gi",
    }
    # the cluster file itself is left as written
    assert (root / "clusters/web1.yaml").read_text(encoding="utf-8") == CLUSTER


@pytest.mark.parametrize("limits, memory, cores", [
    ({"cpu": "2", "memory": "4Gi"}, "4096", "2"), ({"cpu": "500m", "memory": "1.5Gi"}, "1536", "1"),
    ({"cpu": 0.5, "memory": 2}, "0", "1"), ({"cpu": "1e3", "memory": "1048575.5"}, "1", "1000"),
    ({"cpu": "1n", "memory": "1048577"}, "1", "1"), ({"cpu": "12000m", "memory": "1000M"}, "953", "12"),
])
def test_configmeta_flavor_is_kubedirectors(limits, memory, cores):
    """``memory`` = limits.memory.Value()/1048576 and ``cores`` = limits.cpu.Value(); Value() rounds up."""
    flavor = _flavor(SimpleNamespace(spec={"resources": {"limits": copy.deepcopy(limits)}}))
    assert (flavor["memory"], flavor["cores"]) == (memory, cores)
    assert quantity_value(limits["memory"]) // 1048576 == int(memory)
