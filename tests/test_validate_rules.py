"""Schema checks and the semantic rules (KubeDirector's admission rules, spec section 4, and kdrender's own).

Every failing case checks the whole message line: file, line, column, field path and text.
"""

from __future__ import annotations

import re

import pytest

from kdrender.rules import RULES, targets

CONTROLLER = '    cardinality: "1"\n'  # the controller role of the app (line 20)
WORKER = '    cardinality: "0+"\n'  # the worker role of the app (line 22)
C_ROLE = "  - id: controller\n"  # the controller role of the cluster (line 8)
C_SPEC = "  app: web\n"  # the last line before spec.roles in the cluster (line 6)
C_END = '    members: 2\n    resources:\n      limits: {cpu: "1", memory: 1Gi}\n'  # the worker role, the file's end


def after(anchor: str, lines: str) -> tuple[str, str]:
    """An edit inserting ``lines`` after the line ``anchor``."""
    return anchor, anchor + lines


def last_key(path: str) -> str | None:
    """The last mapping key of a formatted field path (None when it ends with a list index)."""
    match = re.search(r'\["([^"]+)"\]$|(?:^|\.)([A-Za-z0-9_-]+)$', path)
    return (match.group(1) or match.group(2)) if match else None


def test_last_key():
    assert last_key('spec.roles[0].podLabels["a/b"]') == "a/b"
    assert last_key("spec.roles[0].members") == "members"
    assert last_key("spec.roles[0]") is None


def test_base_repo_is_clean(kd):
    result = kd.run()
    assert result.problems == []
    assert list(result.model.apps) == ["web"]
    assert [c.name for c in result.model.clusters] == ["web1"]
    assert result.model.warnings == [] and result.model.notices == []


def test_every_rule_has_an_id_target_and_doc():
    ids = [rule.ID for rule in RULES]
    assert len(ids) == len(set(ids))
    for rule in RULES:
        assert set(targets(rule)) <= {"app", "cluster", "config", "extra"} or targets(rule) in (("repo",), ("deploy",))
        assert (rule.__doc__ or "").startswith(rule.ID + ":")


# --- KubeDirectorApp rules (spec 4.2) --------------------------------------------------------

APP_FAILS = [
    ("unique-ids", [("  - id: worker\n", "  - id: controller\n")],
     'catalog/web.yaml:21:5: spec.roles[1].id: Each id in the roles array must be unique.'),
    ("unique-ids", [after("      isDashboard: true\n", "  - id: http\n    endpoint: {port: 81}\n")],
     'catalog/web.yaml:18:5: spec.services[1].id: Each id in the services array must be unique.'),
    ("config-refs", [("selectedRoles: [controller, worker]", "selectedRoles: [controller, worker, worker]")],
     'catalog/web.yaml:24:41: spec.config.selectedRoles[2]: '
     'Each element of selectedRoles array in config section must be unique.'),
    ("config-refs", [("selectedRoles: [controller, worker]", "selectedRoles: [controller, workers]")],
     'catalog/web.yaml:24:33: spec.config.selectedRoles[1]: '
     'Invalid element(workers) in selectedRoles array in config section. Valid roles: "controller,worker"'),
    ("config-refs", [("- roleID: controller", "- roleID: boss")],
     'catalog/web.yaml:26:7: spec.config.roleServices[0].roleID: '
     'Invalid roleID(boss) in roleServices array in config section. Valid roles: "controller,worker"'),
    ("config-refs", [("serviceIDs: [http]", "serviceIDs: [https]")],
     'catalog/web.yaml:27:20: spec.config.roleServices[0].serviceIDs[0]: '
     'Invalid service_id(https) in roleServices array in config section. Valid services: "http"'),
    ("config-refs", [after("      serviceIDs: [http]\n", "    - roleID: controller\n      serviceIDs: []\n")],
     'catalog/web.yaml:28:7: spec.config.roleServices[1].roleID: '
     'Each roleID in roleServices array in config section must be unique.'),
    ("role-image", [("  defaultImageRepoTag: docker.io/library/nginx:1.25\n", "")],
     'catalog/web.yaml:18:5: spec.roles[0]: '
     'Role(controller) has no specified image, and no top-level default image is specified.'),
    ("app-quantities", [after(WORKER, "    minResources: {cpu: 1e5000}\n")],
     "catalog/web.yaml:23:20: spec.roles[1].minResources.cpu: '1e5000' is more than Kubernetes can count: the most is 9223372036854775807m "
     "(2^63-1 millicores)"),
    ("app-quantities", [after(WORKER, "    minStorage: {size: 8Ei}\n")],
     "catalog/web.yaml:23:18: spec.roles[1].minStorage.size: '8Ei' is more than Kubernetes can count: the most is 9223372036854775807 (2^63-1 bytes)"),
    ("min-storage-size", [after(WORKER, "    minStorage: {size: lots}\n")],
     'catalog/web.yaml:23:18: spec.roles[1].minStorage.size: Minimum storage size for role (worker) is incorrectly defined.'),
    ("tty-stdin", [after(CONTROLLER, "    containerSpec: {tty: true}\n")],
     'catalog/web.yaml:21:21: spec.roles[0].containerSpec.tty: Role(controller) requested TTY without STDIN.'),
    ("dashboard-scheme", [("      urlScheme: http\n", "")],
     'catalog/web.yaml:14:5: spec.services[0].endpoint: '
     'The endpoint for service(http) must include a urlScheme value because isDashboard is true.'),
]


