"""Issue 9's agent-input rules: file-injection fields the agent could misread are refused,
plain-http downloads warn; and the configure time limit reaches the agent's settings."""

from __future__ import annotations

import pytest

C_ROLE = "  - id: controller\n"  # line 8 of the base cluster
APP_DEFAULT = "  defaultImageRepoTag: docker.io/library/nginx:1.25\n"


def injection(src="https://files.example/app.conf", dest="/etc/app", owner=None, group=None) -> str:
    perms = {k: v for k, v in (("fileOwner", owner), ("fileGroup", group)) if v is not None}
    text = f'    fileInjections:\n    - srcURL: "{src}"\n      destDir: "{dest}"\n'
    if perms:
        text += "      permissions: {" + ", ".join(f'{k}: "{v}"' for k, v in perms.items()) + "}\n"
    return text


def run_with(kd, text: str):
    return kd.run(cluster=kd.edit(kd.CLUSTER, (C_ROLE, C_ROLE + text)))


FAILS = [
    (injection(owner="-R"), "spec.roles[0].fileInjections[0].permissions.fileOwner",
     "fileOwner '-R' of a file injection of role 'controller' must not start with '-'"),
    (injection(group="--reference=/etc/shadow"), "spec.roles[0].fileInjections[0].permissions.fileGroup",
     "fileGroup '--reference=/etc/shadow' of a file injection of role 'controller' must not start with '-'"),
    (injection(src="https://files.example/-rf"), "spec.roles[0].fileInjections[0].srcURL",
     "the file name of srcURL '-rf' of a file injection of role 'controller' must not start with '-'"),
    (injection(owner="spark\\tx"), "spec.roles[0].fileInjections[0].permissions.fileOwner",
     "fileOwner of a file injection of role 'controller' must not contain a tab, line break"),
    (injection(group="users\\nroot"), "spec.roles[0].fileInjections[0].permissions.fileGroup",
     "fileGroup of a file injection of role 'controller' must not contain a tab, line break"),
    (injection(dest="/etc/app\\t644"), "spec.roles[0].fileInjections[0].destDir",
     "destDir of a file injection of role 'controller' must not contain a tab, line break"),
    (injection(src="https://files.example/a\\tb"), "spec.roles[0].fileInjections[0].srcURL",
     "srcURL of a file injection of role 'controller' must not contain a tab, line break"),
]


@pytest.mark.parametrize("text, path, message", FAILS, ids=[f[1].rsplit(".", 1)[-1] + str(i) for i, f in enumerate(FAILS)])
def test_file_injection_fields_the_agent_could_misread_are_refused(kd, text, path, message):
    result = run_with(kd, text)
    assert result.errors, result.texts
    problem = result.errors[0]
    assert problem.rule == "file-injections" and problem.level == "error"
    assert problem.file == "clusters/web1.yaml" and problem.line >= 9
    assert problem.path == path
    assert message in problem.message
    assert result.model.clusters == []


def test_ordinary_file_injection_passes(kd):
    result = run_with(kd, injection(owner="spark", group="hadoop-users", dest="/opt/app-1/conf"))
    assert result.problems == [] and result.model.warnings == []
    assert len(result.model.clusters) == 1


def test_plain_http_injection_warns(kd):
    result = run_with(kd, injection(src="http://files.example/app.conf"))
    assert result.problems == []
    [warning] = result.model.warnings
    assert (warning.rule, warning.level) == ("injection-http", "warning")
    assert warning.text().startswith("clusters/web1.yaml:10:7: spec.roles[0].fileInjections[0].srcURL: ")
    assert "plain http://" in warning.text() and "use https://" in warning.text()
    assert len(result.model.clusters) == 1  # a warning does not stop rendering


@pytest.mark.parametrize("where, path", [
    ("default", "spec.defaultConfigPackage.packageURL"),
    ("role", "spec.roles[0].configPackage.packageURL"),
])
def test_plain_http_setup_package_warns(kd, where, path):
    if where == "default":
        app = kd.edit(kd.APP, (APP_DEFAULT, APP_DEFAULT + "  defaultConfigPackage: {packageURL: 'http://pkgs.example/web.tgz'}\n"))
    else:
        app = kd.edit(kd.APP, ('    cardinality: "1"\n',
                               '    cardinality: "1"\n    configPackage: {packageURL: "http://pkgs.example/web.tgz"}\n'))
    result = kd.run(app=app)
    assert result.problems == []
    [warning] = result.model.warnings
    assert (warning.rule, warning.level, warning.path) == ("package-http", "warning", path)
    assert warning.file == "catalog/web.yaml" and "plain http://" in warning.message


def test_https_and_file_packages_do_not_warn(kd):
    app = kd.edit(kd.APP, (APP_DEFAULT, APP_DEFAULT + "  defaultConfigPackage: {packageURL: 'https://pkgs.example/web.tgz'}\n"),
                  ('    cardinality: "1"\n', '    cardinality: "1"\n    configPackage: {packageURL: "file:///opt/web.tgz"}\n'))
    result = kd.run(app=app)
    assert result.problems == [] and result.model.warnings == []


def test_configure_timeout_reaches_the_agent_settings(tmp_path):
    from render_helpers import of_kind, project_repo, render

    def agent_envs(root):
        maps = [m for _, _, objs in render(root) for m in of_kind(objs, "ConfigMap")
                if m["metadata"]["name"].endswith("-kd-agent")]
        return [v for m in maps for k, v in m["data"].items() if k.endswith(".env")]

    default = agent_envs(project_repo(tmp_path / "a"))
    assert default and all("KD_CONFIGURE_TIMEOUT='3600'\n" in env for env in default)
    root = project_repo(tmp_path / "b")
    import yaml

    config = yaml.safe_load((root / "kdrender.yaml").read_text())
    config.setdefault("kdrender", {}).setdefault("agent", {})["configureTimeoutSeconds"] = 0
    (root / "kdrender.yaml").write_text(yaml.safe_dump(config))
    assert all("KD_CONFIGURE_TIMEOUT='0'\n" in env for env in agent_envs(root))


def test_configure_timeout_must_be_a_non_negative_integer(kd):
    result = kd.run(config="kdrender:\n  agent: {configureTimeoutSeconds: -5}\n")
    assert result.errors and result.errors[0].file == "kdrender.yaml"
    assert "configureTimeoutSeconds" in result.errors[0].path
