"""Stage 1b, normalize: turn every accepted API version into the v1beta1 shape.

``kubedirector.hpe.com/v1beta1`` documents pass through unchanged.  The 2018
``kubedirector.bluedata.io/v1alpha1`` form (and the snake_case spellings used between
2018 and 2019) is rewritten into v1beta1 field names, keeping field positions so that
problems still point at the line the user wrote.  Service ids of that era were free text
(``spark_master``, ``jupyter-notebook``); they are kept as written, because the app's setup
scripts look them up in configmeta by that id.  Container and Service port names are derived
from them at render time (see ``render.names.port_name``).
"""

from __future__ import annotations

import copy

from .load import Document

V1BETA1 = "kubedirector.hpe.com/v1beta1"
V1ALPHA1 = "kubedirector.bluedata.io/v1alpha1"
API_VERSIONS = (V1BETA1, V1ALPHA1)

# spec-level renames of KubeDirectorApp fields (old snake_case -> v1beta1)
_APP_SPEC = {
    "distro_id": "distroID",
    "config_schema_version": "configSchemaVersion",
    "schema_version": "configSchemaVersion",
    "image_repo_tag": "defaultImageRepoTag",
    "default_image_repo_tag": "defaultImageRepoTag",
    "persist_dirs": "defaultPersistDirs",
    "default_persist_dirs": "defaultPersistDirs",
    "default_event_list": "defaultEventList",
    "default_max_log_size_dump": "defaultMaxLogSizeDump",
    "systemctlMounts": "systemdRequired",
    "systemd_required": "systemdRequired",
    "logo_url": "logoURL",
    "config_package": "defaultConfigPackage",
    "default_config_package": "defaultConfigPackage",
    "setup_package": "defaultConfigPackage",
}
_CONFIG = {
    "role_services": "roleServices",
    "node_services": "roleServices",
    "selected_roles": "selectedRoles",
    "config_meta": "configMeta",
}
_ROLE_SERVICE = {"role_id": "roleID", "service_ids": "serviceIDs", "node_id": "roleID"}
_ENDPOINT = {"url_scheme": "urlScheme", "is_dashboard": "isDashboard", "has_auth_token": "hasAuthToken"}
_ROLE = {
    "image_repo_tag": "imageRepoTag",
    "setup_package": "configPackage",
    "config_package": "configPackage",
    "persist_dirs": "persistDirs",
    "event_list": "eventList",
    "min_resources": "minResources",
    "min_storage": "minStorage",
    "max_log_size_dump": "maxLogSizeDump",
    "container_spec": "containerSpec",
}
_PACKAGE = {"import_url": "packageURL", "package_url": "packageURL", "use_new_setup_layout": "useNewSetupLayout"}


class _Mover:
    def __init__(self, doc: Document):
        self.doc = doc

    def get(self, path):
        node = self.doc.data
        for part in path:
            if not isinstance(node, (dict, list)) or (isinstance(node, dict) and part not in node):
                return None
            node = node[part]
        return node

    def move(self, src: tuple, dst: tuple) -> None:
        """Move the value at ``src`` to ``dst`` (unless ``dst`` already exists), with its positions."""
        parent = self.get(src[:-1])
        target = self.get(dst[:-1])
        value = parent.pop(src[-1])
        if dst[-1] in target:
            return
        target[dst[-1]] = value
        n = len(src)
        for key in [k for k in self.doc.positions if k[:n] == src]:
            self.doc.positions[dst + key[n:]] = self.doc.positions.pop(key)

    def rename_keys(self, path: tuple, table: dict) -> None:
        node = self.get(path)
        if isinstance(node, dict):
            for old in [k for k in node if k in table]:
                self.move(path + (old,), path + (table[old],))


def _normalize_package(m: _Mover, path: tuple, spec_path: tuple) -> None:
    pkg = m.get(path)
    if not isinstance(pkg, dict):
        return
    if "config_api_version" in pkg:
        spec = m.get(spec_path)
        if "configSchemaVersion" not in spec:
            m.move(path + ("config_api_version",), spec_path + ("configSchemaVersion",))
        else:
            pkg.pop("config_api_version")
    m.rename_keys(path, _PACKAGE)


def _normalize_image(m: _Mover, owner: tuple, target_key: str) -> None:
    node = m.get(owner)
    image = node.get("image")
    if isinstance(image, dict) and "repoTag" in image:
        m.move(owner + ("image", "repoTag"), owner + (target_key,))
        if not image:
            node.pop("image")


def normalize_app(doc: Document) -> Document:
    """Rewrite a v1alpha1 KubeDirectorApp into the v1beta1 shape (a new Document)."""
    if doc.api_version != V1ALPHA1 or not isinstance(doc.data.get("spec"), dict):
        return doc
    doc = Document(doc.file, doc.index, copy.deepcopy(doc.data), dict(doc.positions), doc.digest)
    m = _Mover(doc)
    spec = ("spec",)
    m.rename_keys(spec, _APP_SPEC)
    _normalize_image(m, spec, "defaultImageRepoTag")
    _normalize_package(m, spec + ("defaultConfigPackage",), spec)
    data = doc.data["spec"]
    if isinstance(data.get("config"), dict):
        m.rename_keys(spec + ("config",), _CONFIG)
        for i, rs in enumerate(data["config"].get("roleServices") or []):
            if isinstance(rs, dict):
                m.rename_keys(spec + ("config", "roleServices", i), _ROLE_SERVICE)
    for i, svc in enumerate(data.get("services") or []):
        if isinstance(svc, dict):
            if isinstance(svc.get("endpoint"), dict):
                m.rename_keys(spec + ("services", i, "endpoint"), _ENDPOINT)
    for i, role in enumerate(data.get("roles") or []):
        if isinstance(role, dict):
            rpath = spec + ("roles", i)
            m.rename_keys(rpath, _ROLE)
            _normalize_image(m, rpath, "imageRepoTag")
            _normalize_package(m, rpath + ("configPackage",), spec)
    doc.data["apiVersion"] = V1BETA1
    return doc


def normalize_cluster(doc: Document) -> Document:
    """v1alpha1 clusters already use v1beta1 field names; only the API version changes."""
    if doc.api_version != V1ALPHA1:
        return doc
    data = dict(doc.data)
    data["apiVersion"] = V1BETA1
    return doc.with_data(data)


def normalize_config(doc: Document) -> Document:
    return normalize_cluster(doc)
