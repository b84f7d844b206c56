"""The e2e suite's test app: a KubeDirectorApp catalog entry, its setup package, a configcli
tarball, and cluster repos, all made here (nothing is downloaded).

The setup package's ``startscript`` appends every call (UTC time and arguments) to
``/opt/guestconfig/e2e-calls.log`` (on the member's volume when the role has storage), and at
``--configure`` asks configcli for the member's identity (``e2e-identity``), starts a small HTTP
server on the role's service port and, when the role's env sets ``E2E_FAIL_CONFIGURE=1``, fails.

configcli is a miniature of bluek8s/configcli: the same tarball layout (``configcli-0.8/install
[--new]``, a setuptools ``setup.py``, as the agent expects), installed by the image's python and
setuptools, answering ``configcli --get <dotted.key>`` from /etc/guestconfig/configmeta.json
(``bdvlibrefkey`` references resolved as the real one does).
"""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

PORT = 8080
CALLS = "/opt/guestconfig/e2e-calls.log"
IDENTITY = "/opt/guestconfig/e2e-identity"

STARTSCRIPT = r"""#!/bin/bash
# e2e test app: records every call; reads configmeta through configcli.
D=/opt/guestconfig
printf '%s %s\n' "$(date -u +%s.%N)" "$*" >> "$D/e2e-calls.log"
case "$1" in
--configure)
    {
        printf 'fqdn=%s\n' "$(configcli --get node.fqdn)"
        printf 'role=%s\n' "$(configcli --get node.role_id)"
        printf 'id=%s\n' "$(configcli --get node.id)"
        printf 'cluster=%s\n' "$(configcli --get cluster.name)"
        printf 'role_fqdns=%s\n' "$(configcli --get "nodegroups.1.roles.$(configcli --get node.role_id).fqdns")"
        printf 'configcli=%s\n' "$(command -v configcli)"
    } > "$D/e2e-identity.new" || exit 10
    grep -q '^fqdn=.' "$D/e2e-identity.new" || { echo "configcli gave no fqdn" >&2; exit 11; }
    mv -f "$D/e2e-identity.new" "$D/e2e-identity"
    if [ "${E2E_FAIL_CONFIGURE:-}" = 1 ]; then
        echo "e2e: configure fails on purpose (E2E_FAIL_CONFIGURE=1)" >&2
        exit 7
    fi
    mkdir -p /tmp/e2e-www && hostname > /tmp/e2e-www/index.html
    nohup setsid python3 -m http.server @PORT@ --directory /tmp/e2e-www > /dev/null 2>&1 < /dev/null &
    echo "configured $(configcli --get node.fqdn)"
    ;;
esac
exit 0
""".replace("@PORT@", str(PORT))

CONFIGCLI_INSTALL = r"""#!/bin/bash
# configcli installer (test miniature of bluek8s/configcli): --new installs into /usr/local.
THIS_DIR=$(dirname "$(readlink -nf "${BASH_SOURCE[0]}")")
if [ "$1" = --new ]; then P=/usr/local; else P=/usr; fi
chmod 644 /etc/guestconfig/configmeta.json
mkdir -p /var/log/guestconfig /opt/guestconfig
chmod a+X /opt/guestconfig /var/log/guestconfig
cd "$THIS_DIR" && python setup.py -q install --install-scripts "$P/bin"
"""

CONFIGCLI_SETUP = """from setuptools import setup
setup(name="configcli", version="0.8", py_modules=["e2e_configcli"],
      scripts=["scripts/configcli", "scripts/ccli", "scripts/configmacro"])
"""

CONFIGCLI_MODULE = r'''"""configcli --get KEY: a dotted key of /etc/guestconfig/configmeta.json."""
import json
import sys

PATH = "/etc/guestconfig/configmeta.json"


def resolve(doc, value):
    while isinstance(value, dict) and list(value) == ["bdvlibrefkey"]:
        node = doc
        for part in value["bdvlibrefkey"]:
            node = node[part]
        value = node
    return value


def get(key):
    with open(PATH) as fh:
        doc = json.load(fh)
    node = doc
    for part in key.split("."):
        node = resolve(doc, node)
        node = node[part] if isinstance(node, dict) else node[int(part)]
    return resolve(doc, node)


def main():
    args = sys.argv[1:]
    if len(args) != 2 or args[0] not in ("-g", "--get"):
        sys.exit("usage: configcli --get KEY")
    value = get(args[1])
    if isinstance(value, list):
        print(",".join(str(v) for v in value))
    elif isinstance(value, dict):
        print(json.dumps(value, sort_keys=True))
    else:
        print(value)
'''

CONFIGCLI_SCRIPT = "#!/usr/bin/python3\nimport e2e_configcli\ne2e_configcli.main()\n"


MTIME = 1577836800  # 2020-01-01: setuptools zips the egg, and ZIP has no dates before 1980


