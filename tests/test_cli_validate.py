"""`kdrender validate` and `kdrender apps`: one clear line per problem, exit codes, output formats."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest
from click.testing import CliRunner

from kdrender.cli import main

PROBLEM_LINE = re.compile(r"^\S+:\d+:\d+: ", re.M)
PROJECT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def invoke(*args):
    result = CliRunner().invoke(main, [str(a) for a in args])
    # click turns SystemExit into an exit code; anything else would be a crash
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    assert "Traceback" not in result.output
    return result


def test_clean_repo(kd):
    result = invoke("validate", kd.write({"catalog/web.yaml": kd.APP, "clusters/web1.yaml": kd.CLUSTER}))
    assert result.exit_code == 0
    assert PROBLEM_LINE.findall(result.output) == []
    assert "1 apps, 1 clusters: no problems" in result.stderr


def test_the_bundled_example_repo_validates():
    result = invoke("validate", PROJECT)
    assert result.exit_code == 0, result.output
    assert PROBLEM_LINE.findall(result.output) == []


# case: (files replacing the base repo's, an (old, new) edit of clusters/web1.yaml, the one expected line)
BROKEN = {
    "malformed YAML": ({"clusters/web1.yaml": "spec:\n  roles: [a, b\n  app: x\n"}, None,
                       "clusters/web1.yaml:3:6: invalid YAML: did not find expected ',' or ']' "
                       "(while parsing a flow sequence)"),
    "malformed JSON": ({"catalog/web.yaml": None, "catalog/web.json": '{\n  "kind": "KubeDirectorApp",\n}\n',
                        "clusters/web1.yaml": None}, None,
                       "catalog/web.json:3:1: invalid JSON: Expecting property name enclosed in double quotes"),
    "wrong type": ({}, ("members: 2\n", "members: two\n"),
                   "clusters/web1.yaml:13:5: spec.roles[1].members: must be an integer, not 'two'"),
    "unknown field": ({}, ("members: 2\n", "membres: 2\n"),
                      "clusters/web1.yaml:13:5: spec.roles[1].membres: unknown field 'membres'; did you mean 'members'?"),
    "duplicate key": ({}, ("members: 2\n", "members: 2\n    members: 3\n"),
                      "clusters/web1.yaml:14:5: spec.roles[1].members: duplicate key 'members' (first defined at "
                      "line 13); YAML would silently keep only the last one"),
    "missing app": ({}, ("app: web\n", "app: nginx\n"),
                    "clusters/web1.yaml:6:3: spec.app: Invalid app(nginx). This app resource ID has not been "
                    "registered. (no KubeDirectorApp named 'nginx' in catalog/)"),
}


def broken_repo(kd, case):
    files, edit, _ = BROKEN[case]
    cluster = kd.edit(kd.CLUSTER, edit) if edit else kd.CLUSTER
    return kd.write({"catalog/web.yaml": kd.APP, "clusters/web1.yaml": cluster, **files})


@pytest.mark.parametrize("case", list(BROKEN))
def test_one_clear_line_and_exit_1(kd, case):
    result = invoke("validate", broken_repo(kd, case))
    assert result.exit_code == 1
    assert PROBLEM_LINE.findall(result.output) == [BROKEN[case][2].split(": ")[0] + ": "]
    assert BROKEN[case][2] in result.output.splitlines()
    assert "kdrender: 1 problem found" in result.stderr


@pytest.mark.parametrize("case", ["malformed YAML", "unknown field"])
def test_real_process_prints_no_traceback(kd, case):
    root = broken_repo(kd, case)
    proc = subprocess.run([sys.executable, "-c", "from kdrender.cli import main; main()", "validate", str(root)],
                          capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"})
    assert proc.returncode == 1
    assert BROKEN[case][2] in (proc.stdout + proc.stderr).splitlines()
    assert "Traceback" not in proc.stdout + proc.stderr


def test_several_problems_are_all_reported_sorted(kd):
    root = kd.write({"catalog/web.yaml": kd.APP,
                     "clusters/b.yaml": kd.CLUSTER.replace("app: web", "app: nope").replace("web1", "b"),
                     "clusters/a.yaml": kd.CLUSTER.replace("members: 2", "members: x").replace("web1", "a")})
    result = invoke("validate", root)
    assert result.exit_code == 1
    assert [m.split(":")[0] for m in PROBLEM_LINE.findall(result.output)] == ["clusters/a.yaml", "clusters/b.yaml"]
    assert "kdrender: 2 problems found" in result.stderr


def test_format_json(kd):
    result = invoke("validate", "--format", "json", broken_repo(kd, "wrong type"))
    assert result.exit_code == 1
    assert json.loads(result.stdout) == [{
        "file": "clusters/web1.yaml", "line": 13, "column": 5, "path": "spec.roles[1].members",
        "message": "must be an integer, not 'two'", "rule": "schema", "level": "error"}]


def test_format_json_clean(kd):
    result = invoke("validate", "--format", "json", kd.write({"catalog/web.yaml": kd.APP}))
    assert result.exit_code == 0
    assert json.loads(result.stdout) == []


def test_format_github(kd):
    result = invoke("validate", "--format", "github", broken_repo(kd, "unknown field"))
    assert result.exit_code == 1
    assert result.stdout.splitlines() == [
        "::error file=clusters/web1.yaml,line=13,col=5,title=schema::spec.roles[1].membres: "
        "unknown field 'membres'; did you mean 'members'?"]


def test_format_github_escapes_newlines(kd):
    from kdrender.problems import Problem

    line = Problem("f.yaml", 1, 2, "a", "x\ny%", "r", "warning").github()
    assert line == "::warning file=f.yaml,line=1,col=2,title=r::a: x%0Ay%25"


def test_notices_and_warnings_go_to_stderr(kd, monkeypatch):
    from kdrender.rules import cluster_labels

    monkeypatch.setattr(cluster_labels, "LEVEL", "warning", raising=False)  # no rule is a warning today
    v1alpha1 = kd.CLUSTER.replace("kubedirector.hpe.com/v1beta1", "kubedirector.bluedata.io/v1alpha1")
    cluster = v1alpha1.replace("  - id: controller\n", "  - id: controller\n    podLabels: {tier: -x}\n")
    result = invoke("validate", kd.write({"catalog/web.yaml": kd.APP, "clusters/web1.yaml": cluster}))
    assert result.exit_code == 0  # a warning is not a failure
    assert "notice: clusters/web1.yaml: kubedirector.bluedata.io/v1alpha1 is deprecated" in result.stderr
    assert "warning: clusters/web1.yaml:9:17: spec.roles[0].podLabels.tier: label value" in result.stderr


@pytest.mark.parametrize("args", [
    ["validate", "--format", "xml"],
    ["validate", "--nope"],
    ["validate", "/does/not/exist"],
    ["validate", "a", "b"],
    ["no-such-command"],
])
def test_usage_errors_exit_2(kd, args):
    result = invoke(*args)
    assert result.exit_code == 2
    assert "Usage:" in result.stderr or "Error" in result.stderr


def test_validate_a_file_instead_of_a_folder_is_a_usage_error(kd):
    root = kd.write({"catalog/web.yaml": kd.APP})
    assert invoke("validate", root / "catalog" / "web.yaml").exit_code == 2


def test_apps_lists_the_catalog(kd):
    app2 = kd.APP.replace("name: web\n", "name: api\n").replace("Web server", "API server").replace('"1.0"', '"2.1"')
    result = invoke("apps", kd.write({"catalog/web.yaml": kd.APP, "catalog/api.yaml": app2}))
    assert result.exit_code == 0
    rows = [line.split() for line in result.stdout.splitlines()]
    assert rows == [["NAME", "APP", "NAME", "VERSION", "ROLES"],
                    ["api", "API", "server", "2.1", "controller(1),worker(0+)"],
                    ["web", "Web", "server", "1.0", "controller(1),worker(0+)"]]
    header, api, web = result.stdout.splitlines()  # columns are aligned
    assert header.index("VERSION") == api.index("2.1") == web.index("1.0")
    assert header.index("ROLES") == api.index("controller(1)") == web.index("controller(1)")


def test_apps_with_a_broken_app(kd):
    broken = kd.APP.replace("name: web\n", "name: bad\n").replace("  distroID: test/web\n", "")
    result = invoke("apps", kd.write({"catalog/web.yaml": kd.APP, "catalog/bad.yaml": broken}))
    assert result.exit_code == 1
    assert [line.split()[0] for line in result.stdout.splitlines()] == ["NAME", "web"]
    assert "catalog/bad.yaml:5:1: spec: missing required field 'distroID'" in result.stderr