@pytest.mark.parametrize("rule, edits, expected", APP_FAILS, ids=[f"{c[0]}-{i}" for i, c in enumerate(APP_FAILS)])
def test_app_rule_fails(kd, rule, edits, expected):
    result = kd.run(kd.edit(kd.APP, *edits))
    assert expected in result.texts
    problem = result.texts.index(expected)
    assert result.problems[problem].rule == rule
    assert result.problems[problem].level == "error"
    # a broken app is not in the model, and its cluster is not reported a second time
    assert result.model.apps == {}
    assert result.model.clusters == []
    assert all(p.file == "catalog/web.yaml" for p in result.problems)


def test_role_image_reports_every_role_without_image(kd):
    result = kd.run(kd.edit(kd.APP, ("  defaultImageRepoTag: docker.io/library/nginx:1.25\n", "")))
    assert [p.path for p in result.problems] == ["spec.roles[0]", "spec.roles[1]"]
    assert "Role(worker) has no specified image" in result.texts[1]


APP_PASSES = [
    ("unique-ids", []),
    ("config-refs", [("selectedRoles: [controller, worker]", "selectedRoles: [controller]"),
                     after("      serviceIDs: [http]\n", "    - roleID: worker\n      serviceIDs: []\n")]),
    ("role-image", [("  defaultImageRepoTag: docker.io/library/nginx:1.25\n", ""),
                    after(CONTROLLER, "    imageRepoTag: docker.io/library/nginx:1.25\n"),
                    after(WORKER, "    imageRepoTag: docker.io/library/busybox:1\n")]),
    ("min-storage-size", [after(WORKER, "    minStorage: {size: 10Gi, ephemeralModeSupported: true}\n")]),
    ("tty-stdin", [after(CONTROLLER, "    containerSpec: {tty: true, stdin: true}\n")]),
    ("dashboard-scheme", [("      urlScheme: http\n      isDashboard: true\n", "      isDashboard: false\n")]),
]


@pytest.mark.parametrize("rule, edits", APP_PASSES, ids=[c[0] for c in APP_PASSES])
def test_app_rule_passes(kd, rule, edits):
    result = kd.run(kd.edit(kd.APP, *edits))
    assert result.texts == []
    assert "web" in result.model.apps and len(result.model.clusters) == 1


# --- KubeDirectorCluster rules (spec 4.3 and kdrender's own) ---------------------------------

