"""Scaffolds: ``kdrender init`` (a new cluster repo) and ``kdrender new cluster`` (a commented cluster file).

The files are Jinja2 templates in ``scaffold/templates/`` (shipped in the package, so users can
read and adapt them), rendered in a sandboxed environment with ``StrictUndefined`` and no
autoescaping (the output is YAML, not HTML).  Every value that comes from input (names, URLs,
catalog text) goes through a filter: ``q`` writes a YAML double-quoted scalar that reads back the
same under YAML 1.1 and 1.2, ``key`` a mapping key (plain only when that is safe), ``comment`` a
single line of comment text (no line breaks, so a catalog label can never add YAML of its own).

The catalog ``init`` copies from is the repo's own ``catalog/``: ``setup.py`` copies it into the
package (``kdrender/catalog/``) when a wheel is built, and a source checkout reads it where it is,
so there is one copy of every app file.  Nothing is written unless everything can be: existing
files (without ``--force``), symlinked folders and invalid results stop before the first write.
"""

from __future__ import annotations

import json
import os
import re
import textwrap
from dataclasses import dataclass
from pathlib import Path

from .. import __version__
from ..rules.deploy_placeholders import PLACEHOLDER

TEMPLATES = Path(__file__).resolve().parent / "templates"
PACKAGE = Path(__file__).resolve().parent.parent
PIP_SPEC = f"kdrender=={__version__}"
DEFAULT_BRANCH = "main"
DEFAULT_NAMESPACE = "default"
EXAMPLE_APP = "spark221e2"  # the example cluster's app when it is in the chosen catalog
DEFAULT_RESOURCES = {"cpu": "1", "memory": "2Gi"}  # for roles whose app sets no minResources
DEFAULT_STORAGE = "20Gi"
GITOPS = ("argocd", "flux", "both")
CI = ("github", "gitlab", "none")
_REPO_URL = re.compile(r"^((https?|ssh|git)://[^\s\"'\\]+|[A-Za-z0-9._-]+@[A-Za-z0-9.-]+:[^\s\"'\\]+)\Z")


class ScaffoldError(Exception):
    """Bad input for a scaffold: the message names what to change; nothing was written."""


# --- templates ---------------------------------------------------------------------------------

def yaml_quote(value) -> str:
    """A YAML double-quoted scalar: printable ASCII as is, everything else escaped (``\\u``/``\\U``),
    so the text reads back the same under YAML 1.1 and 1.2 and can never end the scalar."""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        str(value)  # a missing value (StrictUndefined) raises its own UndefinedError here
        raise TypeError(f"q: {type(value).__name__} is not a scalar")
    out = ['"']
    for ch in str(value):
        code = ord(ch)
        if ch in '"\\':
            out.append("\\" + ch)
        elif 0x20 <= code < 0x7F:
            out.append(ch)
        elif code <= 0xFFFF:
            out.append(f"\\u{code:04x}")
        else:
            out.append(f"\\U{code:08x}")
    out.append('"')
    return "".join(out)


_PLAIN_KEY = re.compile(r"[A-Za-z][A-Za-z0-9._/-]*")  # fullmatch: "$" would let a final newline through
_YAML11_WORDS = {"y", "n", "yes", "no", "on", "off", "true", "false", "null"}


def yaml_key(value) -> str:
    """A mapping key: plain when it reads back as the same string under YAML 1.1 and 1.2
    (``cpu``, ``nvidia.com/gpu``), else quoted like ``q`` (YAML keys stay under 1024 characters:
    Kubernetes resource names, the keys written here, are far shorter)."""
    text = str(value)
    return text if _PLAIN_KEY.fullmatch(text) and text.lower() not in _YAML11_WORDS else yaml_quote(text)


def comment_text(value, limit: int = 200) -> str:
    """One line of comment text: anything that is not printable (line breaks included) becomes a space."""
    text = "".join(ch if ch.isprintable() else " " for ch in str(value))
    return text if len(text) <= limit else text[: limit - 3] + "..."


def environment():
    from jinja2 import FileSystemLoader, StrictUndefined
    from jinja2.sandbox import SandboxedEnvironment

    env = SandboxedEnvironment(loader=FileSystemLoader(str(TEMPLATES)), undefined=StrictUndefined, autoescape=False,
                               trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)
    env.filters["q"] = yaml_quote
    env.filters["key"] = yaml_key
    env.filters["comment"] = comment_text
    env.globals["go"] = lambda expr: "{{ " + expr + " }}"  # a Go template action (Argo CD ApplicationSet)
    return env


