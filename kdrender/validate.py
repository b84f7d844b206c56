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
from .record import record, replace
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


@record
class Base:
    """What checking any cluster file needs: the repo config and the checked catalog.

    Made once per run (:func:`check_base`); the whole-repo check (:func:`validate_repo`) and the
    streaming index (kdrender/index.py) then check cluster files one at a time against it."""

    model: Model  # config, apps, notices, warnings; no clusters
    problems: list  # of the config and the catalog
    app_ctxs: list
    catalog_names: set  # names of every app document, broken ones too: their clusters are not checked
    default_namespace: str
    cache: object = None


def check_base(repo: RepoFiles, namespace: str | None = None, options: dict | None = None, cache=None) -> Base:
    """The config and the catalog of ``repo`` checked (``repo.configs``, ``repo.catalog``)."""
    notices: list[str] = []
    config, problems = _config(repo, notices, options or {}, cache)
    model = Model(config=config, notices=notices)
    app_ctxs = []
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
    return Base(model, problems, app_ctxs, {doc.name for doc in repo.catalog}, namespace or config.namespace, cache)


@record
class FileCheck:
    """One cluster file checked: its clusters (no rule errors; defaulted), the contexts the repo
    rules see (every cluster that passed its schema and whose app is in the catalog), and its
    problems.  ``extra_problems`` and ``problems`` are kept apart because the whole-repo check
    lists every file's other objects before any file's clusters (the order of warnings)."""

    clusters: list  # (document index, Cluster)
    ctxs: list  # (document index, ClusterContext)
    extra_problems: list
    problems: list
    warnings: list  # rule warnings, in document order
    notices: list


def check_file(base: Base, docs: list, extras: list) -> FileCheck:
    """The KubeDirector documents ``docs`` and the other Kubernetes objects ``extras`` of one file."""
    config = base.model.config
    notices: list[str] = []
    extra_problems: list[Problem] = []
    good = _extras(docs, extras, base.default_namespace, extra_problems)
    problems: list[Problem] = []
    warnings: list[Problem] = []
    clusters, ctxs = [], []
    for doc in docs:
        checked, found = _structure(doc, "KubeDirectorCluster", notices, base.cache)
        problems.extend(found)
        if checked is None:
            continue
        app_name = checked.data["spec"]["app"]
        app = base.model.apps.get(app_name)
        ns = (checked.data["metadata"].get("namespace") or base.default_namespace)
        ctx = ClusterContext(checked, app.spec if app else None, app_name, config, ns)
        if app is None and app_name in base.catalog_names:
            continue  # the app itself is broken; its problems are reported already
        found = [p for rule in rules_for("cluster") for p in _run(rule, ctx, checked)]
        errors = [p for p in found if p.level == "error"]
        problems.extend(errors)
        warnings.extend(p for p in found if p.level != "error")
        ctxs.append((doc.index, ctx))
        if not errors:
            spec = default_cluster(ctx.spec, app.spec, config.settings)
            clusters.append((doc.index, Cluster(checked.name, ns, checked.file, spec, app, doc.api_version,
                                                checked.where(("metadata", "name")), checked.data.get("status") or {},
                                                checked.data["metadata"].get("uid") or "",
                                                extras=tuple(good),
                                                annotations=checked.data["metadata"].get("annotations") or {})))
    return FileCheck(clusters, ctxs, extra_problems, problems, warnings, notices)


def _extras(docs: list, extras: list, default_namespace: str, problems: list) -> list:
    """Check the other Kubernetes objects of a cluster file; the good ones, in file order."""
    good: list = []
    owners = [d for d in docs if d.kind == "KubeDirectorCluster"]
    meta = owners[0].data.get("metadata") if len(owners) == 1 else None
    namespace = (meta.get("namespace") if isinstance(meta, dict) else None) or default_namespace
    for doc in extras:
        found = [p for rule in rules_for("extra") for p in _run(rule, ExtraContext(doc, owners, namespace), doc)]
        problems.extend(found)
        if not found:
            good.append(doc)
    return good


def repo_problems(ctxs: list, app_ctxs: list, names=None) -> list[Problem]:
    """The repo rules over the clusters ``ctxs`` (ClusterContexts, in file order); ``names`` holds
    the (namespace, name) of every cluster of the run (default: those of ``ctxs``)."""
    repo_ctx = RepoContext(ctxs, app_ctxs, names)
    return [doc.problem(path, message, rule.ID) for rule in rules_for("repo") for doc, path, message in rule.check(repo_ctx)]


def refused_filter(load_problems: list, problems: list) -> list:
    """A value refused while loading is kept as its text; the schema need not say so again."""
    refused = {(p.file, p.path) for p in load_problems if p.rule == "yaml-version"}
    if not refused:
        return problems
    return [p for p in problems if p.rule != "schema" or (p.file, p.path) not in refused]


def by_file(repo: RepoFiles) -> list:
    """(file, KubeDirector documents, other objects) of each cluster file, in the order read."""
    files: dict = {}
    for doc in repo.clusters:
        files.setdefault(doc.file, ([], []))[0].append(doc)
    for doc in repo.extras:
        files.setdefault(doc.file, ([], []))[1].append(doc)
    order = {rel: i for i, rel in enumerate(repo.read)}
    return sorted(((rel, docs, extras) for rel, (docs, extras) in files.items()), key=lambda f: order.get(f[0], 0))


def validate_repo(repo: RepoFiles, namespace: str | None = None, options: dict | None = None,
                  cache=None) -> tuple[Model, list[Problem]]:
    """Check everything and build the model (every cluster in memory: see kdrender/index.py for
    the streaming check of a whole repo, which gives the same problems).

    ``namespace`` overrides the repo's default namespace; ``options`` override kdrender
    options of kdrender.yaml (from the command line or Argo CD parameters); ``cache`` (a
    ``schema.Cache``) skips the schema check of documents that passed it before.
    """
    base = check_base(repo, namespace, options, cache)
    model = base.model
    checks = [check_file(base, docs, extras) for _, docs, extras in by_file(repo)]
    for check in checks:
        model.notices.extend(check.notices)
        model.warnings.extend(check.warnings)
        model.clusters.extend(cluster for _, cluster in check.clusters)
    problems: list[Problem] = list(repo.problems) + base.problems
    problems += [p for check in checks for p in check.extra_problems]
    problems += [p for check in checks for p in check.problems]
    problems += repo_problems([ctx for check in checks for _, ctx in check.ctxs], base.app_ctxs)
    model.clusters.sort(key=lambda c: (c.namespace, c.name, c.file))
    problems = refused_filter(repo.problems, problems)
    model.warnings.extend(p for p in problems if p.level != "error")  # e.g. unknown fields the CRD keeps
    problems = [p for p in problems if p.level == "error"]
    broken = {p.file for p in problems}
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