SECRET = "{name: creds, mountPath: /etc/creds}"
CLUSTER_FAILS = [
    ("cluster-name", [("  name: web1\n", "  name: Web_1\n")], None,
     "clusters/web1.yaml:4:3: metadata.name: cluster name 'Web_1' must consist of lower case alphanumeric "
     "characters, '-' or '.', and start and end with an alphanumeric character"),
    ("cluster-name", [("  name: web1\n", "  name: ubuntu18..04\n")], None,
     "clusters/web1.yaml:4:3: metadata.name: cluster name 'ubuntu18..04' must consist of lower case alphanumeric "
     "characters, '-' or '.', and start and end with an alphanumeric character"),
    ("cluster-name", [after("  name: web1\n", "  namespace: Team_A\n")], None,
     "clusters/web1.yaml:5:3: metadata.namespace: namespace 'Team_A' must consist of lower case alphanumeric "
     "characters or '-', and start and end with an alphanumeric character"),
    ("app-exists", [("  app: web\n", "  app: webb\n")], None,
     "clusters/web1.yaml:6:3: spec.app: Invalid app(webb). This app resource ID has not been registered. "
     "(no KubeDirectorApp named 'webb' in catalog/)"),
    ("roles", [("  - id: worker\n", "  - id: workr\n")], None,
     'clusters/web1.yaml:12:5: spec.roles[1].id: Invalid role(workr) in app(web) specified. Valid roles: "controller,worker"'),
    ("roles", [("  - id: worker\n    members: 2\n", "  - id: controller\n    members: 1\n")], None,
     "clusters/web1.yaml:12:5: spec.roles[1].id: Each id in the roles array must be unique."),
    ("roles", [(C_ROLE + "    resources:\n      requests: {cpu: \"1\", memory: 1Gi}\n"
                "      limits: {cpu: \"1\", memory: 1Gi}\n", "")], None,
     "clusters/web1.yaml:7:3: spec.roles: Active role(controller) in app(web) must have its configuration "
     "included in the roles array."),
    ("cardinality", [after(C_ROLE, "    members: 0\n")], None,
     'clusters/web1.yaml:9:5: spec.roles[0].members: 0 is below the minimum 1 of role "controller" (cardinality "1")'),
    ("labels", [after(C_ROLE, '    podLabels: {"bad key": ok}\n')], None,
     'clusters/web1.yaml:9:17: spec.roles[0].podLabels["bad key"]: label key \'bad key\' is invalid: name part must '
     "consist of alphanumeric characters, '-', '_' or '.', and start and end with an alphanumeric character"),
    ("labels", [after(C_ROLE, '    serviceLabels: {tier: "-x"}\n')], None,
     "clusters/web1.yaml:9:21: spec.roles[0].serviceLabels.tier: label value '-x' is invalid: must be empty or "
     "consist of alphanumeric characters, '-', '_' or '.', and start and end with an alphanumeric character"),
    ("labels", [after(C_ROLE, "    podLabels: {kubedirector.hpe.com/role: x}\n")], None,
     'clusters/web1.yaml:9:17: spec.roles[0].podLabels["kubedirector.hpe.com/role"]: pod label '
     "'kubedirector.hpe.com/role' is set by kdrender and used in selectors; it cannot be overridden"),
    ("labels", [after(C_ROLE, "    serviceAnnotations: {a/b/c: x}\n")], None,
     'clusters/web1.yaml:9:26: spec.roles[0].serviceAnnotations["a/b/c"]: annotation key \'a/b/c\' is invalid: '
     "may contain at most one '/'"),
    ("labels", [after(C_ROLE, "    podLabels: {Example.COM/owner: x}\n")], None,
     'clusters/web1.yaml:9:17: spec.roles[0].podLabels["Example.COM/owner"]: label key \'Example.COM/owner\' is '
     "invalid: prefix 'Example.COM' must be a DNS-1123 subdomain"),
    ("labels", [after(C_ROLE, "    podAnnotations: {/x: y}\n")], None,
     'clusters/web1.yaml:9:22: spec.roles[0].podAnnotations["/x"]: annotation key \'/x\' is invalid: '
     "prefix part must not be empty"),
    ("quantities", [('requests: {cpu: "1"', 'requests: {cpu: "2"')], None,
     "clusters/web1.yaml:10:18: spec.roles[0].resources.requests.cpu: request 2 must be less than or equal "
     "to the cpu limit 1"),
    ("quantities", [('requests: {cpu: "1"', 'requests: {cpu: "-1"')], None,
     "clusters/web1.yaml:10:18: spec.roles[0].resources.requests.cpu: '-1' must not be negative"),
    ("quantities", [('requests: {cpu: "1"', 'requests: {cpu: "1e999999999"')], None,
     "clusters/web1.yaml:10:18: spec.roles[0].resources.requests.cpu: '1e999999999' is more than Kubernetes can count: the most is "
     "9223372036854775807m (2^63-1 millicores)"),
    ("quantities", [('limits: {cpu: "1", memory: 1Gi}\n  - id: worker', 'limits: {cpu: "1", memory: 8Ei}\n  - id: worker'),
                    ("requests: {cpu: \"1\", memory: 1Gi}", "requests: {cpu: \"1\"}")], None,
     "clusters/web1.yaml:11:26: spec.roles[0].resources.limits.memory: '8Ei' is more than Kubernetes can count: the most is 9223372036854775807 "
     "(2^63-1 bytes)"),
    ("quantities", [('requests: {cpu: "1"', 'requests: {nvidia.com/gpu: "0.5", cpu: "1"'),
                    ('limits: {cpu: "1", memory: 1Gi}\n  - id: worker', 'limits: {cpu: "1", memory: 1Gi, nvidia.com/gpu: 1}\n  - id: worker')], None,
     'clusters/web1.yaml:10:18: spec.roles[0].resources.requests["nvidia.com/gpu"]: \'0.5\' must be a whole number: '
     "Kubernetes counts nvidia.com/gpu in whole units"),
    ("quantities", [('requests: {cpu: "1"', 'requests: {nvidia.com/gpu: 1, cpu: "1"')], None,
     'clusters/web1.yaml:10:18: spec.roles[0].resources.requests["nvidia.com/gpu"]: nvidia.com/gpu needs a limit '
     "too: Kubernetes does not overcommit it"),
    ("quantities", [('requests: {cpu: "1"', 'requests: {nvidia.com/gpu: 1, cpu: "1"'),
                    ('limits: {cpu: "1", memory: 1Gi}\n  - id: worker', 'limits: {cpu: "1", memory: 1Gi, nvidia.com/gpu: 2}\n  - id: worker')], None,
     'clusters/web1.yaml:10:18: spec.roles[0].resources.requests["nvidia.com/gpu"]: request 1 must equal the '
     "nvidia.com/gpu limit 2 (Kubernetes does not overcommit it)"),
    ("quantities", [('    members: 2\n    resources:\n      limits: {cpu: "1", memory: 1Gi}',
                     '    members: 2\n    resources:\n      limits: {cpu: "1", memory: 1Gi, ephemeral-storage: 0.5}')], None,
     "clusters/web1.yaml:15:39: spec.roles[1].resources.limits.ephemeral-storage: '0.5' is not a whole number of "
     "bytes (the API server calls it invalid)"),
    ("storage", [after(C_ROLE, "    storage: {size: 1500m}\n")], None,
     "clusters/web1.yaml:9:15: spec.roles[0].storage.size: '1500m' is not a whole number of bytes (the API server "
     "calls it invalid)"),
    ("storage", [after(C_ROLE, "    storage: {size: 9Ei}\n")], None,
     "clusters/web1.yaml:9:15: spec.roles[0].storage.size: '9Ei' is more than Kubernetes can count: the most is 9223372036854775807 (2^63-1 bytes)"),
    ("shared-memory", [after(C_ROLE, "    sharedMemory: 10000P\n")], None,
     "clusters/web1.yaml:9:5: spec.roles[0].sharedMemory: '10000P' is more than Kubernetes can count: the most is 9223372036854775807 (2^63-1 bytes)"),
    ("storage", [after(C_ROLE, "    storage: {size: lots}\n")], None,
     "clusters/web1.yaml:9:15: spec.roles[0].storage.size: Storage size for role (controller) is incorrectly defined."),
    ("storage", [after(C_ROLE, '    storage: {size: "0"}\n')], None,
     "clusters/web1.yaml:9:15: spec.roles[0].storage.size: Storage size for role (controller) should be greater than zero."),
    ("shared-memory", [after(C_ROLE, "    sharedMemory: lots\n")], None,
     "clusters/web1.yaml:9:5: spec.roles[0].sharedMemory: Shared memory size for role (controller) is incorrectly defined."),
    ("shared-memory", [after(C_ROLE, '    sharedMemory: "0"\n')], None,
     "clusters/web1.yaml:9:5: spec.roles[0].sharedMemory: Shared memory size for role (controller) should be "
     "greater than zero."),
    ("shared-memory", [after(C_ROLE, "    sharedMemory: 64Mi\n")], "forceSharedMemorySizeSupport: false\n",
     "clusters/web1.yaml:9:5: spec.roles[0].sharedMemory: Specifying shared memory size for role (controller) "
     "not allowed; feature disabled by global KubeDirector config."),
    ("shared-memory", [after(C_ROLE, "    sharedMemory: 64Mi\n")], 'kdrender:\n  kubernetesVersion: "1.21"\n',
     "clusters/web1.yaml:9:5: spec.roles[0].sharedMemory: Specifying shared memory size for role (controller) "
     "requires K8s version >= 1.22."),
    ("secret-prefix", [after(C_SPEC, f"  defaultSecret: {SECRET}\n")], "requiredSecretPrefix: web-\n",
     "clusters/web1.yaml:7:19: spec.defaultSecret.name: defaultSecret(creds) does not have the required "
     "name prefix(web-)."),
    ("secret-prefix", [after(C_ROLE, f"    secret: {SECRET}\n")], "requiredSecretPrefix: web-\n",
     "clusters/web1.yaml:9:14: spec.roles[0].secret.name: Secret(creds) for role(controller) does not have the "
     "required name prefix(web-)."),
    ("volume-projections", [after(C_ROLE, "    volumeProjections:\n    - {pvcName: data, mountPath: /data}\n"
                                          "    - {pvcName: more, mountPath: /data/}\n")], None,
     "clusters/web1.yaml:11:23: spec.roles[0].volumeProjections[1].mountPath: Specified mountPath(/data/) for "
     "role(controller) is invalid. It must be unique within the role."),
    ("volume-projections", [after(C_ROLE, "    volumeProjections: [{pvcName: data, mountPath: /run/lock}]\n")], None,
     "clusters/web1.yaml:9:41: spec.roles[0].volumeProjections[0].mountPath: Specified mountPath(/run/lock) for "
     "role(controller) is invalid. It clashes with system generated mountPath."),
    ("volume-projections", [after(C_SPEC, f"  defaultSecret: {SECRET}\n"),
                            after(C_ROLE, "    volumeProjections: [{pvcName: data, mountPath: /etc/creds}]\n")], None,
     "clusters/web1.yaml:10:41: spec.roles[0].volumeProjections[0].mountPath: Specified mountPath(/etc/creds) for "
     "role(controller) is invalid. It clashes with system generated mountPath."),
    ("file-mode", [after(C_ROLE, "    fileInjections: [{srcURL: 'https://x/f', destDir: /opt, permissions: {fileMode: 755}}]\n")],
     None, "clusters/web1.yaml:9:75: spec.roles[0].fileInjections[0].permissions.fileMode: 755 is mode 0o1363, "
     "beyond 0o777 (decimal, not octal); for rwx bits 755 write 0o755 or 493"),
    ("connections", [after(C_SPEC, "  connections: {clusters: [db]}\n")], None,
     "clusters/web1.yaml:7:28: spec.connections.clusters[0]: connected cluster 'db' does not exist in "
     "namespace 'default' of this repo"),
    ("connections", [after(C_SPEC, "  connections: {clusters: [web1]}\n")], None,
     "clusters/web1.yaml:7:28: spec.connections.clusters[0]: a cluster cannot connect to itself"),
]