def render(template: str, **values) -> str:
    return environment().get_template(template).render(**values)


# --- the catalog -------------------------------------------------------------------------------

def bundled_catalog() -> Path:
    """kdrender's example catalog: ``kdrender/catalog`` in an installed wheel, the project's
    ``catalog/`` in a source checkout (an editable install)."""
    for folder in (PACKAGE / "catalog", PACKAGE.parent / "catalog"):
        if folder.is_dir() and not folder.is_symlink() and (folder != PACKAGE.parent / "catalog"
                                                             or (PACKAGE.parent / "pyproject.toml").is_file()):
            return folder
    raise ScaffoldError("this kdrender installation has no bundled catalog (build it from the project, "
                        "whose catalog/ setup.py ships)")


@dataclass
class Catalog:
    apps: dict  # name -> defaulted App (kdrender.model.App)
    files: dict  # name -> repo-relative path of its file
    problems: list  # Problems of the catalog and config


def read_catalog(root: str, repo=None) -> Catalog:
    """The valid apps of the repo at ``root`` (only catalog/ and kdrender.yaml are read)."""
    from ..load import load_repo
    from ..validate import validate_repo

    repo = repo or load_repo(root, cluster_files=[])
    model, problems = validate_repo(repo)
    files = {doc.name: doc.file for doc in repo.catalog}
    return Catalog(model.apps, {name: files[name] for name in model.apps}, problems)


# --- new cluster -------------------------------------------------------------------------------

def _service_line(service: dict | None, sid: str) -> str:
    if service is None:
        return f"{sid}: not in the app's services"
    endpoint = service.get("endpoint") or {}
    label = (service.get("label") or {}).get("name") or sid
    text = f"{label} ({sid})"
    if endpoint.get("port"):
        text += f": port {endpoint['port']}"
        if endpoint.get("urlScheme"):
            text += f", {endpoint['urlScheme']}"
        if endpoint.get("isDashboard"):
            text += ", dashboard"
    else:
        text += ": no port"
    return text


def _role(app_spec: dict, app_role: dict, members: int | None) -> dict:
    from ..cardinality import parse_cardinality
    from ..quantity import parse_quantity
    from ..resolve import persist_dirs

    minimum, scale_out = parse_cardinality(app_role["cardinality"])
    min_resources = {k: str(v) for k, v in (app_role.get("minResources") or {}).items()
                     if (parse_quantity(v) or 0) > 0}
    resources = {**DEFAULT_RESOURCES, **min_resources}
    min_storage = app_role.get("minStorage") or {}
    storage = None
    if app_role.get("persistDirs") or min_storage:
        storage = min_storage.get("size") or DEFAULT_STORAGE
        if (parse_quantity(storage) or 0) < (parse_quantity(DEFAULT_STORAGE) or 0):
            storage = DEFAULT_STORAGE
    services = {s["id"]: s for s in app_spec.get("services") or []}
    entry = next((rs for rs in app_spec["config"]["roleServices"] if rs["roleID"] == app_role["id"]), None)
    return {
        "id": app_role["id"],
        "cardinality": app_role["cardinality"],
        "rule": f"{minimum} or more members" if scale_out else f"exactly {minimum}",
        "members": members if members is not None else (max(minimum, 1) if scale_out else minimum),
        "image": app_role.get("imageRepoTag") or "",
        "resources": sorted(resources.items()),
        "resources_note": ("the app's minResources" + (", with kdrender's defaults for the rest"
                                                        if set(DEFAULT_RESOURCES) - set(min_resources) else "")
                           if min_resources else "kdrender's defaults (the app sets no minResources)"),
        "storage": storage,
        "persist_dirs": persist_dirs(app_role.get("configPackage"), app_role.get("persistDirs")) if storage else [],
        "services": [_service_line(services.get(sid), sid) for sid in (entry or {}).get("serviceIDs") or []],
    }


def parse_role_counts(items) -> dict:
    """``["worker=3"]`` -> ``{"worker": 3}``."""
    counts = {}
    for item in items or ():
        role, sep, number = item.partition("=")
        if not sep or not role or not number.isdigit():
            raise ValueError(f"{item!r} is not ROLE=N (e.g. worker=3)")
        counts[role] = int(number)
    return counts


