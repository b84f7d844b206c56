"""Helpers for the rendering tests: repos built from the conformance files, KubeDirector's exact
scripts (copied from the spec, not from kdrender), and small object accessors.

The conformance files (real KubeDirector examples, third-party data) are read where they are,
from ``$KDRENDER_CONFORMANCE`` or ``<project>/../shared/conformance``.  Tests copy one app
catalog and one cluster file into ``tmp_path`` at a time; nothing is copied into the project.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import yaml

PROJECT = Path(__file__).resolve().parent.parent
CONFORMANCE = Path(os.environ.get("KDRENDER_CONFORMANCE",
                                  Path(__file__).parent.parent.parent / "shared" / "conformance")).resolve()
SPEC = CONFORMANCE.parent / "reference" / "kubedirector-spec.md"
VERSIONS = ("v1beta1", "v1alpha1")
DATA_SUFFIXES = (".json", ".yaml", ".yml")

KD = "kubedirector.hpe.com"
L_CLUSTER = f"{KD}/kdcluster"
L_APP = f"{KD}/kdapp"
L_CATALOG = f"{KD}/appCatalog"
L_ROLE = f"{KD}/role"
L_HEADLESS = f"{KD}/headless"
A_PRETTY = f"{KD}/kdapp-prettyName"
POD_NAME = "statefulset.kubernetes.io/pod-name"
SYNC_WAVE = "argocd.argoproj.io/sync-wave"

# spec section 2.4 getStartupScript, verbatim; <hs> is the headless Service name
STARTUP_SCRIPT = (
    r"exec 2>>/tmp/kd-postcluster.log; set -x;Retries=60; while [[ $Retries && ! -s /etc/resolv.conf ]]; do sleep 1; "
    r"Retries=$(expr $Retries - 1); done; sed "
    r'"s/^search \([^ ]\+\)/search <hs>.\1 \1/" /etc/resolv.conf > /tmp/resolv.conf.new && '
    r"cat /tmp/resolv.conf.new > /etc/resolv.conf;rm -f /tmp/resolv.conf.new;chmod 755 /run;exit 0"
)
# spec section 2.4 generateInitContainerLaunch, verbatim; <dirs> are the persist dirs joined by one space
INIT_SCRIPT = (
    "rsync --log-file=./rsync-check-status-dummy.log --info=progress2 --relative -ax --no-inc-recursive --version; "
    "RSYNC_CHECK_STATUS=$?; ! [ -f /mnt/etc/kubedirector.init ] && ( [ ${RSYNC_CHECK_STATUS} != 0 ] && "
    "(cp --parent -ax <dirs> /mnt) || (mkdir -p /mnt/etc; rsync --log-file=/mnt/etc/kubedirector-init.log "
    "--info=progress2 --relative -ax --no-inc-recursive <dirs> /mnt > /mnt/etc/kubedirector-init-progress-bar.log;)); "
    "touch /mnt/etc/kubedirector.init;"
)

_IANA = re.compile(r"^(?=.{1,15}$)(?=.*[a-z])[a-z0-9]+(-[a-z0-9]+)*$")
_DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS1035_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
_LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
SUFFIX_CHARS = "bcdfghjklmnpqrstvwxz2456789"


def startup_script(hs: str) -> str:
    return STARTUP_SCRIPT.replace("<hs>", hs)


def init_script(dirs) -> str:
    return INIT_SCRIPT.replace("<dirs>", " ".join(dirs))


def is_iana_svc_name(name: str) -> bool:
    return bool(_IANA.match(name))


def is_dns1123_label(name: str) -> bool:
    return len(name) <= 63 and bool(_DNS1123_LABEL.match(name))


def is_dns1035_label(name: str) -> bool:
    return len(name) <= 63 and bool(_DNS1035_LABEL.match(name))


def is_label_value(value: str) -> bool:
    return len(value) <= 63 and bool(_LABEL_VALUE.match(value))


def mung(name: str) -> str:
    """KubeDirector's MungObjectName, re-implemented from spec section 2.1."""
    out = []
    for i, ch in enumerate(name[:46]):
        if ch in "._":
            if i != 45:
                out.append("-")
        else:
            out.append(ch.lower())
    return "".join(out)


# ---------------------------------------------------------------------------------------------
# conformance repos

def conformance_available() -> bool:
    return CONFORMANCE.is_dir()


def data_files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.suffix in DATA_SUFFIXES) if folder.is_dir() else []


