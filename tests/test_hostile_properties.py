"""Property test (hypothesis) of issue 9: valid and mutated apps and clusters, run through the
console entry point like a user or Argo CD runs kdrender.

For every input: never a traceback or an internal error (exit 3); valid input renders objects
that pass the Kubernetes schemas (and what the API server checks in code); invalid input exits 1
and names the file; the output is the same bytes whatever the key order of the input.

The normal suite runs a bounded number of examples (profile ``ci``, about 15 s).  A longer run:

    KDRENDER_HYPOTHESIS_PROFILE=long .venv/bin/python -m pytest tests/test_hostile_properties.py tests/test_hardening.py
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import APP_YAML
from hostile import run_kdrender
from render_helpers import field_paths, reverse_keys
from test_k8s_schemas import OLDEST, api_server_problems, validator_for

settings.register_profile("ci", max_examples=25, deadline=None, derandomize=True,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
settings.register_profile("long", max_examples=1500, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
PROFILE = settings.get_profile(os.environ.get("KDRENDER_HYPOTHESIS_PROFILE", "ci"))

APP = yaml.safe_load(APP_YAML)
LOWER = "abcdefghijklmnopqrstuvwxyz"
names = st.text(LOWER + "0123456789-", min_size=1, max_size=20).filter(lambda s: s[0] in LOWER and s[-1] != "-")
cpus = st.sampled_from(["100m", "250m", "1", "2", "1500m", 1, 2, 0.5])
memories = st.sampled_from(["64Mi", "512Mi", "1Gi", "2G", "1500Mi"])
label_keys = st.sampled_from(["tier", "example.com/team", "app.example.org/part", "x"])
label_values = st.text(LOWER + "0123456789-_.", min_size=0, max_size=12).filter(
    lambda s: not s or (s[0].isalnum() and s[-1].isalnum()))


@st.composite
def resources(draw):
    limits = {"cpu": draw(cpus), "memory": draw(memories)}
    out = {"limits": limits}
    if draw(st.booleans()):
        out["requests"] = dict(limits)
    return out


@st.composite
def clusters(draw):
    """A KubeDirectorCluster of the test app (controller "1", worker "0+") that must render."""
    controller = {"id": "controller", "resources": draw(resources())}
    if draw(st.booleans()):
        controller["podLabels"] = draw(st.dictionaries(label_keys, label_values, max_size=3))
    if draw(st.booleans()):
        controller["env"] = [{"name": "MODE", "value": draw(st.text(max_size=20))}]
    roles = [controller]
    if draw(st.booleans()):
        roles.append({"id": "worker", "members": draw(st.integers(0, 4)), "resources": draw(resources())})
    metadata = {"name": draw(names)}
    if draw(st.booleans()):
        metadata["namespace"] = draw(names)
    spec = {"app": "web", "roles": roles}
    if draw(st.booleans()):
        spec["serviceType"] = draw(st.sampled_from(["ClusterIP", "NodePort", "LoadBalancer"]))
    return {"apiVersion": "kubedirector.hpe.com/v1beta1", "kind": "KubeDirectorCluster", "metadata": metadata,
            "spec": spec}


# Values a hostile or careless author writes, as YAML text (so YAML 1.1 forms stay as written).
HOSTILE = [
    "2.0", "-1", "0", "99999999999999999999999", "9" * 5001, "1:30", "010", "0x2", "1_000", "yes", "~", "[]", "{}",
    "2024-01-31", "!!binary aGk=", '"1e999999999"', '"1e99999999999"', '"-5Gi"', "&a [*a]", ".inf", ".nan",
    '"\\ud800"', '"' + "x" * 300 + '"', '"a b"', '"$(id)"', "'../../etc/passwd'", "{a: " * 80 + "1" + "}" * 80,
    "!!python/object/apply:os.system [id]", "[{secret: hunter2}]", "true", "null", '""', "- a\n- b",
]


def _dump(data) -> str:
    return yaml.safe_dump(data, sort_keys=False, default_flow_style=False, allow_unicode=True)


MARK = "HOSTILE-VALUE-MARK"


@st.composite
def mutated(draw, base):
    """``base`` (a document) with one hostile edit, as YAML text."""
    data = yaml.safe_load(_dump(base))
    paths = [p for p in field_paths(data) if p]
    path = draw(st.sampled_from(paths))
    parent = data
    for part in path[:-1]:
        parent = parent[part]
    how = draw(st.sampled_from(["replace", "replace", "delete", "unknown-key", "text"]))
    raw = draw(st.sampled_from(HOSTILE))
    if how == "delete":
        del parent[path[-1]]
        return _dump(data), None
    if how == "unknown-key" and isinstance(parent, dict):
        parent[draw(st.sampled_from(["extra", "Members", "spec", "<<", "1"]))] = MARK
        return _dump(data).replace(MARK, raw if "\n" not in raw else "[a, b]"), raw
    if how == "text":  # break the text itself: cut it, or splice a fragment in
        text = _dump(data)
        at = draw(st.integers(0, len(text)))
        fragment = draw(st.sampled_from(["", "\t", ": ", "- ", "{", "]", "&x ", "*x", "%YAML 1.1\n", "\x00", "\ufeff"]))
        return text[:at] + fragment + text[at + (len(fragment) if draw(st.booleans()) else 0):], None
    parent[path[-1]] = MARK
    text = _dump(data)
    if "\n" in raw:
        raw = "[a, b]"
    return text.replace(MARK, raw), raw


def _run(files: dict, argv=("render", "clusters/web1.yaml")):
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "catalog").mkdir()
        (root / "clusters").mkdir()
        for rel, text in files.items():
            (root / rel).write_text(text, encoding="utf-8", errors="surrogatepass")
        os.environ.setdefault("KDRENDER_CACHE_DIR", os.path.join(tempfile.gettempdir(), "kdrender-hostile-cache"))
        return run_kdrender(list(argv), root)


def _check_objects(stdout: str) -> list:
    objects = [o for o in yaml.safe_load_all(stdout) if o is not None]
    assert objects
    k8s = validator_for(OLDEST)
    for obj in objects:
        assert k8s.errors(obj) == [], (obj["kind"], obj["metadata"]["name"], k8s.errors(obj)[:3])
        assert api_server_problems(obj) == [], (obj["kind"], obj["metadata"]["name"])
    return objects


@settings(PROFILE)
@given(clusters())
def test_valid_clusters_render_schema_valid_objects_deterministically(cluster):
    result = _run({"catalog/web.yaml": APP_YAML, "clusters/web1.yaml": _dump(cluster)})
    assert result.exit == 0, result.stderr
    _check_objects(result.stdout)
    again = _run({"catalog/web.yaml": _dump(reverse_keys(APP)), "clusters/web1.yaml": _dump(reverse_keys(cluster))})
    assert again.exit == 0 and again.stdout == result.stdout


def _assert_hostile_outcome(result, files):
    output = result.stdout + result.stderr
    assert "Traceback" not in output and "internal error" not in output, output[-3000:]
    assert result.exit in (0, 1), output[-3000:]
    if result.exit == 1:
        assert result.stdout == ""
        assert any(f"{name}:" in result.stderr for name in files), result.stderr[-3000:]
    else:
        _check_objects(result.stdout)
    assert "hunter2" not in result.stderr or "hunter2" in "".join(files.values())  # never invented
    assert len(result.stderr) < 200_000


@settings(PROFILE)
@given(st.data())
def test_mutated_clusters_never_crash(data):
    cluster = data.draw(clusters())
    text, raw = data.draw(mutated(cluster))
    files = {"catalog/web.yaml": APP_YAML, "clusters/web1.yaml": text}
    _assert_hostile_outcome(_run(files), files)


@settings(PROFILE)
@given(st.data())
def test_mutated_apps_never_crash(data):
    text, raw = data.draw(mutated(APP))
    cluster = data.draw(clusters())
    files = {"catalog/web.yaml": text, "clusters/web1.yaml": _dump(cluster)}
    _assert_hostile_outcome(_run(files), files)