def cluster_text(app, name: str, namespace: str | None, counts: dict) -> str:
    """The commented KubeDirectorCluster of ``app`` (a defaulted kdrender.model.App)."""
    spec = app.spec
    selected = spec["config"].get("selectedRoles") or [r["id"] for r in spec["roles"]]
    roles = [r for r in spec["roles"] if r["id"] in selected]
    unknown = sorted(set(counts) - {r["id"] for r in roles})
    if unknown:
        raise ScaffoldError(f"app {app.name!r} has no role {', '.join(map(repr, unknown))} "
                            f"(roles: {', '.join(r['id'] for r in roles)})")
    return render("cluster.yaml.j2", name=name, namespace=namespace,
                  app={"name": app.name, "label": spec["label"]["name"], "version": spec["version"],
                       "distro": spec["distroID"]},
                  roles=[_role(spec, r, counts.get(r["id"])) for r in roles])


def check_cluster(repo, text: str, file: str, replace: bool = False) -> None:
    """Validate a generated cluster against the repo's catalog, config and other clusters (``replace``:
    it takes the place of ``file``); ScaffoldError with every problem of the new cluster."""
    from ..load import CONFIG_FILE, RepoFiles, parse_yaml
    from ..problems import format_problems
    from ..validate import validate_repo

    docs, problems = parse_yaml(text, file)
    others = [doc for doc in repo.clusters if not (replace and doc.file == file)]  # for names already taken
    trial = RepoFiles(repo.root, catalog=list(repo.catalog), clusters=others + docs, configs=list(repo.configs))
    _, found = validate_repo(trial)
    errors = [p for p in problems + found if p.level == "error" and p.file in (file, CONFIG_FILE)]
    if errors:
        raise ScaffoldError("the cluster would not validate:\n" + format_problems(errors))


def new_cluster(root: str, name: str, app_name: str, namespace: str | None, counts: dict, file: str,
                replace: bool = False) -> str:
    """The text of a new cluster for ``app_name`` of the repo at ``root``, validated as ``file``
    (``replace``: it will overwrite that file)."""
    from ..load import load_repo

    repo = load_repo(root)
    catalog = read_catalog(root, repo)
    app = catalog.apps.get(app_name)
    if app is None:
        from ..problems import format_problems

        broken = [p for p in catalog.problems if p.level == "error" and p.file.startswith("catalog/")]
        known = ", ".join(sorted(catalog.apps)) or "none"
        raise ScaffoldError(f"app {app_name!r} is not in the catalog of {root} (apps: {known})"
                            + ("\n" + format_problems(broken) if broken else ""))
    text = cluster_text(app, name, namespace, counts)
    check_cluster(repo, text, file, replace)
    return text


# --- init --------------------------------------------------------------------------------------

def _option_lines(schema: dict, examples: dict) -> list:
    """``{key, example, description}`` of every property of a schema object, in the schema's order."""
    options = []
    for key, prop in schema.get("properties", {}).items():
        example, description = examples.get(key, (None, None))
        if example is None:
            example = json.dumps(prop["default"]) if "default" in prop else NO_EXAMPLE
        text = prop.get("description") or description or ""
        options.append({"key": key, "example": example, "description": textwrap.wrap(text, 96)})
    return options


