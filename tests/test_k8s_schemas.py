"""Every rendered object validates against the Kubernetes OpenAPI schemas (strict: unknown fields fail)
of 1.29 (kdrender's default target) and of the newest version kubernetes-validate ships.

kubernetes_validate.validate() re-reads and re-parses the 1 MB definitions file on every call,
so the schemas are loaded once per version here and one jsonschema validator per (version, kind)
is reused.  The newest version is read from the package, never written down.
Schemas cannot see what the API server checks in code, so names, label values and port names
are checked separately.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from pathlib import Path

import pytest

from render_helpers import (
    PROJECT, conformance_params, conformance_repo, is_dns1035_label, is_dns1123_label, is_iana_svc_name,
    is_label_value, project_repo, render,
)

kubernetes_validate = pytest.importorskip("kubernetes_validate")

import jsonschema  # noqa: E402  (after the importorskip)
from referencing import Registry, Resource  # noqa: E402

OLDEST = "1.29"
_VERSION_DIR = re.compile(r"^v(\d+)\.(\d+)\.(\d+)-local-strict$")


def schema_root() -> Path:
    import importlib.resources

    return Path(str(importlib.resources.files("kubernetes_validate") / "kubernetes-json-schema"))


def shipped_versions(root: Path | None = None) -> list[str]:
    """major.minor of every strict schema set in the package, oldest first."""
    root = schema_root() if root is None else root
    found = set()
    for entry in root.iterdir():
        m = _VERSION_DIR.match(entry.name)
        if m and entry.is_dir():
            found.add((int(m.group(1)), int(m.group(2))))
    return [f"{a}.{b}" for a, b in sorted(found)]


def newest_version(root: Path | None = None) -> str:
    return shipped_versions(root)[-1]


class K8sValidator:
    """Strict schemas of one Kubernetes version, loaded once; one jsonschema validator per kind."""

    def __init__(self, version: str):
        self.version = version
        dirs = [d for d in schema_root().iterdir() if _VERSION_DIR.match(d.name)
                and ".".join(_VERSION_DIR.match(d.name).group(1, 2)) == version]
        assert len(dirs) == 1, f"no strict schemas for {version}"
        self.dir = dirs[0]
        definitions = json.loads((self.dir / "_definitions.json").read_text())
        self.registry = Resource.from_contents(definitions) @ Registry()
        self.validators: dict = {}

    def validator(self, api_version: str, kind: str):
        key = (api_version, kind)
        if key not in self.validators:
            # the file naming of kubernetes-validate: apps/v1 -> apps-v1, v1 -> v1
            group_version = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)
            path = self.dir / f"{kind.lower()}-{group_version}.json"
            assert path.is_file(), f"no schema for {kind} {api_version} in {self.version}"
            schema = json.loads(path.read_text())
            self.validators[key] = jsonschema.Draft202012Validator(schema, registry=self.registry)
        return self.validators[key]

    def errors(self, obj: dict) -> list[str]:
        validator = self.validator(obj["apiVersion"], obj["kind"])
        return [f"{'.'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}"
                for e in validator.iter_errors(obj)]


@lru_cache(maxsize=None)
def validator_for(version: str) -> K8sValidator:
    return K8sValidator(version)


@pytest.fixture(scope="module", params=[OLDEST, "newest"])
def k8s(request) -> K8sValidator:
    version = newest_version() if request.param == "newest" else request.param
    return validator_for(version)


def api_server_problems(obj: dict) -> list[str]:
    """What the API server checks beyond the schema: names, label values, port names."""
    problems = []
    meta = obj["metadata"]
    name = meta["name"]
    if obj["kind"] == "Service" and not is_dns1035_label(name):
        problems.append(f"Service name {name!r} is not a DNS-1035 label")
    if obj["kind"] == "StatefulSet" and not is_dns1123_label(name):
        problems.append(f"StatefulSet name {name!r} is not a DNS-1123 label")
    if not is_dns1123_label(meta["namespace"]):
        problems.append(f"namespace {meta['namespace']!r}")
    label_maps = [meta.get("labels") or {}]
    if obj["kind"] == "StatefulSet":
        spec = obj["spec"]
        label_maps += [spec["template"]["metadata"].get("labels") or {}, spec["selector"]["matchLabels"]]
        selector = spec["selector"]["matchLabels"]
        if not selector.items() <= spec["template"]["metadata"]["labels"].items():
            problems.append("selector does not match the pod template labels")
        for claim in spec.get("volumeClaimTemplates", []):
            if not is_dns1123_label(claim["metadata"]["name"]):
                problems.append(f"claim template {claim['metadata']['name']!r}")
        pod = spec["template"]["spec"]
        volume_names = [v["name"] for v in pod.get("volumes", [])]
        if len(set(volume_names)) != len(volume_names):
            problems.append("duplicate volume names")
        claims = {c["metadata"]["name"] for c in spec.get("volumeClaimTemplates", [])}
        for container in pod.get("initContainers", []) + pod["containers"]:
            for mount in container.get("volumeMounts", []):
                if mount["name"] not in volume_names and mount["name"] not in claims:
                    problems.append(f"mount of unknown volume {mount['name']!r}")
            paths = [m["mountPath"] for m in container.get("volumeMounts", [])]
            if len(set(paths)) != len(paths):
                problems.append(f"container {container['name']}: duplicate mountPath")
            port_names = [p["name"] for p in container.get("ports", [])]
            for port_name in port_names:
                if not is_iana_svc_name(port_name):
                    problems.append(f"container port name {port_name!r} is not an IANA service name")
            if len(set(port_names)) != len(port_names):
                problems.append("duplicate container port names")
    if obj["kind"] == "Service":
        label_maps.append(obj["spec"].get("selector") or {})
        names = [p.get("name") for p in obj["spec"]["ports"]]
        if len(names) > 1 and not all(n and is_dns1123_label(n) for n in names):
            problems.append(f"Service port names {names} must be DNS labels")
        if len(set(names)) != len(names):
            problems.append("duplicate Service port names")
    if obj["kind"] == "ConfigMap":
        if not re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*", name) or len(name) > 253:
            problems.append(f"ConfigMap name {name!r} is not a DNS-1123 subdomain")
        for key in obj.get("data", {}):
            if not re.fullmatch(r"[-._a-zA-Z0-9]+", key) or len(key) > 253 or key in (".", ".."):
                problems.append(f"ConfigMap key {key!r} is invalid")
        if len(json.dumps(obj.get("data", {})).encode()) > 1024 * 1024:
            problems.append("ConfigMap data above 1 MiB")
    for labels in label_maps:
        for key, value in labels.items():
            if not is_label_value(value):
                problems.append(f"label {key}={value!r}: invalid value")
            if len(key.rsplit("/", 1)[-1]) > 63:
                problems.append(f"label key {key!r} too long")
    return problems


# ---------------------------------------------------------------------------------------------
# the objects: every conformance cluster (some with kdrender.yaml variants) and the repo's own clusters

CONFIGS = {
    "defaults": None,
    "uid-nodeport-class": "defaultNamingScheme: UID\ndefaultServiceType: NodePort\ndefaultStorageClassName: standard\n",
}


@pytest.fixture(scope="module")
def conformance_objects(tmp_path_factory):
    cache = {}

    def get(version, name, config):
        key = (version, name, config)
        if key not in cache:
            root = conformance_repo(tmp_path_factory.mktemp("schemas"), version, name, CONFIGS[config])
            cache[key] = [o for _, _, objs in render(root) for o in objs]
        return cache[key]

    return get


@pytest.mark.parametrize("config", list(CONFIGS))
@pytest.mark.parametrize("version,name", conformance_params())
def test_conformance_objects_validate(conformance_objects, k8s, version, name, config):
    objects = conformance_objects(version, name, config)
    assert objects
    for obj in objects:
        assert k8s.errors(obj) == [], (k8s.version, obj["kind"], obj["metadata"]["name"])
        assert api_server_problems(obj) == [], (obj["kind"], obj["metadata"]["name"])


@pytest.fixture(scope="module")
def project_objects(tmp_path_factory):
    if not (PROJECT / "clusters").is_dir():
        pytest.skip("the project has no clusters/")
    root = project_repo(tmp_path_factory.mktemp("project"))
    return [o for _, _, objs in render(root) for o in objs]


def test_project_objects_validate(project_objects, k8s):
    assert project_objects
    for obj in project_objects:
        assert k8s.errors(obj) == [], (k8s.version, obj["kind"], obj["metadata"]["name"])
        assert api_server_problems(obj) == [], (obj["kind"], obj["metadata"]["name"])


# ---------------------------------------------------------------------------------------------
# the validator itself

def test_newest_version_is_discovered_from_the_package(tmp_path):
    """The newest version comes from the package's schema folders, not from a constant."""
    versions = shipped_versions()
    assert OLDEST in versions
    newest = newest_version()
    assert newest == versions[-1]
    assert newest == ".".join(kubernetes_validate.latest_version().split(".")[:2])
    assert tuple(map(int, newest.split("."))) >= (1, 29)
    # the same function on another folder gives another answer: nothing is hard-coded
    for name in ("v1.29.0-local-strict", "v1.105.0-local-strict", "v1.99.0-local-strict", "v1.200.0-local",
                 "README"):
        (tmp_path / name).mkdir()
    assert newest_version(tmp_path) == "1.105"  # numeric order; non-strict sets are ignored


