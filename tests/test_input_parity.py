"""Issue 8, input parity: files KubeDirector accepts are accepted (and the ones it refuses are refused).

Apps as the CRD accepts them (unknown fields where it preserves them, nulls), quantities with
``n``/``u``, cluster files that hold other Kubernetes objects, and `generate`/`render` of one
cluster next to unrelated broken files.  Names (dotted, cut at 46) are in test_object_names.py.
"""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from click.testing import CliRunner

from conftest import APP_YAML, CLUSTER_YAML, edit
from kdrender.cli import main
from kdrender.k8s import parse_quantity


def cli(*args):
    result = CliRunner().invoke(main, [str(a) for a in args])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    assert "Traceback" not in result.output
    return result


# --- apps as KubeDirector's CRD accepts them --------------------------------------------------

# A catalog entry as KubeDirector 0.2/0.3 catalogs wrote them: extra fields where the CRD keeps
# unknown fields (spec, spec.label, spec.services[]) and explicit nulls.
OLD_CATALOG_APP = """\
apiVersion: kubedirector.hpe.com/v1beta1
kind: KubeDirectorApp
metadata:
  name: web
spec:
  label:
    name: Web server
    description: null
    icon: https://example.com/web.png
  distroID: test/web
  version: "1.0"
  configSchemaVersion: 7
  defaultImageRepoTag: docker.io/library/nginx:1.25
  defaultConfigPackage: null
  defaultPersistDirs: null
  logoURL: null
  qualifiers: [beta]
  tags: {tier: web}
  services:
  - id: http
    label: {name: HTTP}
    endpoint:
      port: 80
      urlScheme: http
      path: null
      isDashboard: true
    qualifiers: null
    exported_service: null
  - id: admin
    label: null
    endpoint: null
  roles:
  - id: controller
    cardinality: "1"
    containerSpec: null
    minResources: null
    minStorage: null
    persistDirs: null
  - id: worker
    cardinality: "0+"
    configPackage: null
  config:
    configMeta: null
    selectedRoles: [controller, worker]
    roleServices:
    - roleID: controller
      serviceIDs: [http, admin]
"""


def test_old_catalog_app_with_unknown_fields_and_nulls(kd):
    result = kd.run(OLD_CATALOG_APP)
    assert result.texts == []
    assert sorted(w.text() for w in result.model.warnings) == [
        "catalog/web.yaml:17:3: spec.qualifiers: unknown field 'qualifiers' (kept, but not used)",
        "catalog/web.yaml:18:3: spec.tags: unknown field 'tags' (kept, but not used)",
        "catalog/web.yaml:9:5: spec.label.icon: unknown field 'icon' (kept, but not used); known fields: "
        "description, name",
    ]
    assert all(w.level == "warning" for w in result.model.warnings)
    app = result.model.apps["web"].spec
    controller, worker = app["roles"]
    # null means absent: no containerSpec, minStorage, ...; the admin service has no port
    assert "containerSpec" not in controller and "minStorage" not in controller
    assert app["services"][1] == {"id": "admin"}
    assert "path" not in app["services"][0]["endpoint"]
    assert app["label"] == {"name": "Web server", "icon": "https://example.com/web.png"}
    # configPackage: null is a value (no setup package), as in KubeDirector's decoder
    assert worker["configPackage"] is None and controller["configPackage"] is None
    [cluster] = result.model.clusters
    assert cluster.name == "web1"


def test_old_catalog_app_renders(kd):
    root = kd.write({"catalog/web.yaml": OLD_CATALOG_APP, "clusters/web1.yaml": CLUSTER_YAML})
    result = cli("render", root / "clusters/web1.yaml", "--repo", root, "-o", "json")
    assert result.exit_code == 0, result.output
    assert "warning: catalog/web.yaml:17:3: spec.qualifiers: unknown field 'qualifiers'" in result.stderr
    objects = [json.loads(line) for line in result.stdout.splitlines()]
    assert "qualifiers" not in result.stdout and "icon" not in result.stdout
    assert {o["kind"] for o in objects} >= {"StatefulSet", "Service"}


@pytest.mark.parametrize("edits, expected", [
    # roles[] of the app CRD do not keep unknown fields
    ([('    cardinality: "1"\n', '    cardinality: "1"\n    qualifiers: [x]\n')],
     "catalog/web.yaml:21:5: spec.roles[0].qualifiers: unknown field 'qualifiers'"),
    ([("  configSchemaVersion: 7\n", "  configSchemaVersion: null\n")],
     "catalog/web.yaml:5:1: spec: missing required field 'configSchemaVersion'"),
    ([("      serviceIDs: [http]\n", "      serviceIDs: [http, null]\n")],
     "catalog/web.yaml:27:26: spec.config.roleServices[0].serviceIDs[1]: must be a string, not null"),
])
def test_app_fields_the_crd_does_not_keep_are_errors(kd, edits, expected):
    result = kd.run(edit(APP_YAML, *edits))
    assert [t for t in result.texts if t.startswith(expected)], result.texts
    assert all(p.level == "error" for p in result.problems)


def test_unknown_cluster_fields_stay_errors_and_nulls_are_absent(kd):
    cluster = edit(CLUSTER_YAML, ("  app: web\n", "  app: web\n  serviceType: null\n  connections: null\n"
                                                   "  extra: 1\n"))
    result = kd.run(cluster=cluster)
    [text] = result.texts
    assert text.startswith("clusters/web1.yaml:9:3: spec.extra: unknown field 'extra'; known fields: app, ")
    result = kd.run(cluster=edit(cluster, ("  extra: 1\n", "")))
    assert result.texts == []
    assert result.model.clusters[0].spec["serviceType"] == "LoadBalancer"


def test_conformance_catalogs_have_no_unknown_fields(conformance_model):
    for version in ("v1beta1", "v1alpha1"):
        model, problems = conformance_model(version)
        assert problems == [] and model.warnings == []


# --- quantities -------------------------------------------------------------------------------

@pytest.mark.parametrize("text, value", [("250000000n", Decimal("0.25")), ("1500u", Decimal("0.0015")),
                                         ("2", Decimal(2)), ("1e3", Decimal(1000))])
def test_quantity_suffixes(text, value):
    assert parse_quantity(text) == value


def test_nano_and_micro_quantities_render(kd):
    cluster = edit(CLUSTER_YAML, ('requests: {cpu: "1", memory: 1Gi}', 'requests: {cpu: 250000000n, memory: 1Gi}'))
    root = kd.write({"catalog/web.yaml": APP_YAML, "clusters/web1.yaml": cluster})
    result = cli("render", root / "clusters/web1.yaml", "--repo", root)
    assert result.exit_code == 0, result.output
    assert "cpu: 250000000n" in result.stdout