NO_EXAMPLE = "(see kdrender's README)"  # an option added to the schema without an example here
# key -> (example or default as YAML flow text, description when the schema has none); the
# KubeDirectorConfig settings first, then kdrender's options (no key is in both).
EXAMPLES = {
    "defaultStorageClassName": ("standard", None),
    "defaultServiceType": ("LoadBalancer", None),
    "nativeSystemdSupport": ("false", None),
    "requiredSecretPrefix": ('""', None),
    "clusterSvcDomainBase": (".svc.cluster.local", None),
    "defaultNamingScheme": ("CrNameRole", None),
    "masterEncryptionKey": ("<32, 48 or 64 hex digits; better kept out of Git>", None),
    "podLabels": ("{}", "Labels added to every pod."),
    "podAnnotations": ("{}", "Annotations added to every pod."),
    "serviceLabels": ("{}", "Labels added to every member Service."),
    "serviceAnnotations": ("{}", "Annotations added to every member Service."),
    "backupClusterStatus": ("false", "KubeDirector's cluster status backup (no effect in kdrender)."),
    "allowRestoreWithoutConnections": ("false", "KubeDirector's restore setting (no effect in kdrender)."),
    "forceSharedMemorySizeSupport": ("null", "KubeDirector's shared memory size gate."),
    "recommendedLabels": ("true", None),
    "instanceLabel": ("true", None),
    "kubernetesVersion": ('"1.29"', None),
    "syncWaves": ("true", None),
    "pvcRetention": ("{whenDeleted: Retain, whenScaled: Retain}", None),
    "agent": ('{enabled: true, configcliURL: "https://github.com/bluek8s/configcli/archive/v0.8.tar.gz", '
              "pollSeconds: 10}", "The in-pod agent: configmeta, configcli, the setup package, notifications."),
    "allowEmpty": ("false", None),
    "podDisruptionBudget": ("{enabled: true, maxUnavailable: 1}", None),
    "networkPolicy": ("{enabled: false, allowFrom: [monitoring, 10.0.0.0/8]}", None),
    "topologySpread": ("{enabled: false, over: [nodes], maxSkew: 1, whenUnsatisfiable: ScheduleAnyway}", None),
    "priorityClassName": ("null", None),
    "readinessProbe": ("true", None),
}


def config_text(namespace: str, settings: list | None = None, options: list | None = None) -> str:
    """kdrender.yaml with every option of the schemas (or the given ``{key, example, description}``
    lists), commented out with its default or an example."""
    if settings is not None and options is not None:
        return render("kdrender.yaml.j2", namespace=namespace, settings=settings, options=options)

    def load_schema(name: str) -> dict:
        return json.loads((PACKAGE / "schemas" / f"{name}.json").read_text(encoding="utf-8"))

    repo_schema = load_schema("RepoConfig")
    settings = load_schema("KubeDirectorConfig")["$defs"]["settings"]
    return render("kdrender.yaml.j2", namespace=namespace,
                  settings=_option_lines(settings, EXAMPLES),
                  options=_option_lines(repo_schema["properties"]["kdrender"], EXAMPLES))


def _example_name(app: str) -> str:
    name = re.sub(r"[^a-z0-9-]+", "-", app.lower()).strip("-")[:40].strip("-") or "example"
    return f"{name}-example"


def repo_files(apps: list, gitops: str, repo_url: str, ci: str) -> tuple[dict, tuple]:
    """Every file of a new repo (path -> bytes) and the example cluster's (namespace, name)."""
    from ..load import RepoFiles, read_file

    catalog_dir = bundled_catalog()
    root = str(catalog_dir.parent)
    repo = RepoFiles(root)
    for entry in sorted(os.listdir(catalog_dir)):
        if entry.endswith((".json", ".yaml", ".yml")):
            docs, problems = read_file(root, f"{catalog_dir.name}/{entry}")
            repo.catalog.extend(docs)
    catalog = read_catalog(root, repo)
    wanted = apps or sorted(catalog.apps)
    unknown = [a for a in wanted if a not in catalog.apps]
    if unknown:
        raise ValueError(f"{', '.join(map(repr, unknown))} not in kdrender's catalog "
                         f"(apps: {', '.join(sorted(catalog.apps))})")
    files = {}
    for name in wanted:
        rel = catalog.files[name]
        files["catalog/" + rel.split("/", 1)[1]] = (catalog_dir.parent / rel).read_bytes()
    example_app = EXAMPLE_APP if EXAMPLE_APP in wanted else wanted[0]
    example = (DEFAULT_NAMESPACE, _example_name(example_app))
    files[f"clusters/{example[1]}.yaml"] = cluster_text(catalog.apps[example_app], example[1], None, {}).encode()
    values = {"version": __version__, "repo_url": repo_url, "branch": DEFAULT_BRANCH, "namespace": DEFAULT_NAMESPACE,
              "pip_spec": PIP_SPEC, "apps": wanted, "placeholder": PLACEHOLDER,
              "argocd": gitops in ("argocd", "both"), "flux": gitops in ("flux", "both")}
    texts = {
        "kdrender.yaml": config_text(DEFAULT_NAMESPACE),
        ".pre-commit-config.yaml": render("pre-commit-config.yaml.j2", **values),
        ".gitignore": render("gitignore.j2", **values),
        "README.md": render("README.md.j2", **values),
    }
    if ci == "github":
        texts[".github/workflows/kdrender.yml"] = render("github-workflow.yml.j2", **values)
    elif ci == "gitlab":
        texts[".gitlab-ci.yml"] = render("gitlab-ci.yml.j2", **values)
    if values["argocd"]:
        texts["deploy/argocd/applicationset.yaml"] = render("argocd-applicationset.yaml.j2", **values)
    if values["flux"]:
        texts["deploy/flux/gitrepository.yaml"] = render("flux-gitrepository.yaml.j2", **values)
        texts["deploy/flux/clusters.yaml"] = render(
            "flux-kustomizations.yaml.j2", clusters=[{"namespace": example[0], "name": example[1]}])
        texts["deploy/flux/kustomization.yaml"] = render("flux-kustomization.yaml.j2", **values)
    files.update((path, text.encode()) for path, text in texts.items())
    return files, example