@pytest.mark.parametrize("rule, edits, config, expected", CLUSTER_FAILS,
                         ids=[f"{c[0]}-{i}" for i, c in enumerate(CLUSTER_FAILS)])
def test_cluster_rule_fails(kd, rule, edits, config, expected):
    result = kd.run(cluster=kd.edit(kd.CLUSTER, *edits), config=config)
    assert result.texts == [expected]
    problem = result.problems[0]
    assert (problem.rule, problem.level) == (rule, "error")
    key = last_key(problem.path)
    if key:  # the position is the field's key as written
        assert result.source_at(problem).lstrip('"').startswith(key)
    if rule != "connections":  # repo-wide rules run after the model is built
        assert result.model.clusters == []
    assert "web" in result.model.apps


CLUSTER_PASSES = [
    ("app-exists", [], None),
    ("cluster-name", [("  name: web1\n", "  name: web-1\n  namespace: team-a\n")], None),
    ("cluster-name", [("  name: web1\n", "  name: ubuntu18.04\n")], None),
    ("cluster-name", [("  name: web1\n", "  name: " + "w" * 253 + "\n")], None),
    ("roles", [("  - id: worker\n    members: 2\n    resources:\n      limits: {cpu: \"1\", memory: 1Gi}\n", "")], None),
    ("labels", [after(C_ROLE, "    podLabels: {example.com/tier: web, app: x}\n"
                              "    serviceAnnotations: {example.com/note: 'any text: even this'}\n")], None),
    ("quantities", [('requests: {cpu: "1", memory: 1Gi}', 'requests: {cpu: 500m, memory: 1024Mi}')], None),
    ("quantities", [('requests: {cpu: "1", memory: 1Gi}', 'requests: {cpu: 250000000n, memory: 1000000u}')], None),
    ("labels", [after(C_ROLE, "    podAnnotations: {Example.COM/Owner: team-a}\n"
                              "    serviceAnnotations: {Example.COM/Owner_Name: x}\n")], None),
    ("storage", [after(C_ROLE, "    storage: {size: 10Gi}\n")], None),
    ("shared-memory", [after(C_ROLE, "    sharedMemory: 64Mi\n")], "forceSharedMemorySizeSupport: true\n"),
    ("shared-memory", [after(C_ROLE, "    sharedMemory: 64Mi\n")], None),
    ("secret-prefix", [after(C_SPEC, "  defaultSecret: {name: web-creds, mountPath: /etc/creds}\n")],
     "requiredSecretPrefix: web-\n"),
    ("volume-projections", [after(C_ROLE, "    volumeProjections:\n    - {pvcName: data, mountPath: /data}\n"
                                          "    - {pvcName: more, mountPath: /data2, readOnly: true}\n")], None),
    ("secret-keys", [after(C_ROLE, "    secretKeys: [{name: pw, encryptedValue: 0a1b2c}]\n"),
                     after(C_END, "status: {state: configured}\n")], None),  # an exported cluster
    ("file-mode", [after(C_ROLE, "    fileInjections:\n"
                                 "    - {srcURL: 'https://x/f', destDir: /opt, permissions: {fileMode: 0o755}}\n"
                                 "    - {srcURL: 'https://x/g', destDir: /opt, permissions: {fileMode: 420}}\n")], None),
]


