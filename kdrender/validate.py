"""Stage 2, validate: schemas, KubeDirector's admission rules and repo-wide checks.

``validate_repo`` takes what ``load`` read and returns the defaulted model together with
every problem found; rendering starts only when there are no errors.  Defaulting (stage 3)
is interleaved where KubeDirector's webhook needs it: cluster rules see the defaulted app.
"""

from __future__ import annotations

from . import schema
from .config import make_config
from .configcli import attach_configcli
from .default import default_app, default_cluster
from .lazyre import lazy
from .load import CONFIG_FILE, Document, RepoFiles
from .model import App, Cluster, Model
from .normalize import API_VERSIONS, V1ALPHA1, normalize_app, normalize_cluster, normalize_config
from .problems import Problem
from .record import replace
from .rules import AppContext, ClusterContext, ConfigContext, DeployContext, ExtraContext, RepoContext, rules_for

_LEGACY_SERVICE_ID = lazy(r"^spec\.(services\[\d+\]\.id|config\.roleServices\[\d+\]\.serviceIDs\[\d+\])$")
_NORMALIZE = {
    "KubeDirectorApp": normalize_app,
    "KubeDirectorCluster": normalize_cluster,
    "KubeDirectorConfig": normalize_config,
}


def _kind_problem(doc: Document, expected: str) -> Problem | None:
    data = doc.data
    if not isinstance(data, dict):
        return doc.problem((), f"a {expected} must be a mapping, not {type(data).__name__}", "schema")
    kind = data.get("kind")
    if not isinstance(kind, str) or kind not in _NORMALIZE:
        return doc.problem(("kind",) if "kind" in data else (),
                           f"kind {kind!r} is not a KubeDirector kind (expected {expected})", "schema")
    if kind != expected:  # e.g. a KubeDirectorCluster in catalog/ would be checked as an app
        return doc.problem(("kind",), f"kind {kind!r} does not belong here (expected {expected})", "schema")
    if data.get("apiVersion") not in API_VERSIONS:
        return doc.problem(("apiVersion",) if "apiVersion" in data else (),
                           f"apiVersion {data.get('apiVersion')!r} is not one of: {', '.join(API_VERSIONS)}", "schema")
    return None


def _structure(doc: Document, expected: str, notices: list, cache=None) -> tuple[Document | None, list[Problem]]:
    """Kind and version dispatch, normalization and the schema check of one document."""
    problem = _kind_problem(doc, expected)
    if problem:
        return None, [problem]
    legacy = doc.api_version == V1ALPHA1
    if legacy:
        notices.append(f"{doc.file}: {V1ALPHA1} is deprecated; kdrender reads it as kubedirector.hpe.com/v1beta1")
    doc = _NORMALIZE[doc.kind](doc)
    data = schema.drop_nulls(doc.data, doc.kind)
    if data is not doc.data:
        doc = doc.with_data(data)
    problems = schema.check(doc, doc.kind, cache)
    if legacy:  # 2018 service ids were free text; they are kept (see normalize)
        problems = [p for p in problems if not _LEGACY_SERVICE_ID.match(p.path)]
    return (None if any(p.level == "error" for p in problems) else doc), problems


def _run(rule, ctx, doc: Document) -> list[Problem]:
    level = getattr(rule, "LEVEL", "error")
    return [doc.problem(path, message, rule.ID, level) for path, message in rule.check(ctx)]


def _config(repo: RepoFiles, notices: list, overrides: dict, cache=None) -> tuple[object, list[Problem]]:
    problems: list[Problem] = []
    settings: dict | None = None
    options: dict = {}
    source = ""
    for doc in repo.configs:
        if doc.file == CONFIG_FILE and not (isinstance(doc.data, dict) and doc.data.get("kind")):
            if not isinstance(doc.data, dict):
                problems.append(doc.problem((), "kdrender.yaml must be a mapping of settings", "schema"))
                continue
            found = schema.check(doc, "RepoConfig", cache)
            problems.extend(found)
            if found:
                continue
            doc_settings = {k: v for k, v in doc.data.items() if k != "kdrender"}
            options = doc.data.get("kdrender") or {}
            settings_path: tuple = ()
        else:
            checked, found = _structure(doc, "KubeDirectorConfig", notices, cache)
            problems.extend(found)
            if checked is None:
                continue
            doc_settings = checked.data.get("spec") or {}
            settings_path = ("spec",)
            doc = checked
        ctx = ConfigContext(doc, doc_settings, settings_path)
        found = [p for rule in rules_for("config") for p in _run(rule, ctx, doc)]
        problems.extend(found)
        if found:
            continue
        if settings and doc_settings:
            problems.append(doc.problem((), f"KubeDirectorConfig settings are already defined in {source}; "
                                            "keep them in one place", "duplicate-object"))
            continue
        if doc_settings or settings is None:
            settings, source = doc_settings, doc.file
    config, found = attach_configcli(make_config(settings, {**options, **overrides}, source), repo.root, repo.configs)
    return config, problems + found


