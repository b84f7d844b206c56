"""Shared fixtures: small repos written into tmp_path, and the KubeDirector conformance files.

The conformance files (real KubeDirector examples, third-party data) are read where they
are, from ``$KDRENDER_CONFORMANCE`` or ``<project>/../shared/conformance``; tests never copy
them into the project.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from kdrender.load import RepoFiles, load_repo, parse_yaml, read_file
from kdrender.validate import validate_repo

TESTS = Path(__file__).resolve().parent
CONFORMANCE = Path(os.environ.get("KDRENDER_CONFORMANCE", TESTS.parent / ".." / "shared" / "conformance")).resolve()

# A small app: role "controller" (cardinality "1", active) and "worker" ("0+").
# Line numbers matter: the rule tests check file:line:column of every message.
APP_YAML = """\
apiVersion: kubedirector.hpe.com/v1beta1
kind: KubeDirectorApp
metadata:
  name: web
spec:
  label:
    name: Web server
  distroID: test/web
  version: "1.0"
  configSchemaVersion: 7
  defaultImageRepoTag: docker.io/library/nginx:1.25
  services:
  - id: http
    endpoint:
      port: 80
      urlScheme: http
      isDashboard: true
  roles:
  - id: controller
    cardinality: "1"
  - id: worker
    cardinality: "0+"
  config:
    selectedRoles: [controller, worker]
    roleServices:
    - roleID: controller
      serviceIDs: [http]
"""
# lines: 1 apiVersion .. 4 name, 13 "- id: http", 19 "- id: controller", 21 "- id: worker", 24 selectedRoles

CLUSTER_YAML = """\
apiVersion: kubedirector.hpe.com/v1beta1
kind: KubeDirectorCluster
metadata:
  name: web1
spec:
  app: web
  roles:
  - id: controller
    resources:
      requests: {cpu: "1", memory: 1Gi}
      limits: {cpu: "1", memory: 1Gi}
  - id: worker
    members: 2
    resources:
      limits: {cpu: "1", memory: 1Gi}
"""
# lines: 4 name, 6 app, 7 roles, 8 "- id: controller", 9 resources, 10 requests, 12 "- id: worker", 13 members


def edit(text: str, *edits: tuple[str, str]) -> str:
    """Apply (old, new) replacements; each ``old`` must occur exactly once, so tests cannot edit the wrong line."""
    for old, new in edits:
        assert text.count(old) == 1, f"edit anchor {old!r} must occur exactly once"
        text = text.replace(old, new)
    return text


def conformance_files(version: str, folder: str) -> list[str]:
    base = CONFORMANCE / version / folder
    return sorted(p.name for p in base.iterdir() if p.suffix in (".json", ".yaml", ".yml")) if base.is_dir() else []


@dataclass
class Result:
    root: Path
    model: object
    problems: list = field(default_factory=list)

    @property
    def texts(self) -> list[str]:
        return [p.text() for p in self.problems]

    @property
    def errors(self) -> list:
        return [p for p in self.problems if p.level == "error"]

    def source_at(self, problem) -> str:
        """The text of the problem's file from its line and column on (to check a position points at the field)."""
        lines = (self.root / problem.file).read_text(encoding="utf-8").splitlines()
        return lines[problem.line - 1][problem.column - 1:]


class RepoMaker:
    """Writes small repos (catalog/, clusters/, optional kdrender.yaml) and validates them."""

    APP = APP_YAML
    CLUSTER = CLUSTER_YAML
    edit = staticmethod(edit)

    def __init__(self, tmp_path: Path):
        self.tmp_path = tmp_path
        self.count = 0

    def write(self, files: dict[str, str | None], config: str | None = None) -> Path:
        self.count += 1
        root = self.tmp_path / f"repo{self.count}"
        (root / "catalog").mkdir(parents=True)
        (root / "clusters").mkdir()
        if config is not None:
            files = {**files, "kdrender.yaml": config}
        for rel, text in files.items():
            if text is None:
                continue
            path = root / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        return root

    def run(self, app: str | None = APP_YAML, cluster: str | None = CLUSTER_YAML, *,
            files: dict[str, str | None] | None = None, config: str | None = None, **options) -> Result:
        """Write catalog/web.yaml (``app``), clusters/web1.yaml (``cluster``) and ``files``; load and validate."""
        root = self.write({"catalog/web.yaml": app, "clusters/web1.yaml": cluster, **(files or {})}, config)
        model, problems = validate_repo(load_repo(str(root)), **options)
        return Result(root, model, problems)


@pytest.fixture
def kd(tmp_path) -> RepoMaker:
    return RepoMaker(tmp_path)


@pytest.fixture(scope="session")
def conformance() -> Path:
    if not CONFORMANCE.is_dir():
        pytest.skip(f"conformance files not found at {CONFORMANCE} (set KDRENDER_CONFORMANCE)")
    return CONFORMANCE


def conformance_repo(root: Path, version: str, cluster_files: list[str]) -> RepoFiles:
    """A repo assembled in memory from the conformance folder: the whole catalog of ``version``
    and the given cluster files (paths stay relative to the conformance folder)."""
    repo = RepoFiles(str(root))
    for name in conformance_files(version, "catalog"):
        docs, problems = read_file(str(root), f"{version}/catalog/{name}")
        repo.catalog.extend(docs)
        repo.problems.extend(problems)
    for name in cluster_files:
        docs, problems = read_file(str(root), f"{version}/clusters/{name}")
        repo.clusters.extend(docs)
        repo.problems.extend(problems)
    return repo


@pytest.fixture
def conformance_model(conformance):
    """``conformance_model(version, *cluster_files, config=None, **validate_options)`` -> (model, problems).

    ``config`` is the text of a kdrender.yaml to add to the repo."""

    def build(version: str, *cluster_files: str, config: str | None = None, **options):
        repo = conformance_repo(conformance, version, list(cluster_files))
        if config is not None:
            docs, problems = parse_yaml(config, "kdrender.yaml")
            assert problems == []
            repo.configs.extend(docs)
        return validate_repo(repo, **options)

    return build


def pytest_generate_tests(metafunc):
    """``conformance_cluster``: every (version, cluster file) of the conformance folder."""
    if "conformance_cluster" in metafunc.fixturenames:
        params = [(v, name) for v in ("v1beta1", "v1alpha1") for name in conformance_files(v, "clusters")]
        metafunc.parametrize("conformance_cluster", params, ids=[f"{v}/{n}" for v, n in params])
    if "conformance_file" in metafunc.fixturenames:
        params = [f"{v}/{folder}/{name}" for v in ("v1beta1", "v1alpha1") for folder in ("catalog", "clusters")
                  for name in conformance_files(v, folder)]
        metafunc.parametrize("conformance_file", params)

@pytest.fixture(scope="module")
def spark245_app() -> str:
    """Text of KubeDirector's spark245 app, the app of the spec's worked examples (sections 2.8, 3.3)."""
    path = CONFORMANCE / "v1beta1" / "catalog" / "cr-app-spark245.json"
    if not path.is_file():
        pytest.skip(f"conformance app not found at {path}")
    return path.read_text(encoding="utf-8")