@pytest.mark.parametrize("rule, edits, config", CLUSTER_PASSES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CLUSTER_PASSES)])
def test_cluster_rule_passes(kd, rule, edits, config):
    result = kd.run(cluster=kd.edit(kd.CLUSTER, *edits), config=config)
    assert result.texts == []
    assert result.model.warnings == []
    assert len(result.model.clusters) == 1


@pytest.mark.parametrize("cardinality, members, message, defaulted", [
    ('"1"', 1, None, 1),
    ('"1"', 0, 'below the minimum 1 of role "worker" (cardinality "1")', None),
    ('"1"', 2, 'above the maximum 1 of role "worker" (cardinality "1")', None),
    ('"1"', None, None, 1),
    ('"3"', 3, None, 3),
    ('"3"', 2, 'below the minimum 3 of role "worker" (cardinality "3")', None),
    ('"3"', 4, 'above the maximum 3 of role "worker" (cardinality "3")', None),
    ('"3"', None, None, 3),
    ('"1+"', 1, None, 1),
    ('"1+"', 5, None, 5),
    ('"1+"', 0, 'below the minimum 1 of role "worker" (cardinality "1+")', None),
    ('"1+"', None, None, 1),
    ('"0+"', 0, None, 0),
    ('"0+"', 7, None, 7),
    ('"0+"', None, None, 0),
])
def test_cardinality_forms(kd, cardinality, members, message, defaulted):
    app = kd.edit(kd.APP, (WORKER, f"    cardinality: {cardinality}\n"))
    cluster = kd.edit(kd.CLUSTER, ("    members: 2\n", "" if members is None else f"    members: {members}\n"))
    result = kd.run(app, cluster)
    if message:
        assert result.texts == [f"clusters/web1.yaml:13:5: spec.roles[1].members: {members} is {message}"]
        assert result.problems[0].rule == "cardinality"
    else:
        assert result.texts == []
        assert result.model.clusters[0].spec["roles"][1]["members"] == defaulted