def _unsafe_parents(target: Path, paths) -> list[str]:
    """Folders on the way to ``paths`` that are symlinks or not folders (writing there would leave the repo)."""
    bad = set()
    for rel in paths:
        parts = Path(rel).parts[:-1]
        for i in range(len(parts)):
            folder = target.joinpath(*parts[: i + 1])
            if folder.is_symlink() or (folder.exists() and not folder.is_dir()):
                bad.add("/".join(parts[: i + 1]))
    return sorted(bad)


def write_files(target: Path, files: dict, force: bool, also=()) -> None:
    """Write ``files`` below ``target``: all or (on a problem found first) nothing.  ``also``: more
    paths that must not exist yet (without ``force``)."""
    if target.is_symlink():
        raise ScaffoldError(f"{target} is a symlink; give the real folder")
    unsafe = _unsafe_parents(target, files)
    if unsafe:
        raise ScaffoldError(f"{target}: {', '.join(unsafe)} is a symlink or not a folder; nothing was written")
    existing = sorted(rel for rel in [*files, *also] if (target / rel).exists() or (target / rel).is_symlink())
    if existing and not force:
        raise ScaffoldError(f"{target} already has {', '.join(existing)}; nothing was written "
                            "(--force overwrites them)")
    for rel in sorted(files):
        path = target / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.kdrender-tmp")
        tmp.write_bytes(files[rel])
        os.replace(tmp, path)  # replaces a symlink itself, never its target


def repo_url_for(target: str, given: str | None) -> tuple[str, str]:
    """The Git URL init writes into deploy/, and a line for the user: ``given`` (``--repo-url``),
    else the origin remote of the Git repo ``target`` is in (kdrender/scaffold/origin.py), else
    :data:`PLACEHOLDER`, which ``kdrender validate`` refuses until it is set."""
    if given is not None:
        return given, ""
    from .origin import origin_url

    url, note = origin_url(target, lambda text: bool(_REPO_URL.match(text)))
    if url:
        return url, f"repo URL from the origin remote: {url}" + (f" ({note})" if note else "")
    return PLACEHOLDER, (f"no --repo-url, and {note}: deploy/ holds {PLACEHOLDER} where the repo's Git URL goes; "
                         "set it there (kdrender validate refuses it until then)")


def init_repo(target: str, gitops: str, repo_url: str, ci: str, apps: list, force: bool) -> tuple[list, tuple]:
    """Write a new cluster repo into ``target`` and build its golden/; returns (files, example cluster).
    ``repo_url`` is a Git URL or :data:`PLACEHOLDER` (see :func:`repo_url_for`)."""
    from ..compare import GOLDEN, write_tree
    from ..incremental import with_record
    from ..pipeline import load_model
    from ..problems import UserError, format_problems
    from ..stream import rendered

    if repo_url != PLACEHOLDER and not _REPO_URL.match(repo_url):
        raise ValueError(f"{repo_url!r} is not a Git URL (https://, ssh://, git:// or user@host:path)")
    root = Path(target)
    files, example = repo_files(apps, gitops, repo_url, ci)
    write_files(root, files, force, also=[GOLDEN])
    try:
        model = load_model(str(root))
        pairs, record = with_record(str(root), model, rendered(model, "files"))  # as `kdrender build` writes them
        golden_files = list(pairs)
    except UserError as exc:  # a bug: the scaffold itself does not validate
        raise ScaffoldError("the new repo does not validate:\n" + format_problems(exc.problems)) from None
    write_tree(str(root), golden_files, beside=record)
    return sorted([*files, *record]) + sorted(f"{GOLDEN}/{rel}" for rel, _ in golden_files), example
