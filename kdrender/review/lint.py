"""``kdrender lint``: yamllint over the repo's YAML, reported like ``kdrender validate``.

Files: ``kdrender.yaml`` and the ``.yaml``/``.yml`` files of ``catalog/``, ``clusters/`` and
``golden/`` (JSON catalog files are left to the JSON parser).  The configuration is the bundled
``yamllint.yaml``, or the repo's ``.yamllint``/``.yamllint.yaml``/``.yamllint.yml`` when present,
except for ``golden/``: kdrender writes it, so it is always linted with the bundled one.  A repo
configuration may only extend yamllint's built-in ``default`` or ``relaxed`` and may not name
other files (``ignore-from-file``): lint never reads outside the repo.
"""

from __future__ import annotations

import os
from importlib import resources

from ..compare import GOLDEN
from ..load import CONFIG_FILE, check_inside, find_files
from ..problems import Problem

REPO_CONFIGS = (".yamllint", ".yamllint.yaml", ".yamllint.yml")
MAX_FILE = 16 << 20


def bundled_config_text() -> str:
    return resources.files("kdrender.review").joinpath("yamllint.yaml").read_text(encoding="utf-8")


def _read(root: str, rel: str) -> tuple[str | None, Problem | None]:
    problem = check_inside(root, rel)
    path = os.path.join(root, rel)
    if problem is None and os.path.islink(path):
        problem = Problem(rel, 1, 1, "", "is a symlink; lint reads no file through a symlink", "load")
    if problem:
        return None, problem
    try:
        with open(path, "rb") as fh:
            raw = fh.read(MAX_FILE + 1)
    except OSError as exc:
        return None, Problem(rel, 1, 1, "", f"cannot read file: {exc.strerror}", "load")
    if len(raw) > MAX_FILE:
        return None, Problem(rel, 1, 1, "", f"larger than {MAX_FILE >> 20} MiB; not linted", "load")
    try:
        return raw.decode("utf-8"), None
    except UnicodeDecodeError as exc:
        return None, Problem(rel, 1, 1, "", f"file is not UTF-8 ({exc.reason} at byte {exc.start})", "load")


def _repo_config(root: str):
    """(config, problems) of the repo's own yamllint configuration, or (None, []) when it has none."""
    import yaml
    from yamllint.config import YamlLintConfig, YamlLintConfigError

    for rel in REPO_CONFIGS:
        if not os.path.lexists(os.path.join(root, rel)):
            continue
        text, problem = _read(root, rel)
        if problem:
            return None, [problem]
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
            return None, [Problem(rel, line, col, "", f"invalid YAML: {getattr(exc, 'problem', exc)}", "yamllint")]
        if not isinstance(data, dict):
            return None, [Problem(rel, 1, 1, "", "a yamllint configuration must be a mapping", "yamllint")]
        if data.get("extends", "default") not in ("default", "relaxed"):
            return None, [Problem(rel, 1, 1, "extends", "may only extend yamllint's 'default' or 'relaxed' "
                                  "(kdrender lint reads no file outside the repo)", "yamllint")]
        if "ignore-from-file" in data or any(isinstance(r, dict) and "ignore-from-file" in r
                                             for r in (data.get("rules") or {}).values()):
            return None, [Problem(rel, 1, 1, "ignore-from-file", "is not supported by kdrender lint; list the "
                                  "patterns under 'ignore'", "yamllint")]
        try:
            return YamlLintConfig(content=text), []
        except YamlLintConfigError as exc:
            return None, [Problem(rel, 1, 1, "", str(exc).replace("invalid config: ", "invalid configuration: "),
                                  "yamllint")]
    return None, []


def lint_files(root: str) -> list[str]:
    files = [CONFIG_FILE] if os.path.lexists(os.path.join(root, CONFIG_FILE)) else []
    for folder in ("catalog", "clusters", GOLDEN):
        files += [rel for rel in find_files(root, folder) if rel.endswith((".yaml", ".yml"))]
    return files


def lint_repo(root: str) -> list[Problem]:
    """Every yamllint problem of the repo (errors and warnings), sorted."""
    from yamllint import linter
    from yamllint.config import YamlLintConfig

    bundled = YamlLintConfig(content=bundled_config_text())
    own, problems = _repo_config(root)
    if problems:
        return problems
    for rel in lint_files(root):
        conf = bundled if own is None or rel.startswith(GOLDEN + "/") else own
        if conf.is_file_ignored(rel):
            continue
        text, problem = _read(root, rel)
        if problem:
            problems.append(problem)
            continue
        for found in linter.run(text, conf, rel):
            rule = f"yamllint/{found.rule}" if found.rule else "yamllint/syntax"
            problems.append(Problem(rel, found.line, found.column, "", found.desc, rule, found.level))
    return sorted(problems)
