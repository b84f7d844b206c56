"""What the API server or KubeDirector would refuse, refused before merge (issue 8), and the
secrets policy (issue 9): env var names, mount path clashes, hand-written encrypted values,
plaintext secrets, credentials in URLs and the size of every rendered object.

Every failing case checks the whole message line: file, line, column, field path and text.
"""

from __future__ import annotations

import io

import pytest
from click.testing import CliRunner

from kdrender.apicheck import MAX_ANNOTATION_BYTES, MAX_CONFIGMAP_DATA_BYTES, MAX_OBJECT_BYTES, object_problems
from kdrender.cli import main
from kdrender.generate import run as generate
from kdrender.problems import UserError

C_ROLE = "  - id: controller\n"  # the controller role of the cluster (line 8)
C_NAME = "  name: web1\n"  # line 4
C_END = '    members: 2\n    resources:\n      limits: {cpu: "1", memory: 1Gi}\n'  # the end of the file
V134 = 'kdrender:\n  kubernetesVersion: "1.34"\n'
CANARY = "CANARY-7f3d9a"  # a secret that must appear in no output at all


@pytest.fixture(autouse=True)
def _private_home(tmp_path, monkeypatch):
    """generate's schema cache goes below $HOME: a test's own, not the user's."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))


def after(anchor: str, lines: str) -> tuple[str, str]:
    return anchor, anchor + lines


def env(*names: str) -> tuple[str, str]:
    return after(C_ROLE, "    env:\n" + "".join(f"    - {{name: {name}, value: x}}\n" for name in names))


STRICT = ("a valid environment variable name must consist of alphabetic characters, digits, '_', '-', or '.', "
          "and must not start with a digit")
RELAXED = "a valid environment variable name must consist only of printable ASCII characters other than '='"
URL_MESSAGE = ("a URL with credentials (user or password before '@') must not be in Git, where every clone, CI log "
               "and rendered bundle would repeat it (the value is not shown); use a URL that needs no credentials "
               "(an internal mirror, a pre-signed URL) or keep the credential in a Secret")
ADVICE = ("keep the name without a value and the value in a Secret named by the cluster annotation "
          "kdrender.dev/secret-keys (filled in the pod), managed with Sealed Secrets, SOPS or External Secrets")
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"


def _last_applied(value: str) -> tuple[str, str]:
    json = ('{"spec": {"roles": [{"id": "controller", "secretKeys": [{"name": "pw", "value": "%s"}]}]}}' % value)
    return after(C_NAME, f"  annotations:\n    {LAST_APPLIED}: '{json}'\n")


FAILS = [
    ("env-names", [env("BAD=NAME", "ok.name-1", "1ST", "..x", ".")], None, [
        f"clusters/web1.yaml:10:8: spec.roles[0].env[0].name: environment variable name 'BAD=NAME' is invalid for "
        f"Kubernetes 1.29: {STRICT}",
        f"clusters/web1.yaml:12:8: spec.roles[0].env[2].name: environment variable name '1ST' is invalid for "
        f"Kubernetes 1.29: {STRICT}",
        "clusters/web1.yaml:13:8: spec.roles[0].env[3].name: environment variable name '..x' is invalid for "
        "Kubernetes 1.29: must not start with '..'",
        "clusters/web1.yaml:14:8: spec.roles[0].env[4].name: environment variable name '.' is invalid for "
        "Kubernetes 1.29: must not be '.'",
    ]),
    ("env-names", [env("BAD=NAME", "'1ST NAME'", '"TAB\\tNAME"', "'naïve'")], V134, [
        f"clusters/web1.yaml:10:8: spec.roles[0].env[0].name: environment variable name 'BAD=NAME' is invalid for "
        f"Kubernetes 1.34: {RELAXED}",
        f"clusters/web1.yaml:12:8: spec.roles[0].env[2].name: environment variable name 'TAB\\tNAME' is invalid for "
        f"Kubernetes 1.34: {RELAXED}",
        f"clusters/web1.yaml:13:8: spec.roles[0].env[3].name: environment variable name 'naïve' is invalid for "
        f"Kubernetes 1.34: {RELAXED}",
    ]),
    ("volume-projections", [after(C_ROLE, "    storage: {size: 10Gi}\n"
                                          "    volumeProjections: [{pvcName: data, mountPath: /etc/}]\n")], None, [
        "clusters/web1.yaml:10:41: spec.roles[0].volumeProjections[0].mountPath: Specified mountPath(/etc/) for "
        "role(controller) is invalid. It clashes with the persist directory /etc that the role's storage is "
        "mounted on."]),
    ("encrypted-secret-keys", [after(C_ROLE, "    secretKeys: [{name: pw, encryptedValue: 0a1b2c}, {name: none}]\n")],
     None, [
        "clusters/web1.yaml:9:29: spec.roles[0].secretKeys[0].encryptedValue: manually setting secret key (pw) "
        "encrypted value is forbidden (a new cluster, without the status of an exported one: KubeDirector "
        "encrypts the values itself)"]),
    ("secret-keys", [_last_applied(CANARY), after(C_END, "status: {state: configured}\n")], None, [
        f'clusters/web1.yaml:6:5: metadata.annotations["{LAST_APPLIED}"]: holds the plaintext value of secret key '
        f"'pw' of role 'controller' (not shown); remove this annotation from the exported file and {ADVICE}"]),
    ("secret-keys", [after(C_NAME, f"  annotations:\n    {LAST_APPLIED}: '{{\"secretKeys\": [{CANARY}'\n")], None, [
        f'clusters/web1.yaml:6:5: metadata.annotations["{LAST_APPLIED}"]: cannot be read as JSON and mentions '
        "secretKeys, so it may hold a plaintext secret; remove this annotation from the exported file"]),
    ("url-credentials", [after(C_ROLE, f"    fileInjections: [{{srcURL: 'https://bob:{CANARY}@files.example.com/a', "
                                       "destDir: /opt}]\n"
                                       f"    env: [{{name: DB, value: 'see postgres://app:{CANARY}@db:5432/x'}}]\n"
                                       f"    podAnnotations: {{example.com/src: 'https://{CANARY}@git.example.com/x'}}\n")],
     'kdrender:\n  agent: {configcliURL: "https://' + CANARY + '@github.com/x.tar.gz"}\n', [
        f"clusters/web1.yaml:9:23: spec.roles[0].fileInjections[0].srcURL: {URL_MESSAGE}",
        f"clusters/web1.yaml:10:22: spec.roles[0].env[0].value: {URL_MESSAGE}",
        f'clusters/web1.yaml:11:22: spec.roles[0].podAnnotations["example.com/src"]: {URL_MESSAGE}',
        f"kdrender.yaml:2:11: kdrender.agent.configcliURL: {URL_MESSAGE}",
    ]),
]


@pytest.mark.parametrize("rule, edits, config, expected", FAILS, ids=[f"{c[0]}-{i}" for i, c in enumerate(FAILS)])
def test_refused(kd, rule, edits, config, expected):
    result = kd.run(cluster=kd.edit(kd.CLUSTER, *edits), config=config)
    assert result.texts == expected
    assert {(p.rule, p.level) for p in result.problems} == {(rule, "error")}
    assert result.model.clusters == []
    assert not any(CANARY in text for text in result.texts)


PASSES = [
    ("env-names", [env("ok.name-1", "_X", "-dash", "a..b")], None),
    ("env-names", [env("'1ST NAME'", "'a:b/c~'", '"x y"')], V134),
    ("volume-projections", [after(C_ROLE, "    storage: {size: 10Gi}\n"
                                          "    volumeProjections: [{pvcName: data, mountPath: /etc/data}]\n")], None),
    ("volume-projections", [after(C_ROLE, "    volumeProjections: [{pvcName: data, mountPath: /etc}]\n")], None),
    ("encrypted-secret-keys", [after(C_ROLE, "    secretKeys: [{name: pw, encryptedValue: 0a1b2c}, {name: none}]\n"),
                               after(C_END, "status: {state: configured}\n")], None),
    ("secret-keys", [_last_applied(""), after(C_END, "status: {state: configured}\n")], None),
    ("url-credentials", [after(C_ROLE, "    fileInjections: [{srcURL: 'https://files.example.com/a@b', destDir: /opt}]\n"
                                       "    env: [{name: REPO, value: 'ssh://git@git.example.com/x.git'},"
                                       " {name: DB, value: 'postgres://app@db/x'}, {name: MAIL, value: a@b.c}]\n")],
     None),
]


@pytest.mark.parametrize("rule, edits, config", PASSES, ids=[f"{c[0]}-{i}" for i, c in enumerate(PASSES)])
def test_accepted(kd, rule, edits, config):
    result = kd.run(cluster=kd.edit(kd.CLUSTER, *edits), config=config)
    assert result.texts == []
    assert len(result.model.clusters) == 1


def test_a_key_with_credentials_is_refused_and_never_echoed(kd):
    cluster = kd.edit(kd.CLUSTER, after(C_ROLE, f"    podAnnotations: {{'https://{CANARY}@git.example.com/x': y}}\n"))
    result = kd.run(cluster=cluster)
    assert sorted((p.rule, p.path) for p in result.problems) == [
        ("labels", 'spec.roles[0].podAnnotations["https://\u2026@git.example.com/x"]'),
        ("url-credentials", 'spec.roles[0].podAnnotations["https://\u2026@git.example.com/x"]')]
    assert not any(CANARY in text for text in result.texts)


def test_credentials_in_app_urls_are_refused(kd):
    app = kd.edit(kd.APP, after('    cardinality: "1"\n', "    configPackage:\n"
                                f"      packageURL: 'https://x-token:{CANARY}@example.com/setup.tgz'\n"))
    result = kd.run(app)
    assert result.texts == [f"catalog/web.yaml:22:7: spec.roles[0].configPackage.packageURL: {URL_MESSAGE}"]
    assert result.problems[0].rule == "url-credentials"


def test_no_command_ever_echoes_a_credential(kd, tmp_path):
    """The canary is in a URL that also breaks the schema (pattern and did-you-mean messages quote values)."""
    cluster = kd.edit(kd.CLUSTER, after(C_ROLE, f"    fileInjections: [{{srcURL: 'ftp://u:{CANARY}@h/a', destDir: /opt}},"
                                                f" {{srcURl: 'https://u:{CANARY}@h/b', destDir: /opt}}]\n"))
    root = kd.write({"catalog/web.yaml": kd.APP, "clusters/web1.yaml": cluster})
    runner = CliRunner()
    outputs = []
    for args in (["validate", str(root)], ["validate", "--format", "json", str(root)],
                 ["validate", "--format", "github", str(root)], ["build", str(root)],
                 ["render", "--repo", str(root), str(root / "clusters/web1.yaml")]):
        result = runner.invoke(main, args)
        assert result.exit_code == 1, (args, result.output)
        outputs.append(result.output + result.stderr)
    out, err = io.StringIO(), io.StringIO()
    assert generate({}, str(root / "clusters"), out, err) == 1
    outputs += [out.getvalue(), err.getvalue()]
    assert "ftp://\u2026@h/a" in outputs[0] and "srcURl" in outputs[0]  # the problems are reported, redacted
    assert not any(CANARY in text for text in outputs)
    assert not (root / "golden").exists()


# --- the API server's limits on rendered objects ------------------------------------------------


def _configmap(data: dict) -> dict:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": data}


def test_object_limits_at_the_boundary():
    # ConfigMap data counts keys and values (as the API server does), whatever the JSON escaping
    assert object_problems(_configmap({"k": "x" * (MAX_CONFIGMAP_DATA_BYTES - 1)})) == []
    assert object_problems(_configmap({"k": "x" * MAX_CONFIGMAP_DATA_BYTES})) == [
        f"would hold {MAX_CONFIGMAP_DATA_BYTES + 1} bytes of data, over the API server's limit of "
        f"{MAX_CONFIGMAP_DATA_BYTES}"]
    assert object_problems(_configmap({"k": '"' * 1_000_000})) == []  # 2 MB as JSON, 1 MB stored
    big = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s", "labels": {"x": "y" * MAX_OBJECT_BYTES}}}
    [message] = object_problems(big)
    assert message.endswith(f"bytes, over the {MAX_OBJECT_BYTES}-byte limit of an object")
    annotated = {"kind": "Service", "metadata": {"name": "s", "annotations": {"a": "x" * MAX_ANNOTATION_BYTES}}}
    assert object_problems(annotated) == [f"would have {MAX_ANNOTATION_BYTES + 1} bytes of annotations, over the "
                                          f"API server's limit of {MAX_ANNOTATION_BYTES}"]


def _render(kd, cluster: str, config: str | None = None):
    from kdrender.pipeline import load_model, render_model

    root = kd.write({"catalog/web.yaml": kd.APP, "clusters/web1.yaml": cluster}, config)
    try:
        return render_model(load_model(str(root))), []
    except UserError as exc:
        return None, [p.text() for p in exc.problems]


def test_pod_template_annotations_over_the_limit_in_all(kd):
    # each map is under the limit (the labels rule), together they are not; 73 bytes are
    # kubedirector.hpe.com/kdapp-prettyName: Web server and the two keys
    half = "x" * (MAX_ANNOTATION_BYTES // 2)
    cluster = kd.edit(kd.CLUSTER, after(C_ROLE, f"    podAnnotations: {{example.com/a: {half}}}\n"))
    rendered, problems = _render(kd, cluster, f"podAnnotations: {{example.com/b: {half}}}\n")
    assert rendered is None
    assert problems == [f"clusters/web1.yaml:4:3: metadata.name: the StatefulSet 'web1-controller' would have "
                        f"{MAX_ANNOTATION_BYTES + 73} bytes of pod template annotations, over the API server's limit "
                        f"of {MAX_ANNOTATION_BYTES}"]


def test_object_over_the_size_limit_stops_the_whole_stream(kd):
    cluster = kd.edit(kd.CLUSTER, after(C_ROLE, f"    env: [{{name: BIG, value: {'x' * MAX_OBJECT_BYTES}}}]\n"))
    # the file itself is over the default input budget (limits.fileBytes): lift it to reach the object check
    rendered, problems = _render(kd, cluster, "kdrender:\n  limits: {fileBytes: 4194304}\n")
    assert rendered is None
    [problem] = problems
    assert problem.startswith("clusters/web1.yaml:4:3: metadata.name: the StatefulSet 'web1-controller' would be ")
    assert problem.endswith(f"bytes, over the {MAX_OBJECT_BYTES}-byte limit of an object")


def test_duplicate_mount_paths_in_a_rendered_container(kd):
    # /etc/kd/agent is where the agent is mounted (file injections use the agent)
    cluster = kd.edit(kd.CLUSTER, after(C_ROLE, "    fileInjections: [{srcURL: 'https://h/a', destDir: /opt}]\n"
                                                "    volumeProjections: [{pvcName: data, mountPath: /etc/kd/agent/}]\n"))
    rendered, problems = _render(kd, cluster)
    assert problems == ["clusters/web1.yaml:4:3: metadata.name: the StatefulSet 'web1-controller' container 'app' "
                        "mounts the volumes 'projected-vol-0' and 'kd-agent' both at /etc/kd/agent (the API server "
                        "refuses a duplicate mountPath)"]


def test_device_path_used_as_mount_path():
    container = {"name": "app", "volumeMounts": [{"name": "a", "mountPath": "/dev/x"}],
                 "volumeDevices": [{"name": "b0", "devicePath": "/dev/x"}]}
    sts = {"kind": "StatefulSet", "metadata": {"name": "s"},
           "spec": {"template": {"metadata": {}, "spec": {"containers": [container]}}}}
    assert object_problems(sts) == ["container 'app' uses /dev/x for the device 'b0' and for 'a' (the API server "
                                    "refuses a devicePath that is already used)"]


def test_one_object_over_a_limit_stops_every_command(kd):
    big = kd.edit(kd.CLUSTER, ("  name: web1\n", "  name: web2\n"),
                  after(C_ROLE, f"    env: [{{name: BIG, value: {'x' * MAX_OBJECT_BYTES}}}]\n"))
    root = kd.write({"catalog/web.yaml": kd.APP, "clusters/web1.yaml": kd.CLUSTER, "clusters/web2.yaml": big},
                    "kdrender:\n  limits: {fileBytes: 4194304}\n")  # past the input budget, to the object check
    message = "clusters/web2.yaml:4:3: metadata.name: the StatefulSet 'web2-controller' would be "
    for args in (["build", str(root)], ["render", "--repo", str(root), str(root / "clusters/web1.yaml"),
                                        str(root / "clusters/web2.yaml")]):
        result = CliRunner().invoke(main, args)
        assert result.exit_code == 1 and result.stdout == "", args
        assert message in result.stderr
    assert not (root / "golden").exists()
    out, err = io.StringIO(), io.StringIO()
    assert generate({}, str(root / "clusters"), out, err) == 1
    assert out.getvalue() == "" and message in err.getvalue()


@pytest.mark.parametrize("version, ok", [("v1.33.4", False), ("v1.34.0", True)])
def test_env_names_follow_argo_cds_kube_version(kd, version, ok):
    root = kd.write({"catalog/web.yaml": kd.APP, "clusters/web1.yaml": kd.edit(kd.CLUSTER, env("'1ST NAME'"))})
    out, err = io.StringIO(), io.StringIO()
    code = generate({"KUBE_VERSION": version}, str(root / "clusters"), out, err)
    if ok:
        assert code == 0 and '"name":"1ST NAME"' in out.getvalue()
    else:
        assert code == 1 and out.getvalue() == ""
        assert (f"clusters/web1.yaml:10:8: spec.roles[0].env[0].name: environment variable name '1ST NAME' is "
                f"invalid for Kubernetes 1.33: {STRICT}") in err.getvalue()


def test_a_cut_value_never_shows_part_of_a_credential(kd):
    # schema messages quote at most 60 characters; the cut must not fall before the '@' and leave
    # the start of the password unredacted
    password = CANARY + "x" * 80
    cluster = kd.edit(kd.CLUSTER, after(C_ROLE, f"    fileInjections: [{{srcURL: 'ftp://u:{password}@h/a', destDir: /opt}}]\n"))
    result = kd.run(cluster=cluster)
    assert result.texts == ["clusters/web1.yaml:9:23: spec.roles[0].fileInjections[0].srcURL: 'ftp://\u2026@h/a' does "
                            "not match the pattern ^https?://.+$"]


@pytest.mark.parametrize("check, value", [
    ("dns1123_label", "web1\n"), ("dns1123_subdomain", "a.b\n"), ("dns1035_label", "svc\n"),
    ("qualified_name", "example.com/team\n"), ("label_value", "blue\n")])
def test_name_checks_refuse_a_final_newline(check, value):
    # Python's "$" also matches before a final newline; the API server refuses such names
    import kdrender.k8s as k8s

    assert getattr(k8s, check)(value) is not None
    assert getattr(k8s, check)(value[:-1]) is None


def test_schema_patterns_read_dollar_as_the_end_of_the_text(kd):
    # JSON Schema's regex dialect (ECMA-262): "$" does not match before a final newline
    app = kd.edit(kd.APP, ("  - id: http\n", "  - id: \"http\\n\"\n"))
    result = kd.run(files={"catalog/web.yaml": app})
    assert any(p.path == "spec.services[0].id" and "does not match" in p.message for p in result.problems), result.texts