@pytest.mark.parametrize("workers, ok", [(999, True), (1000, False)])
def test_cardinality_total_members(kd, workers, ok):
    # the controller's member is defaulted from its cardinality and counts too
    result = kd.run(cluster=kd.edit(kd.CLUSTER, ("    members: 2\n", f"    members: {workers}\n")))
    if ok:
        assert result.texts == []
        assert sum(r["members"] for r in result.model.clusters[0].spec["roles"]) == 1000
    else:
        assert result.texts == ["clusters/web1.yaml:7:3: spec.roles: 1001 members in all: "
                                "Maximum number of total members per KD cluster supported is 1000."]


def test_min_resources(kd):
    app = kd.edit(kd.APP, after(CONTROLLER, "    minResources: {memory: 2Gi}\n"),
                  after(WORKER, "    minResources: {cpu: '1', nvidia.com/gpu: '0'}\n"))
    result = kd.run(app)
    assert result.texts == [
        'clusters/web1.yaml:10:28: spec.roles[0].resources.requests.memory: Specified resource("memory") '
        'value("1Gi") for role("controller") is invalid. Minimum value must be "2Gi".',
        # no request at all counts as "0"; the position falls back to the nearest written field
        'clusters/web1.yaml:14:5: spec.roles[1].resources.requests: Specified resource("cpu") value("0") '
        'for role("worker") is invalid. Minimum value must be "1".',
    ]
    assert {p.rule for p in result.problems} == {"min-resources"}


def test_min_resources_passes_rounded_up_like_kubedirector(kd):
    # KubeDirector compares Quantity.Value(), rounded up: 500m counts as 1
    app = kd.edit(kd.APP, after(CONTROLLER, "    minResources: {memory: 1Gi, cpu: '1'}\n"))
    cluster = kd.edit(kd.CLUSTER, ('requests: {cpu: "1", memory: 1Gi}', 'requests: {cpu: 500m, memory: 1024Mi}'))
    assert kd.run(app, cluster).texts == []


@pytest.mark.parametrize("storage, expected", [
    (None, 'clusters/web1.yaml:8:5: spec.roles[0]: Specified persistent storage size("") for role("controller") '
           'is invalid. Minimum size must be "10Gi".'),
    ("{size: 5Gi}", 'clusters/web1.yaml:9:15: spec.roles[0].storage.size: Specified persistent storage size("5Gi") '
                    'for role("controller") is invalid. Minimum size must be "10Gi".'),
    ("{size: 10Gi}", None),
    ("{size: 1Ti}", None),
])
def test_min_storage(kd, storage, expected):
    app = kd.edit(kd.APP, after(CONTROLLER, "    minStorage: {size: 10Gi}\n"))
    cluster = kd.CLUSTER if storage is None else kd.edit(kd.CLUSTER, after(C_ROLE, f"    storage: {storage}\n"))
    result = kd.run(app, cluster)
    assert result.texts == ([expected] if expected else [])
    assert all(p.rule == "min-storage" for p in result.problems)


def test_min_storage_may_be_absent_when_ephemeral_mode_is_supported(kd):
    app = kd.edit(kd.APP, after(CONTROLLER, "    minStorage: {size: 10Gi, ephemeralModeSupported: true}\n"))
    assert kd.run(app).texts == []


def test_secret_keys_value_is_an_error_and_never_printed(kd):
    result = kd.run(cluster=kd.edit(kd.CLUSTER, after(C_ROLE, "    secretKeys: [{name: pw, value: hunter2}]\n")))
    assert result.texts == [
        "clusters/web1.yaml:9:29: spec.roles[0].secretKeys[0].value: plaintext secret key 'pw' must not be in Git "
        "(the value is not shown); keep the name without a value and the value in a Secret named by the "
        "cluster annotation kdrender.dev/secret-keys (filled in the pod), managed with Sealed Secrets, SOPS or "
        "External Secrets"]
    assert result.problems[0].rule == "secret-keys"
    assert result.model.clusters == [] and result.model.warnings == []


def test_secret_prefix_role_secret_passes_with_prefix(kd):
    cluster = kd.edit(kd.CLUSTER, after(C_ROLE, "    secret: {name: web-creds, mountPath: /etc/creds}\n"))
    assert kd.run(cluster=cluster, config="requiredSecretPrefix: web-\n").texts == []


def test_volume_projection_clashes_with_shared_memory_mount(kd):
    cluster = kd.edit(kd.CLUSTER, after(C_ROLE, "    sharedMemory: 64Mi\n"
                                                "    volumeProjections: [{pvcName: data, mountPath: /dev/shm}]\n"))
    assert [p.rule for p in kd.run(cluster=cluster).problems] == ["volume-projections"]