def test_one_validator_per_version_is_reused():
    a = validator_for(OLDEST)
    assert validator_for(OLDEST) is a
    v1 = a.validator("v1", "Service")
    assert a.validator("v1", "Service") is v1


def test_strict_mode_rejects_unknown_and_wrong_fields(k8s):
    """The validator really is strict: an unknown field, or a wrong type, is an error."""
    service = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s", "namespace": "n"},
               "spec": {"ports": [{"port": 80}], "selector": {"a": "b"}}}
    assert k8s.errors(service) == []
    unknown = json.loads(json.dumps(service))
    unknown["spec"]["ports"][0]["bogus"] = 1
    assert k8s.errors(unknown)
    wrong = json.loads(json.dumps(service))
    wrong["spec"]["ports"][0]["port"] = "eighty"
    assert k8s.errors(wrong)
    sts = {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": {"name": "s"},
           "spec": {"selector": {}, "serviceName": "x", "template": {"spec": {"containers": [{"name": "a", "imageX": 1}]}}}}
    assert k8s.errors(sts)


def test_role_extras_validate(tmp_path, k8s):
    """secret, volume projections, shared memory, block devices, service account, affinity, env, labels."""
    from render_helpers import APP_WITH_SYSTEMD, CLUSTER_WITH_EXTRAS, write_repo

    cluster = CLUSTER_WITH_EXTRAS.replace("    serviceAccountName: db-sa\n", """\
    serviceAccountName: db-sa
    env:
    - {name: MODE, value: primary}
    podLabels: {team: data}
    podAnnotations: {note: "x"}
    serviceLabels: {exposed: "yes"}
    affinity:
      podAntiAffinity:
        requiredDuringSchedulingIgnoredDuringExecution:
        - labelSelector:
            matchLabels: {kubedirector.hpe.com/role: db}
          topologyKey: kubernetes.io/hostname
""").replace("    members: 1\n", "    members: 3\n")
    root = write_repo(tmp_path, {"catalog/app.yaml": APP_WITH_SYSTEMD, "clusters/c.yaml": cluster,
                                 "kdrender.yaml": "defaultServiceType: NodePort\n"})
    objects = [o for _, _, objs in render(root) for o in objs]
    sts = [o for o in objects if o["kind"] == "StatefulSet"][0]
    pod = sts["spec"]["template"]["spec"]
    assert pod["affinity"]["podAntiAffinity"] and pod["containers"][0]["env"][0] == {"name": "MODE", "value": "primary"}
    assert len(sts["spec"]["volumeClaimTemplates"]) == 3
    for obj in objects:
        assert k8s.errors(obj) == [], (k8s.version, obj["kind"], obj["metadata"]["name"])
        assert api_server_problems(obj) == [], (obj["kind"], obj["metadata"]["name"])


