"""What Argo CD hands a config-management plugin, turned into kdrender options.

Argo CD runs ``generate`` in the Application's source path with: ``ARGOCD_APP_NAMESPACE``,
``ARGOCD_APP_PARAMETERS`` (JSON list of ``{name, string|array|map}``) and the same parameters as
``PARAM_<NAME>`` variables, the Application's plugin env as ``ARGOCD_ENV_<NAME>``, and
``KUBE_VERSION`` / ``KUBE_API_VERSIONS`` of the target cluster (fields the version does not know
are left out; a kind the cluster does not serve is an error).  Announced defaults are not sent,
so every default is applied here.

Parameters (also accepted as ``ARGOCD_ENV_KDRENDER_<NAME>``, upper case with ``_``):
``clusters`` (array of cluster file globs relative to the app path), ``namespace``,
``allow-empty``, ``sync-waves``, ``instance-label``, ``kubernetes-version``.
Precedence: parameter, then env, then (for the version) ``KUBE_VERSION``, then ``kdrender.yaml``.
Everything here is input: parameters of the wrong type, unknown parameter names and namespaces
that are not DNS-1123 labels are a ``ParameterError`` (exit 2), never a traceback.
"""

from __future__ import annotations

import json
import os

from .credentials import redact

PARAMETERS = ("clusters", "namespace", "allow-empty", "sync-waves", "instance-label", "kubernetes-version")
_BOOLEAN = {"allow-empty": "allowEmpty", "sync-waves": "syncWaves", "instance-label": "instanceLabel"}


class ParameterError(ValueError):
    pass


class SelectionError(ValueError):
    """The ``clusters`` globs do not select what they name (an input problem: exit 1, not 2)."""


def _env_name(param: str) -> str:
    return param.upper().replace("-", "_")


_ARRAY = ("clusters",)  # parameters that take a list (or one comma-separated string); the others take a string
_KINDS = {"string": str, "array": list, "map": dict}


def _what(value) -> str:
    return {dict: "a mapping", list: "a list", str: "a string", bool: "true or false", type(None): "null"}.get(
        type(value), "a number" if isinstance(value, (int, float)) else type(value).__name__)


def _check_value(name: str, value, where: str):
    """``value`` of parameter ``name`` if it has the type kdrender expects, else ParameterError."""
    if name in _ARRAY:
        if isinstance(value, list):
            bad = [i for i, item in enumerate(value) if not isinstance(item, str)]
            if bad:
                raise ParameterError(f"{where}: item {bad[0]} of parameter {name!r} must be a string (a file glob), "
                                     f"not {_what(value[bad[0]])}")
            return value
        if isinstance(value, str):
            return value
        raise ParameterError(f"{where}: parameter {name!r} must be an array of file globs, not {_what(value)}")
    if not isinstance(value, str):
        raise ParameterError(f"{where}: parameter {name!r} must be a string, not {_what(value)}")
    return value


def _app_parameters(raw: str) -> dict:
    """The parameters of ``ARGOCD_APP_PARAMETERS``: a JSON list of ``{name, string|array|map}``."""
    where = "ARGOCD_APP_PARAMETERS"
    try:
        entries = json.loads(raw)
    except (json.JSONDecodeError, RecursionError) as exc:
        raise ParameterError(f"{where} is not JSON: {getattr(exc, 'msg', 'nested too deeply')}") from None
    if not isinstance(entries, list):
        raise ParameterError(f"{where} must be a JSON list of {{name, string|array|map}}, not {_what(entries)}")
    params: dict = {}
    for i, entry in enumerate(entries):
        name = entry.get("name") if isinstance(entry, dict) else None
        if not isinstance(name, str):
            raise ParameterError(f"{where}[{i}] must be an object with a string name, not {_what(entry)}"
                                 if not isinstance(entry, dict) else f"{where}[{i}]: name must be a string")
        if name not in PARAMETERS:
            import difflib

            hint = difflib.get_close_matches(name, PARAMETERS, n=1, cutoff=0.6)
            more = f"did you mean {hint[0]!r}?" if hint else f"known parameters: {', '.join(PARAMETERS)}"
            raise ParameterError(f"{where}[{i}]: unknown parameter {redact(name)[:60]!r}; {more}")
        for key, kind in _KINDS.items():
            if key in entry:
                if not isinstance(entry[key], kind):
                    raise ParameterError(f"{where}[{i}]: {key} of parameter {name!r} must be "
                                         f"{_what(kind())}, not {_what(entry[key])}")
                params[name] = _check_value(name, entry[key], f"{where}[{i}]")
                break
    return params


def read_parameters(environ) -> dict:
    """Parameters by name: str for strings, list of str for arrays (ParameterError for any other type)."""
    raw = environ.get("ARGOCD_APP_PARAMETERS")
    params: dict = _app_parameters(raw) if raw else {}
    for name in PARAMETERS:
        if name in params:
            continue
        prefix = "PARAM_" + _env_name(name)
        if prefix in environ:
            params[name] = environ[prefix]
        else:
            items = sorted((k, v) for k, v in environ.items() if k.startswith(prefix + "_") and k[len(prefix) + 1:].isdigit())
            if items:
                params[name] = [v for _, v in sorted(items, key=lambda kv: int(kv[0][len(prefix) + 1:]))]
        if isinstance(params.get(name), list) and name not in _ARRAY:
            raise ParameterError(f"{prefix}_<i>: parameter {name!r} must be a string, not a list")
    for name in PARAMETERS:
        env = "ARGOCD_ENV_KDRENDER_" + _env_name(name)
        if name not in params and env in environ:
            value = environ[env]
            params[name] = value.split(",") if name == "clusters" else value
    return params


