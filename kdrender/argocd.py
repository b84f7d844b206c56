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
"""

from __future__ import annotations

import json
import os

PARAMETERS = ("clusters", "namespace", "allow-empty", "sync-waves", "instance-label", "kubernetes-version")
_BOOLEAN = {"allow-empty": "allowEmpty", "sync-waves": "syncWaves", "instance-label": "instanceLabel"}


class ParameterError(ValueError):
    pass


def _env_name(param: str) -> str:
    return param.upper().replace("-", "_")


def read_parameters(environ) -> dict:
    """Parameters by name: str for strings, list for arrays."""
    params: dict = {}
    raw = environ.get("ARGOCD_APP_PARAMETERS")
    if raw:
        try:
            entries = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise ParameterError(f"ARGOCD_APP_PARAMETERS is not JSON: {exc.msg}") from None
        for entry in entries if isinstance(entries, list) else []:
            name = entry.get("name") if isinstance(entry, dict) else None
            if name in PARAMETERS:
                for key in ("string", "array", "map"):
                    if key in entry:
                        params[name] = entry[key]
                        break
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
    for name in PARAMETERS:
        env = "ARGOCD_ENV_KDRENDER_" + _env_name(name)
        if name not in params and env in environ:
            value = environ[env]
            params[name] = value.split(",") if name == "clusters" else value
    return params


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
    namespace = params.get("namespace") or environ.get("ARGOCD_APP_NAMESPACE") or None
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


def select_files(root: str, app_dir: str, globs: list) -> list | None:
    """Repo-relative cluster files for the app path (None: the repo's whole clusters/ folder)."""
    import fnmatch

    from .load import find_files

    rel_dir = os.path.relpath(os.path.abspath(app_dir), root).replace(os.sep, "/")
    if rel_dir == ".":
        if not globs:
            return None
        # (golden/ and catalog/ are left out below anyway: not walking them keeps this flat in big repos)
        candidates, base = find_files(root, "clusters") + find_files(root, ".", skip=("catalog", "golden")), ""
    else:
        candidates, base = find_files(root, rel_dir), rel_dir + "/"
    candidates = sorted({c for c in candidates if not c.startswith(("catalog/", "golden/")) and c != "kdrender.yaml"})
    if not globs:
        return candidates
    chosen = [c for c in candidates if any(fnmatch.fnmatchcase(c[len(base):], g) for g in globs)]
    return chosen