def test_volume_projection_clashes_with_cgroup_mount_of_systemd_apps(kd):
    app = kd.edit(kd.APP, after("  configSchemaVersion: 7\n", "  systemdRequired: true\n"))
    cluster = kd.edit(kd.CLUSTER, after(C_ROLE, "    volumeProjections: [{pvcName: d, mountPath: /sys/fs/cgroup}]\n"))
    assert [p.rule for p in kd.run(app, cluster).problems] == ["volume-projections"]
    # with native systemd support there are no cgroup mounts
    assert kd.run(app, cluster, config="nativeSystemdSupport: true\n").texts == []


# --- kd-global-config rules ---------------------------------------------------------------------

@pytest.mark.parametrize("config, expected", [
    ("podLabels:\n  kubedirector.hpe.com/role: x\n",
     'kdrender.yaml:2:3: podLabels["kubedirector.hpe.com/role"]: pod label \'kubedirector.hpe.com/role\' is set '
     "by kdrender and used in selectors; it cannot be overridden"),
    ("apiVersion: kubedirector.hpe.com/v1beta1\nkind: KubeDirectorConfig\nmetadata: {name: kd-global-config}\n"
     "spec:\n  serviceAnnotations: {a/b/c: x}\n",
     'kdrender.yaml:5:24: spec.serviceAnnotations["a/b/c"]: annotation key \'a/b/c\' is invalid: '
     "may contain at most one '/'"),
])
def test_config_labels_fail(kd, config, expected):
    result = kd.run(config=config)
    assert result.texts == [expected]
    assert result.problems[0].rule == "config-labels"


def test_config_labels_pass(kd):
    result = kd.run(config="podLabels: {example.com/team: a}\nserviceAnnotations: {note: 'any: text'}\n")
    assert result.texts == []
    assert result.model.config.get("podLabels") == {"example.com/team": "a"}


# --- repo-wide rules ---------------------------------------------------------------------------

def test_duplicate_cluster(kd):
    result = kd.run(files={"clusters/web2.yaml": kd.CLUSTER})
    assert result.texts == ["clusters/web2.yaml:4:3: metadata.name: KubeDirectorCluster 'web1' in namespace "
                            "'default' is already defined in clusters/web1.yaml:4"]
    assert result.problems[0].rule == "duplicate-object"


def test_duplicate_app(kd):
    result = kd.run(files={"catalog/web2.json": '{"apiVersion": "kubedirector.hpe.com/v1beta1",\n'
                                                ' "kind": "KubeDirectorApp",\n "metadata": {"name": "web"},\n'
                                                ' "spec": {"label": {"name": "W"}, "distroID": "d", "version": "1",'
                                                ' "configSchemaVersion": 7, "defaultImageRepoTag": "x",'
                                                ' "roles": [{"id": "a", "cardinality": "1"}],'
                                                ' "config": {"selectedRoles": [], "roleServices": []}}}\n'})
    assert result.texts == ["catalog/web2.json:3:15: metadata.name: KubeDirectorApp 'web' is already defined "
                            "in catalog/web.yaml:4"]
    assert result.model.apps["web"].file == "catalog/web.yaml"  # the first one wins


def test_same_cluster_name_in_two_namespaces_is_fine(kd):
    other = kd.edit(kd.CLUSTER, after("  name: web1\n", "  namespace: staging\n"))
    result = kd.run(files={"clusters/staging/web1.yaml": other})
    assert result.texts == []
    assert [(c.namespace, c.name) for c in result.model.clusters] == [("default", "web1"), ("staging", "web1")]


def test_connections_pass_and_namespace_matters(kd):
    web2 = kd.edit(kd.CLUSTER, ("  name: web1\n", "  name: web2\n"))
    cluster = kd.edit(kd.CLUSTER, after(C_SPEC, "  connections: {clusters: [web2], secrets: [s], configmaps: [c]}\n"))
    assert kd.run(cluster=cluster, files={"clusters/web2.yaml": web2}).texts == []
    elsewhere = kd.edit(web2, after("  name: web2\n", "  namespace: other\n"))
    result = kd.run(cluster=cluster, files={"clusters/web2.yaml": elsewhere})
    assert [p.rule for p in result.problems] == ["connections"]


# --- schema checks ------------------------------------------------------------------------------