def _namespace(value: str, where: str) -> str:
    from .k8s import dns1123_label

    reason = dns1123_label(value)
    if reason:
        shown = redact(value)  # before the cut, which could hide the '@'
        shown = shown if len(shown) <= 63 else shown[:60] + "..."
        raise ParameterError(f"{where} {shown!r} is not a valid namespace: it {reason}")
    return value


def _boolean(name: str, value) -> bool:
    text = str(value).strip().lower()
    if text in ("true", "1", "yes", "on"):
        return True
    if text in ("false", "0", "no", "off", ""):
        return False
    raise ParameterError(f"parameter {name!r} must be true or false, not {value!r}")


def options_from(environ) -> tuple[dict, str | None, list]:
    """(kdrender options, namespace override, cluster globs) for ``generate``."""
    params = read_parameters(environ)
    options: dict = {}
    for name, key in _BOOLEAN.items():
        if name in params:
            options[key] = _boolean(name, params[name])
    version = params.get("kubernetes-version") or environ.get("KUBE_VERSION")
    if version:
        from .config import parse_version

        if parse_version(str(version)) is None:
            raise ParameterError(f"Kubernetes version {version!r} is not like 1.29 or v1.29.3")
        options["kubernetesVersion"] = str(version)
    app_namespace = environ.get("ARGOCD_APP_NAMESPACE") or None
    if app_namespace:
        _namespace(app_namespace, "ARGOCD_APP_NAMESPACE")
    if params.get("namespace"):
        _namespace(params["namespace"], "the parameter namespace")
    namespace = params.get("namespace") or app_namespace
    clusters = params.get("clusters") or []
    if isinstance(clusters, str):
        clusters = [c for c in clusters.split(",") if c]
    return options, namespace, list(clusters)


def unserved(objects: list, api_versions: str | None) -> list[str]:
    """``apiVersion/Kind`` of rendered objects the target cluster does not serve, judged by
    ``KUBE_API_VERSIONS`` (Argo CD lists ``group/version`` and ``group/version/Kind``); none
    when the variable is unset."""
    if not api_versions:
        return []
    served = {v.strip() for v in api_versions.split(",") if v.strip()}
    missing = set()
    for obj in objects:
        gv, kind = obj["apiVersion"], obj["kind"]
        if f"{gv}/{kind}" in served:
            continue
        kinds = [v for v in served if v.startswith(gv + "/") and v.count("/") == gv.count("/") + 1]
        if gv in served and not kinds:
            continue  # only group/version entries are listed: the version is enough
        missing.add(f"{gv}/{kind}")
    return sorted(missing)


def find_root(start: str) -> str | None:
    """The nearest folder at or above ``start`` with a ``catalog/`` folder or a ``kdrender.yaml``."""
    path = os.path.abspath(start)
    while True:
        if os.path.isdir(os.path.join(path, "catalog")) or os.path.isfile(os.path.join(path, "kdrender.yaml")):
            return path
        parent = os.path.dirname(path)
        if parent == path:
            return None
        path = parent


def select_files(root: str, app_dir: str, globs: list) -> tuple[list | None, list]:
    """Repo-relative cluster files for the app path (None: the repo's whole clusters/ folder), and
    the problems of the folders searched (a symlinked or unreadable folder is not skipped silently).

    Every glob must match at least one file: a typo in one of two globs would otherwise drop that
    cluster from the output and Argo CD would prune it (:class:`SelectionError`)."""
    import fnmatch

    from .load import scan_files

    globs = [g for g in globs if not (isinstance(g, str) and not g.strip())]  # "a.yaml," or an empty UI row
    rel_dir = os.path.relpath(os.path.abspath(app_dir), root).replace(os.sep, "/")
    if rel_dir == ".":
        if not globs:
            return None, []
        # the whole repo is searched; a folder that cannot be walked leaves its glob unmatched
        candidates, problems = scan_files(root, ".", skip=("catalog", "golden"))[0], []
        base = ""
    else:
        (candidates, problems), base = scan_files(root, rel_dir), rel_dir + "/"
    candidates = sorted({c for c in candidates if not c.startswith(("catalog/", "golden/")) and c != "kdrender.yaml"})
    if not globs:
        return candidates, problems
    unmatched = [g for g in globs if not any(fnmatch.fnmatchcase(c[len(base):], g) for c in candidates)]
    if unmatched:
        where = f"below {rel_dir}/" if rel_dir != "." else "in the repo"
        raise SelectionError(f"the clusters parameter {'globs' if len(unmatched) > 1 else 'glob'} "
                             f"{', '.join(repr(g) for g in unmatched)} {'match' if len(unmatched) > 1 else 'matches'} "
                             f"no cluster file {where}; every glob must select at least one file (a cluster "
                             "that silently drops out of the output would be pruned)")
    chosen = [c for c in candidates if any(fnmatch.fnmatchcase(c[len(base):], g) for g in globs)]
    return chosen, problems
