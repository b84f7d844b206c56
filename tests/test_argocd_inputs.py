"""What Argo CD hands ``kdrender generate`` is input too: every parameter is type-checked and the
namespaces are DNS-1123 labels; a bad one exits 2 with one clear line, nothing on stdout and no
traceback (issue 9)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from kdrender.generate import run

PROJECT = Path(__file__).resolve().parent.parent
LABEL = "must consist of lower case alphanumeric characters or '-', and start and end with an alphanumeric character"


@pytest.fixture(autouse=True)
def _private_home(tmp_path, monkeypatch):
    """generate's schema cache goes below $HOME: a test's own, not the user's."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))


def generate(environ: dict) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = run(environ, str(PROJECT / "clusters"), out, err)
    return code, out.getvalue(), err.getvalue()


def params(*entries) -> dict:
    return {"ARGOCD_APP_PARAMETERS": json.dumps(list(entries))}


P = "kdrender generate: ARGOCD_APP_PARAMETERS"
BAD = [
    (params({"name": "namespace", "array": ["team-a"]}), f"{P}[0]: parameter 'namespace' must be a string, not a list"),
    (params({"name": "namespace", "string": ["team-a"]}), f"{P}[0]: string of parameter 'namespace' must be a "
                                                          "string, not a list"),
    (params({"name": "clusters", "map": {"a": "b.yaml"}}), f"{P}[0]: parameter 'clusters' must be an array of file "
                                                           "globs, not a mapping"),
    (params({"name": "clusters", "array": {"a": "b.yaml"}}), f"{P}[0]: array of parameter 'clusters' must be a list, "
                                                             "not a mapping"),
    (params({"name": "clusters", "array": ["cassandra311.yaml", 7]}), f"{P}[0]: item 1 of parameter 'clusters' must "
                                                                      "be a string (a file glob), not a number"),
    (params({"name": "clusters", "array": [None]}), f"{P}[0]: item 0 of parameter 'clusters' must be a string "
                                                    "(a file glob), not null"),
    (params({"name": "sync-waves", "string": True}), f"{P}[0]: string of parameter 'sync-waves' must be a string, "
                                                     "not true or false"),
    (params({"name": "kubernetes-version", "string": 1.3}), f"{P}[0]: string of parameter 'kubernetes-version' must "
                                                            "be a string, not a number"),
    (params("clusters"), f"{P}[0] must be an object with a string name, not a string"),
    (params({"name": 7, "string": "x"}), f"{P}[0]: name must be a string"),
    (params({"name": "namepsace", "string": "x"}), f"{P}[0]: unknown parameter 'namepsace'; did you mean 'namespace'?"),
    ({"ARGOCD_APP_PARAMETERS": json.dumps({"name": "clusters", "array": []})},
     f"{P} must be a JSON list of {{name, string|array|map}}, not a mapping"),
    ({"ARGOCD_APP_PARAMETERS": "[" * 50_000 + "]" * 50_000}, f"{P} is not JSON: nested too deeply"),
    ({"ARGOCD_APP_PARAMETERS": "[{"}, f"{P} is not JSON: Expecting property name enclosed in double quotes"),
    (params({"name": "namespace", "string": "Team_A"}),
     f"kdrender generate: the parameter namespace 'Team_A' is not a valid namespace: it {LABEL}"),
    ({"ARGOCD_ENV_KDRENDER_NAMESPACE": "team.a"},
     f"kdrender generate: the parameter namespace 'team.a' is not a valid namespace: it {LABEL}"),
    ({"ARGOCD_APP_NAMESPACE": "x" * 64},
     f"kdrender generate: ARGOCD_APP_NAMESPACE '{'x' * 60}...' is not a valid namespace: it must be no more than 63 characters (it has 64)"),
    ({"ARGOCD_APP_NAMESPACE": "https://u:CANARY-91@x"},
     f"kdrender generate: ARGOCD_APP_NAMESPACE 'https://\u2026@x' is not a valid namespace: it {LABEL}"),
    ({"PARAM_NAMESPACE_0": "a", "PARAM_NAMESPACE_1": "b"},
     "kdrender generate: PARAM_NAMESPACE_<i>: parameter 'namespace' must be a string, not a list"),
]


@pytest.mark.parametrize("environ, message", BAD, ids=[str(i) for i in range(len(BAD))])
def test_bad_parameters_exit_2_with_one_line(environ, message):
    code, out, err = generate(environ)
    assert (code, out, err) == (2, "", message + "\n")
    assert "CANARY" not in err


def test_good_parameters_still_render():
    code, out, err = generate({**params({"name": "clusters", "array": ["cassandra311.yaml"]},
                                        {"name": "namespace", "string": "team-a"},
                                        {"name": "sync-waves"},  # no value: not set
                                        {"name": "allow-empty", "string": "false"}),
                               "ARGOCD_APP_NAMESPACE": "apps"})
    assert code == 0, err
    objects = [json.loads(line) for line in out.splitlines()]
    assert objects and {o["metadata"]["namespace"] for o in objects} == {"databases"}  # the file names its own


def test_a_long_value_is_redacted_before_it_is_cut():
    secret = "https://u:CANARY-" + "x" * 80 + "@h"
    for environ in ({"ARGOCD_APP_NAMESPACE": secret}, params({"name": secret, "string": "x"})):
        code, out, err = generate(environ)
        assert code == 2 and out == "" and "CANARY" not in err and "https://\u2026@h" in err