def _extras(repo: RepoFiles, default_namespace: str, problems: list) -> dict:
    """Check the other Kubernetes objects of cluster files; file -> the good ones, in file order."""
    good: dict = {}
    for doc in repo.extras:
        owners = [d for d in repo.clusters if d.file == doc.file and d.kind == "KubeDirectorCluster"]
        meta = owners[0].data.get("metadata") if len(owners) == 1 else None
        namespace = (meta.get("namespace") if isinstance(meta, dict) else None) or default_namespace
        found = [p for rule in rules_for("extra") for p in _run(rule, ExtraContext(doc, owners, namespace), doc)]
        problems.extend(found)
        if not found:
            good.setdefault(doc.file, []).append(doc)
    return good


def validate_repo(repo: RepoFiles, namespace: str | None = None, options: dict | None = None,
                  cache=None) -> tuple[Model, list[Problem]]:
    """Check everything and build the model.

    ``namespace`` overrides the repo's default namespace; ``options`` override kdrender
    options of kdrender.yaml (from the command line or Argo CD parameters); ``cache`` (a
    ``schema.Cache``) skips the schema check of documents that passed it before.
    """
    notices: list[str] = []
    problems: list[Problem] = list(repo.problems)
    config, found = _config(repo, notices, options or {}, cache)
    problems.extend(found)
    model = Model(config=config, notices=notices)
    default_namespace = namespace or config.namespace

    app_ctxs = []
    catalog_names = {doc.name for doc in repo.catalog}  # broken apps too: their clusters are not checked
    for doc in repo.catalog:
        checked, found = _structure(doc, "KubeDirectorApp", notices, cache)
        problems.extend(found)
        if checked is None:
            continue
        ctx = AppContext(checked)
        found = [p for rule in rules_for("app") for p in _run(rule, ctx, checked)]
        errors = [p for p in found if p.level == "error"]
        problems.extend(errors)
        model.warnings.extend(p for p in found if p.level != "error")  # a warning does not drop the app
        app_ctxs.append(ctx)
        if not errors and checked.name not in model.apps:
            model.apps[checked.name] = App(checked.name, checked.file, default_app(ctx.spec))

    extras = _extras(repo, default_namespace, problems)
    cluster_ctxs = []
    for doc in repo.clusters:
        checked, found = _structure(doc, "KubeDirectorCluster", notices, cache)
        problems.extend(found)
        if checked is None:
            continue
        app_name = checked.data["spec"]["app"]
        app = model.apps.get(app_name)
        ns = (checked.data["metadata"].get("namespace") or default_namespace)
        ctx = ClusterContext(checked, app.spec if app else None, app_name, config, ns)
        if app is None and app_name in catalog_names:
            continue  # the app itself is broken; its problems are reported already
        found = [p for rule in rules_for("cluster") for p in _run(rule, ctx, checked)]
        errors = [p for p in found if p.level == "error"]
        problems.extend(errors)
        model.warnings.extend(p for p in found if p.level != "error")
        cluster_ctxs.append(ctx)
        if not errors:
            spec = default_cluster(ctx.spec, app.spec, config.settings)
            model.clusters.append(Cluster(checked.name, ns, checked.file, spec, app, doc.api_version,
                                          checked.where(("metadata", "name")), checked.data.get("status") or {},
                                          checked.data["metadata"].get("uid") or "",
                                          extras=tuple(extras.get(checked.file, ())),
                                          annotations=checked.data["metadata"].get("annotations") or {}))

    repo_ctx = RepoContext(cluster_ctxs, app_ctxs)
    for rule in rules_for("repo"):
        for doc, path, message in rule.check(repo_ctx):
            problems.append(doc.problem(path, message, rule.ID))
    model.clusters.sort(key=lambda c: (c.namespace, c.name, c.file))
    refused = {(p.file, p.path) for p in repo.problems if p.rule == "yaml-version"}
    if refused:  # a value refused while loading is kept as its text; the schema need not say so again
        problems = [p for p in problems if p.rule != "schema" or (p.file, p.path) not in refused]
    model.warnings.extend(p for p in problems if p.level != "error")  # e.g. unknown fields the CRD keeps
    problems = [p for p in problems if p.level == "error"]
    broken = {p.file for p in problems if p.level == "error"}
    named = [c for c in model.clusters if c.file not in broken]
    if named:
        # names of the objects the clusters would get: valid for Kubernetes, and no two alike
        from .resolve import name_problems, resolved_clusters

        problems.extend(name_problems(resolved_clusters(replace(model, clusters=named))))
    return model, sorted(set(problems))


DEPLOY = "deploy"


def deploy_problems(root: str) -> list[Problem]:
    """Problems of the YAML files under deploy/ (the GitOps objects ``kdrender init`` writes):
    ``kdrender validate`` checks them, the commands that render never read them.  What cannot be
    read or parsed there is not kdrender's to judge, and is skipped."""
    from .load import read_file, scan_files

    problems: list[Problem] = []
    rels, _ = scan_files(root, DEPLOY)
    for rel in rels:
        docs, _ = read_file(root, rel)
        for doc in docs:
            problems.extend(p for rule in rules_for("deploy") for p in _run(rule, DeployContext(doc), doc))
    return sorted(set(problems))
