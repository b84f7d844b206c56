"""kdrender/schemafast.py may say a document passes only when jsonschema finds nothing in it."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kdrender import schema
from kdrender.load import read_file
from kdrender.schemafast import passes
from kdrender.validate import _NORMALIZE

from conftest import CONFORMANCE
from render_helpers import field_paths

PROJECT = Path(__file__).resolve().parent.parent
KINDS = ("KubeDirectorApp", "KubeDirectorCluster", "KubeDirectorConfig")


def _documents() -> list:
    """(label, kind, data) of every KubeDirector document of the conformance set and the project,
    as the schema check sees them (normalized, nulls dropped)."""
    found = []
    roots = [(PROJECT, ["catalog", "clusters"])]
    if CONFORMANCE.is_dir():
        roots += [(CONFORMANCE / v, ["catalog", "clusters"]) for v in ("v1beta1", "v1alpha1")]
    for root, folders in roots:
        for folder in folders:
            for path in sorted((root / folder).iterdir()):
                if path.suffix not in (".yaml", ".yml", ".json"):
                    continue
                docs, _ = read_file(str(root), f"{folder}/{path.name}")
                for doc in docs:
                    if doc.kind in KINDS:
                        doc = _NORMALIZE[doc.kind](doc)
                        found.append((f"{root.name}/{folder}/{path.name}", doc.kind,
                                      schema.drop_nulls(doc.data, doc.kind)))
    return found


DOCUMENTS = _documents()


def _errors(kind: str, data) -> list:
    return list(schema._validator(kind).iter_errors(data))


def test_the_documents_are_many():
    assert len(DOCUMENTS) >= 10 and {kind for _, kind, _ in DOCUMENTS} >= {"KubeDirectorApp", "KubeDirectorCluster"}


@pytest.mark.parametrize("label,kind,data", DOCUMENTS, ids=[d[0] for d in DOCUMENTS])
def test_agrees_with_jsonschema_on_real_files(label, kind, data):
    fast = passes(schema.KINDS[kind], data)
    errors = _errors(kind, data)
    assert not (fast and errors)
    if not errors and kind == "KubeDirectorCluster":
        assert fast, "a valid cluster file must not need jsonschema (the point of the fast check)"


TRICKY = st.sampled_from(["", "x", "x\n", "Web", "web-1", "a" * 300, "1Gi", "2.5", "-1", "1e3", "abc$", 0, 1, -1, 2.0,
                          1.5, 10**20, True, False, None, [], {}, ["a"], [1], {"a": 1}, {"a": "b"}, float("nan"),
                          "kubedirector.hpe.com/v1beta1", "KubeDirectorCluster", "LoadBalancer", "ClusterIP"])


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(range(len(DOCUMENTS))), st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 3), TRICKY,
                                                                  st.sampled_from(["zzz", "name", "id", "members"])),
                                                        min_size=1, max_size=3))
def test_never_passes_what_jsonschema_refuses(index, mutations):
    _, kind, data = DOCUMENTS[index]
    data = copy.deepcopy(data)
    for where, how, value, key in mutations:
        value = copy.deepcopy(value)  # never one list or mapping in two places (or in itself)
        paths = list(field_paths(data))
        path = paths[where % len(paths)]
        parent = data
        for part in path[:-1]:
            parent = parent[part]
        if not path:
            continue
        if how == 0:  # replace a value
            parent[path[-1]] = value
        elif how == 1 and isinstance(parent, dict):  # drop a key
            del parent[path[-1]]
        elif how == 2 and isinstance(parent[path[-1]], dict):  # add a key
            parent[path[-1]][key] = value
        elif how == 3 and isinstance(parent[path[-1]], list):  # add an item
            parent[path[-1]].append(value)
    if passes(schema.KINDS[kind], data):
        assert _errors(kind, data) == []