def tgz(files: dict) -> bytes:
    """A reproducible .tgz of {path: (text, mode)}."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        dirs = set()
        for path in files:
            parts = Path(path).parts[:-1]
            dirs.update("/".join(parts[:i]) for i in range(1, len(parts) + 1))
        for d in sorted(dirs):
            info = tarfile.TarInfo(d)
            info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o755, MTIME
            tar.addfile(info)
        for path, (text, mode) in sorted(files.items()):
            data = text.encode()
            info = tarfile.TarInfo(path)
            info.size, info.mode, info.mtime = len(data), mode, MTIME
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def configcli_tgz() -> bytes:
    return tgz({
        "configcli-0.8/install": (CONFIGCLI_INSTALL, 0o755),
        "configcli-0.8/setup.py": (CONFIGCLI_SETUP, 0o644),
        "configcli-0.8/e2e_configcli.py": (CONFIGCLI_MODULE, 0o644),
        **{f"configcli-0.8/scripts/{n}": (CONFIGCLI_SCRIPT, 0o755) for n in ("configcli", "ccli", "configmacro")},
    })


def package_tgz() -> bytes:
    return tgz({"e2eapp/startscript": (STARTSCRIPT, 0o755)})


# App shapes: (role id, cardinality) in the app's order.
SPARK_ROLES = [("controller", "1"), ("worker", "0+"), ("jupyter", "0+")]
CASSANDRA_ROLES = [("seed", "1+"), ("worker", "0+")]


def app(name: str, roles: list, package_url: str, new_layout: bool, image: str,
        systemd: bool = False, persist_dirs: list | None = None) -> dict:
    spec = {
        "label": {"name": f"e2e {name}", "description": "kdrender e2e test app"},
        "distroID": f"kdrender-e2e/{name}",
        "version": "1.0",
        "configSchemaVersion": 7,
        "defaultImageRepoTag": image,
        "defaultConfigPackage": {"packageURL": package_url, "useNewSetupLayout": new_layout},
        "services": [{"id": "web", "label": {"name": "web"}, "endpoint": {"port": PORT, "isDashboard": False}}],
        "roles": [{"id": rid, "cardinality": card} for rid, card in roles],
        "config": {"selectedRoles": [rid for rid, _ in roles],
                   "roleServices": [{"roleID": rid, "serviceIDs": ["web"]} for rid, _ in roles]},
        "systemdRequired": systemd,
    }
    if persist_dirs:
        spec["defaultPersistDirs"] = persist_dirs
    return {"apiVersion": "kubedirector.hpe.com/v1beta1", "kind": "KubeDirectorApp", "metadata": {"name": name},
            "spec": spec}


def role(rid: str, members: int, storage: str | None = None, env: dict | None = None) -> dict:
    out = {"id": rid, "members": members,
           "resources": {"requests": {"cpu": "10m", "memory": "32Mi"}, "limits": {"cpu": "1", "memory": "512Mi"}}}
    if storage:
        out["storage"] = {"size": storage}
    if env:
        out["env"] = [{"name": k, "value": v} for k, v in env.items()]
    return out


def cluster(name: str, app_name: str, roles: list, annotations: dict | None = None) -> dict:
    meta = {"name": name}
    if annotations:
        meta["annotations"] = annotations
    return {"apiVersion": "kubedirector.hpe.com/v1beta1", "kind": "KubeDirectorCluster", "metadata": meta,
            "spec": {"app": app_name, "serviceType": "ClusterIP", "roles": roles}}


class Repo:
    """A cluster repo in a folder: catalog/, clusters/, kdrender.yaml, tools/configcli.tgz."""

    def __init__(self, root: Path, storage_class: str, poll_seconds: int = 10):
        self.root = root
        (root / "catalog").mkdir(parents=True)
        (root / "clusters").mkdir()
        (root / "tools").mkdir()
        (root / "tools" / "configcli-v0.8.tar.gz").write_bytes(configcli_tgz())
        self.write_config(storage_class, poll_seconds)

    def write_config(self, storage_class: str, poll_seconds: int) -> None:
        config = {
            "defaultStorageClassName": storage_class,
            "defaultServiceType": "ClusterIP",
            "kdrender": {"agent": {"configcliFile": "tools/configcli-v0.8.tar.gz", "pollSeconds": poll_seconds}},
        }
        (self.root / "kdrender.yaml").write_text(json.dumps(config, indent=2) + "\n")

    def add_app(self, doc: dict) -> None:
        (self.root / "catalog" / f"{doc['metadata']['name']}.json").write_text(json.dumps(doc, indent=2) + "\n")

    def write_cluster(self, doc: dict) -> str:
        name = f"{doc['metadata']['name']}.yaml"
        (self.root / "clusters" / name).write_text(json.dumps(doc, indent=2) + "\n")
        return name