@pytest.mark.parametrize("name", ["ubuntu18.04", "a-long-cluster-name-that-kubedirector-cuts-to-46-characters",
                                  "x" * 45 + ".v2", "9lives"])
def test_derived_names_and_extra_objects_validate(tmp_path, k8s, name):
    """Dotted, cut and digit-led cluster names, and other objects kept in the cluster file (issue 8)."""
    from render_helpers import APP_WITH_SYSTEMD, CLUSTER_WITH_EXTRAS, write_repo

    extras = ("---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings}\ndata: {mode: x}\n"
              "---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: allow}\n"
              "spec: {podSelector: {}, policyTypes: [Ingress]}\n")
    cluster = CLUSTER_WITH_EXTRAS.replace("  name: extras\n", f"  name: {name}\n") + extras
    root = write_repo(tmp_path, {"catalog/app.yaml": APP_WITH_SYSTEMD, "clusters/c.yaml": cluster})
    objects = [o for _, _, objs in render(root) for o in objs]
    assert {"ConfigMap", "NetworkPolicy", "StatefulSet", "Service"} <= {o["kind"] for o in objects}
    for obj in objects:
        assert k8s.errors(obj) == [], (k8s.version, obj["kind"], obj["metadata"]["name"])
        assert api_server_problems(obj) == [], (obj["kind"], obj["metadata"]["name"])