def conformance_clusters() -> list[tuple[str, str]]:
    """(version, cluster file name) of every conformance cluster, both API versions."""
    return [(v, name) for v in VERSIONS for name in data_files(CONFORMANCE / v / "clusters")]


def conformance_params():
    """pytest parameters for every conformance cluster (one skipped parameter when the folder is missing)."""
    import pytest

    params = [pytest.param(v, name, id=f"{v}/{name}") for v, name in conformance_clusters()]
    if not params:
        params = [pytest.param(None, None, marks=pytest.mark.skip(
            reason=f"conformance files not found at {CONFORMANCE} (set KDRENDER_CONFORMANCE)"))]
    return params


def write_repo(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


def conformance_repo(root: Path, version: str, cluster_file: str, config: str | None = None) -> Path:
    """``root`` with catalog/ (every app of ``version``), clusters/<cluster_file> and an optional kdrender.yaml."""
    (root / "catalog").mkdir(parents=True)
    (root / "clusters").mkdir()
    for name in data_files(CONFORMANCE / version / "catalog"):
        shutil.copyfile(CONFORMANCE / version / "catalog" / name, root / "catalog" / name)
    shutil.copyfile(CONFORMANCE / version / "clusters" / cluster_file, root / "clusters" / cluster_file)
    if config is not None:
        (root / "kdrender.yaml").write_text(config, encoding="utf-8")
    return root


def project_repo(root: Path, with_golden: bool = False) -> Path:
    """A copy of the project's own repo content (catalog/, clusters/, kdrender.yaml, optionally golden/)."""
    root.mkdir(parents=True, exist_ok=True)
    for folder in ("catalog", "clusters") + (("golden",) if with_golden else ()):
        if (PROJECT / folder).is_dir():
            shutil.copytree(PROJECT / folder, root / folder)
    if (PROJECT / "kdrender.yaml").is_file():
        shutil.copyfile(PROJECT / "kdrender.yaml", root / "kdrender.yaml")
    return root


# ---------------------------------------------------------------------------------------------
# rendering

def load(root: Path):
    from kdrender.pipeline import load_model

    return load_model(str(root))


def render(root: Path) -> list:
    """(namespace, cluster, objects) of every cluster of the repo at ``root``."""
    from kdrender.pipeline import render_model

    return render_model(load(root))


def render_one(root: Path):
    """(namespace, cluster, objects) of the only cluster of the repo."""
    rendered = render(root)
    assert len(rendered) == 1, [(ns, name) for ns, name, _ in rendered]
    return rendered[0]


def resolve(root: Path):
    """The model and its resolved form (for configmeta())."""
    from kdrender.resolve import resolve_model

    model = load(root)
    return model, resolve_model(model)


def of_kind(objects: list, kind: str) -> list:
    return [o for o in objects if o["kind"] == kind]


def by_name(objects: list, kind: str | None = None) -> dict:
    return {o["metadata"]["name"]: o for o in objects if kind is None or o["kind"] == kind}


def app_container(sts: dict) -> dict:
    containers = sts["spec"]["template"]["spec"]["containers"]
    assert [c["name"] for c in containers] == ["app"]
    return containers[0]


def run_cli(*args: str):
    """Run the kdrender CLI in-process; returns click's Result (exit_code, stdout, stderr)."""
    from click.testing import CliRunner

    from kdrender.cli import main

    try:
        runner = CliRunner(mix_stderr=False)
    except TypeError:  # click >= 8.2 always keeps stderr apart
        runner = CliRunner()
    return runner.invoke(main, list(args), catch_exceptions=False)


def tree_bytes(folder: Path) -> dict[str, bytes]:
    """Every file below ``folder`` (relative path -> bytes), hidden files included."""
    out = {}
    if not folder.is_dir():
        return out
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            out[path.relative_to(folder).as_posix()] = path.read_bytes()
    return out


def yaml_docs(text: str) -> list:
    return [d for d in yaml.safe_load_all(text) if d is not None]


def reverse_keys(value):
    """The same data with every mapping's keys in reversed order (list order kept)."""
    if isinstance(value, dict):
        return {k: reverse_keys(value[k]) for k in reversed(list(value))}
    if isinstance(value, list):
        return [reverse_keys(v) for v in value]
    return value


def subprocess_env(**extra) -> dict:
    env = dict(os.environ)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env.update(extra)
    return env


# ---------------------------------------------------------------------------------------------
# shared inputs

# the v1beta1 examples, one namespace (spark245-stor is left out: it has the same name as spark245),
# plus the 2018 spark221e2 example in its own namespace
SKIP = {"cr-cluster-spark245-stor.yaml"}


def make_multi_repo(root: Path) -> Path:
    (root / "catalog").mkdir(parents=True)
    (root / "clusters" / "legacy").mkdir(parents=True)
    for name in data_files(CONFORMANCE / "v1beta1" / "catalog"):
        shutil.copyfile(CONFORMANCE / "v1beta1" / "catalog" / name, root / "catalog" / name)
    for name in data_files(CONFORMANCE / "v1beta1" / "clusters"):
        if name not in SKIP:
            shutil.copyfile(CONFORMANCE / "v1beta1" / "clusters" / name, root / "clusters" / name)
    shutil.copyfile(CONFORMANCE / "v1alpha1" / "catalog" / "cr-app-spark221e2.json", root / "catalog" / "spark221e2.json")
    legacy = (CONFORMANCE / "v1alpha1" / "clusters" / "cr-cluster-spark221e2.yaml").read_text()
    legacy = legacy.replace('  name: "spark-instance"\n', '  name: "spark-instance"\n  namespace: legacy\n')
    (root / "clusters" / "legacy" / "spark221e2.yaml").write_text(legacy)
    (root / "kdrender.yaml").write_text("defaultStorageClassName: standard\nkdrender:\n  namespace: examples\n")
    return root


# The cluster of spec sections 2.8 and 3.3 (``{scheme}``: the namingScheme), for the spark245 app.
CLUSTER = """\
apiVersion: kubedirector.hpe.com/v1beta1
kind: KubeDirectorCluster
metadata:
  name: spark-instance
  namespace: analytics
spec:
  app: spark245
  namingScheme: {scheme}
  roles:
  - id: spark-master
    members: 1
    resources:
      requests: {{cpu: "2", memory: 4Gi}}
      limits: {{cpu: "2", memory: 4Gi}}
    storage:
      size: 40Gi
      storageClassName: standard
  - id: livy-server
    members: 1
    resources:
      requests: {{cpu: "2", memory: 4Gi}}
      limits: {{cpu: "2", memory: 4Gi}}
  - id: spark-worker
    members: 2
    resources:
      requests: {{cpu: "4", memory: 8Gi}}
      limits: {{cpu: "4", memory: 8Gi}}
"""

# the example's illustrative names
ILLUSTRATIVE = {"hs": "kdhs-7xq2m", "spark-master": "kdss-b4n8r", "livy-server": "kdss-tz9wd",
                "spark-worker": "kdss-h2c6v"}


def spec_block(heading: str, lang: str) -> str:
    """The first ```lang block after ``heading`` in the spec."""
    text = SPEC.read_text(encoding="utf-8")
    start = text.index(heading)
    block = text.index(f"```{lang}\n", start) + len(f"```{lang}\n")
    return text[block: text.index("```", block)]


# A small app and a cluster using every optional role field (secret, projections, shared memory,
# block storage, service account).
APP_WITH_SYSTEMD = """\
apiVersion: kubedirector.hpe.com/v1beta1
kind: KubeDirectorApp
metadata:
  name: db
spec:
  label: {name: DB}
  distroID: test/db
  version: "1"
  configSchemaVersion: 7
  defaultImageRepoTag: example.org/db:1
  systemdRequired: true
  defaultPersistDirs: [/var/lib/db]
  services:
  - id: sql
    endpoint: {port: 5432, urlScheme: postgres}
  roles:
  - id: db
    cardinality: "1+"
  config:
    selectedRoles: [db]
    roleServices:
    - roleID: db
      serviceIDs: [sql]
"""

CLUSTER_WITH_EXTRAS = """\
apiVersion: kubedirector.hpe.com/v1beta1
kind: KubeDirectorCluster
metadata:
  name: extras
spec:
  app: db
  roles:
  - id: db
    members: 1
    serviceAccountName: db-sa
    resources:
      limits: {cpu: "1", memory: 2Gi}
    storage: {size: 10Gi}
    blockStorage: {numDevices: 2, pathPrefix: /dev/xvdb, storageClassName: block-class}
    secret: {name: dbcreds, mountPath: /etc/secret, readOnly: true, defaultMode: 288}
    volumeProjections:
    - {pvcName: data, mountPath: /data}
    - {pvcName: shared, mountPath: /shared, readOnly: true}
    sharedMemory: 1Gi
"""


def field_paths(value, path=()):
    """Every path in a document (``()`` for the root, then keys and list indexes), depth first."""
    yield path
    if isinstance(value, dict):
        for key, item in value.items():
            yield from field_paths(item, path + (key,))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from field_paths(item, path + (i,))