@pytest.mark.parametrize("edits, expected", [
    ([("    members: 2\n", "    members: two\n")],
     "clusters/web1.yaml:13:5: spec.roles[1].members: must be an integer, not 'two'"),
    ([("    members: 2\n", "    member: 2\n")],
     "clusters/web1.yaml:13:5: spec.roles[1].member: unknown field 'member'; did you mean 'members'?"),
    ([("  app: web\n", "  ap: web\n")],
     "clusters/web1.yaml:5:1: spec: missing required field 'app'"),
    ([after(C_SPEC, "  serviceType: External\n")],
     "clusters/web1.yaml:7:3: spec.serviceType: 'External' is not one of: ClusterIP, NodePort, LoadBalancer"),
    ([('limits: {cpu: "1", memory: 1Gi}\n  - id: worker', 'limits: {cpu: lots, memory: 1Gi}\n  - id: worker')],
     "clusters/web1.yaml:11:16: spec.roles[0].resources.limits.cpu: 'lots' is not a Kubernetes quantity "
     "(like 2, 500m, 4Gi)"),
])
def test_schema_problems(kd, edits, expected):
    result = kd.run(cluster=kd.edit(kd.CLUSTER, *edits))
    assert expected in result.texts
    assert {p.rule for p in result.problems} == {"schema"}
    assert result.model.clusters == []


def test_schema_unknown_app_field(kd):
    # KubeDirector's app CRD keeps unknown fields of spec: a warning (with the hint), and the
    # required field it was meant to be is still missing
    result = kd.run(kd.edit(kd.APP, ("  distroID: test/web\n", "  distroId: test/web\n")))
    assert result.texts == ["catalog/web.yaml:5:1: spec: missing required field 'distroID'"]
    assert [w.text() for w in result.model.warnings] == [
        "catalog/web.yaml:8:3: spec.distroId: unknown field 'distroId' (kept, but not used); did you mean 'distroID'?"]


def test_v1beta1_service_ids_must_be_dns_labels(kd):
    result = kd.run(kd.edit(kd.APP, ("  - id: http\n", "  - id: http_ui\n"), ("[http]", "[http_ui]")))
    # only the app's problem: its cluster is not also told that the app does not exist
    assert result.texts == ["catalog/web.yaml:13:5: spec.services[0].id: 'http_ui' does not match the pattern "
                            "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"]


V1ALPHA1_APP = """\
{
  "apiVersion": "kubedirector.bluedata.io/v1alpha1",
  "kind": "KubeDirectorApp",
  "metadata": {"name": "old"},
  "spec": {
    "label": {"name": "Old"},
    "distro_id": "x/old",
    "version": "1",
    "image": {"repoTag": "docker.io/x:1"},
    "setup_package": {"config_api_version": 7, "import_url": "https://example.com/old.tgz"},
    "services": [{"id": "spark_master", "endpoint": {"port": 7077, "url_scheme": "spark", "is_dashboard": true}}],
    "roles": [{"id": "a", "cardinality": "1"}],
    "config": {
      "selected_roles": ["a"],
      "role_services": [{"role_id": "b", "service_ids": ["spark_master"]}]
    }
  }
}
"""


def test_v1alpha1_problems_point_at_the_field_as_written(kd):
    result = kd.run(V1ALPHA1_APP, None)
    # the renamed field (role_id -> roleID) keeps the position of the original key
    assert result.texts == ['catalog/web.yaml:15:26: spec.config.roleServices[0].roleID: Invalid roleID(b) in '
                            'roleServices array in config section. Valid roles: "a"']
    assert result.source_at(result.problems[0]).startswith('"role_id"')


def test_v1alpha1_free_text_service_ids_are_kept(kd):
    result = kd.run(kd.edit(V1ALPHA1_APP, ('"role_id": "b"', '"role_id": "a"')), None)
    assert result.texts == []
    app = result.model.apps["old"].spec
    assert app["services"][0]["id"] == "spark_master"
    assert app["services"][0]["endpoint"] == {"port": 7077, "urlScheme": "spark", "isDashboard": True}
    assert result.model.notices == ["catalog/web.yaml: kubedirector.bluedata.io/v1alpha1 is deprecated; "
                                    "kdrender reads it as kubedirector.hpe.com/v1beta1"]


def test_wrong_api_version(kd):
    result = kd.run(cluster=kd.edit(kd.CLUSTER, ("kubedirector.hpe.com/v1beta1", "kubedirector.hpe.com/v1")))
    assert result.texts == ["clusters/web1.yaml:1:1: apiVersion: apiVersion 'kubedirector.hpe.com/v1' is not one of: "
                            "kubedirector.hpe.com/v1beta1, kubedirector.bluedata.io/v1alpha1"]


def test_every_rule_has_a_failing_case_here():
    tested = {case[0] for case in APP_FAILS + CLUSTER_FAILS}
    tested |= {"min-resources", "min-storage", "secret-keys", "config-labels", "duplicate-object",
               "extra-objects"}  # own tests above (extra-objects: test_input_parity.py)
    tested |= {"production-annotations", "network-policy-peers"}  # tests/test_production.py
    tested |= {"env-names", "encrypted-secret-keys", "url-credentials"}  # tests/test_rejections.py
    tested |= {"file-injections", "injection-http", "package-http"}  # tests/test_agent_input_rules.py
    tested |= {"connected-objects", "connection-names"}  # tests/test_inpod_render.py
    tested |= {"placeholder"}  # tests/test_scaffold.py
    assert {rule.ID for rule in RULES} <= tested
