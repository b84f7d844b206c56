"""kdrender lint: yamllint with a bundled configuration, reported like validate."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from review_helpers import APP, CLUSTER, run, write

from kdrender.review.lint import bundled_config_text, lint_repo

PROJECT = Path(__file__).resolve().parent.parent


def test_golden_output_passes_the_bundled_configuration():
    from yamllint import linter
    from yamllint.config import YamlLintConfig

    conf = YamlLintConfig(content=bundled_config_text())
    files = sorted((PROJECT / "golden").rglob("*.yaml"))
    assert len(files) > 20
    found = [f"{path}:{p.line}:{p.column}: {p.desc} ({p.rule})" for path in files
             for p in linter.run(path.read_text(encoding="utf-8"), conf, str(path.relative_to(PROJECT)))]
    assert found == []


def test_project_repo_is_clean():
    result = run("lint", str(PROJECT))
    assert result.exit_code == 0, result.stdout
    assert result.stdout == "" and result.stderr == "lint: no problems\n"


def test_the_bundled_configuration_still_finds_things(tmp_path):
    root = tmp_path / "repo"
    cluster = CLUSTER.replace("  serviceType: ClusterIP\n", "  serviceType: ClusterIP   \n  app: web\n")
    cluster = cluster.replace("  namespace: web\n", "  namespace: web\n  labels:\n    enabled: yes\n")
    write(root, {"catalog/web.yaml": APP, "clusters/web1.yaml": cluster + "\n\n"})
    result = run("lint", str(root))
    assert result.exit_code == 1
    assert result.stdout.splitlines() == [
        "warning: clusters/web1.yaml:8:14: truthy value should be one of [false, true]",
        "clusters/web1.yaml:11:25: trailing spaces",
        "clusters/web1.yaml:12:3: duplication of key \"app\" in mapping",
        "clusters/web1.yaml:26:1: too many blank lines (2 > 0)",
    ]
    problems = json.loads(run("lint", str(root), "--format", "json").stdout)
    assert {p["rule"] for p in problems} == {"yamllint/truthy", "yamllint/trailing-spaces", "yamllint/key-duplicates",
                                             "yamllint/empty-lines"}
    assert {p["level"] for p in problems} == {"error", "warning"}  # truthy is a warning in yamllint's default
    github = run("lint", str(root), "--format", "github").stdout
    assert "::error file=clusters/web1.yaml,line=11,col=25,title=yamllint/trailing-spaces::trailing spaces" in github


def test_syntax_error(tmp_path):
    root = tmp_path / "repo"
    write(root, {"catalog/web.yaml": APP, "clusters/web1.yaml": "a: [1, 2\n"})
    result = run("lint", str(root))
    assert result.exit_code == 1
    assert result.stdout.startswith("clusters/web1.yaml:2:1: syntax error:")


def test_repo_configuration_replaces_the_bundled_one_except_for_golden(tmp_path):
    root = tmp_path / "repo"
    write(root, {"catalog/web.yaml": APP, "clusters/web1.yaml": CLUSTER.replace("ClusterIP", "ClusterIP  "),
                 ".yamllint": "extends: relaxed\nrules:\n  trailing-spaces: disable\n  document-start: {present: true}\n",
                 "golden/web/web1/service-web1.yaml": "apiVersion: v1\nkind: Service\n"})
    problems = lint_repo(str(root))
    # trailing spaces are off, "---" is required; golden/ has none and passes the bundled configuration
    assert [(p.file, p.rule, p.level) for p in problems] == [
        ("catalog/web.yaml", "yamllint/document-start", "error"),
        ("clusters/web1.yaml", "yamllint/document-start", "error")]


def test_repo_configuration_may_not_read_other_files(tmp_path):
    root = tmp_path / "repo"
    write(root, {"catalog/web.yaml": APP, "clusters/web1.yaml": CLUSTER, ".yamllint": "extends: /etc/passwd\n"})
    result = run("lint", str(root))
    assert result.exit_code == 1
    assert result.stdout == (".yamllint:1:1: extends: may only extend yamllint's 'default' or 'relaxed' "
                             "(kdrender lint reads no file outside the repo)\n")
    write(root, {".yamllint": "rules:\n  line-length:\n    ignore-from-file: /etc/passwd\n"})
    assert "ignore-from-file: is not supported" in run("lint", str(root)).stdout
    write(root, {".yamllint": "rules: {nosuchrule: enable}\n"})
    bad = run("lint", str(root))
    assert bad.exit_code == 1 and "no such rule" in bad.stdout


def test_symlinks_are_not_read(tmp_path):
    root = tmp_path / "repo"
    write(root, {"catalog/web.yaml": APP, "clusters/web1.yaml": CLUSTER})
    secret = tmp_path / "secret.yaml"
    secret.write_text("password: hunter2   \n")
    os.symlink(secret, root / "clusters" / "link.yaml")
    os.symlink(secret, root / ".yamllint")
    result = run("lint", str(root))
    assert result.exit_code == 1 and "hunter2" not in result.stdout + result.stderr
    assert ".yamllint:1:1: path resolves outside the repo" in result.stdout
    os.unlink(root / ".yamllint")
    result = run("lint", str(root))
    assert result.stdout == "clusters/link.yaml:1:1: path resolves outside the repo (a symlink pointing out of it)\n"


def test_generate_and_the_cli_do_not_load_the_review_libraries():
    code = ("import sys, kdrender.cli, kdrender.generate; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('ruamel', 'yamllint', 'pre_commit')"
            " or m.startswith('kdrender.review.') and m != 'kdrender.review.commands'))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
