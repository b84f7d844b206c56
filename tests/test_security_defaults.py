"""Issue 9's safer bundle defaults: seccomp, container securityContext, NET_RAW, SSH exposure."""

from __future__ import annotations

import pytest

from kdrender.render.statefulset import app_security_context, capabilities, init_security_context


@pytest.mark.parametrize("declared,expected", [
    ([], {"drop": ["NET_RAW"]}),
    (["SYS_RESOURCE", "IPC_LOCK"], {"add": ["SYS_RESOURCE", "IPC_LOCK"], "drop": ["NET_RAW"]}),
    (["NET_RAW"], {"add": ["NET_RAW"]}),
    (["CAP_NET_RAW", "SYS_ADMIN"], {"add": ["CAP_NET_RAW", "SYS_ADMIN"]}),
    (["net_raw"], {"add": ["net_raw"]}),
    (["NET_ADMIN"], {"add": ["NET_ADMIN"], "drop": ["NET_RAW"]}),
])
def test_net_raw_dropped_unless_the_app_declares_it(declared, expected):
    assert capabilities(declared) == expected
    assert app_security_context(declared) == {"capabilities": expected, "privileged": False}


def test_root_images_keep_working():
    for context in (app_security_context(["SYS_ADMIN"]), init_security_context()):
        assert "runAsNonRoot" not in context and "readOnlyRootFilesystem" not in context
        assert context["privileged"] is False
    assert init_security_context()["runAsUser"] == 0
    # the app container keeps setuid tools (sudo, su): allowPrivilegeEscalation stays the default
    assert "allowPrivilegeEscalation" not in app_security_context([])
    assert init_security_context()["allowPrivilegeEscalation"] is False


def test_every_pod_and_container_of_the_examples(tmp_path):
    from render_helpers import of_kind, project_repo, render

    rendered = render(project_repo(tmp_path / "repo"))
    statefulsets = [s for _, _, objects in rendered for s in of_kind(objects, "StatefulSet")]
    assert statefulsets
    seen_caps = False
    for sts in statefulsets:
        pod = sts["spec"]["template"]["spec"]
        assert pod["securityContext"] == {"seccompProfile": {"type": "RuntimeDefault"}}
        for container in pod.get("initContainers", []) + pod["containers"]:
            context = container["securityContext"]
            assert context["privileged"] is False
            assert "NET_RAW" in context["capabilities"]["drop"]
            seen_caps = seen_caps or bool(context["capabilities"].get("add"))
    assert seen_caps, "the examples include an app with declared capabilities (Cassandra)"


# --------------------------------------------------------------------------------------------------
# SSH exposure (kdrender.exposeSSH)

def _member_services(root):
    from render_helpers import of_kind, render

    return {s["metadata"]["name"]: s for _, _, objects in render(root) for s in of_kind(objects, "Service")
            if s["spec"].get("clusterIP") != "None"}


def _ports(service) -> list:
    return [p["port"] for p in service["spec"]["ports"]]


def _with_option(root, option: str):
    """``root``'s kdrender.yaml with ``option`` (``key: value`` YAML) set under ``kdrender:``."""
    import yaml

    path = root / "kdrender.yaml"
    config = yaml.safe_load(path.read_text(encoding="utf-8"))
    config.setdefault("kdrender", {}).update(yaml.safe_load(option))
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return root


def test_ssh_is_not_on_external_member_services_by_default(tmp_path):
    from render_helpers import project_repo

    default = _member_services(project_repo(tmp_path / "default"))
    exposed = _member_services(_with_option(project_repo(tmp_path / "exposed"), "exposeSSH: true"))
    assert default.keys() == exposed.keys()
    with_ssh = [name for name, svc in exposed.items() if 22 in _ports(svc) and svc["spec"]["type"] != "ClusterIP"]
    assert len(with_ssh) >= 10, "the examples put SSH on most member Services"
    for name in with_ssh:
        assert exposed[name]["spec"]["type"] in ("LoadBalancer", "NodePort")
        assert default[name]["spec"]["type"] == exposed[name]["spec"]["type"]
        assert _ports(default[name]) == [p for p in _ports(exposed[name]) if p != 22]
        assert "generic-ssh" not in [p["name"] for p in default[name]["spec"]["ports"]]
    for name in set(exposed) - set(with_ssh):
        assert default[name] == exposed[name]


def test_explicit_false_is_the_default(tmp_path):
    from render_helpers import project_repo

    assert _member_services(_with_option(project_repo(tmp_path / "a"), "exposeSSH: false")) == \
        _member_services(project_repo(tmp_path / "b"))


@pytest.mark.parametrize("service_type,expose,expected_type,expected_ports", [
    ("LoadBalancer", False, "ClusterIP", [22]),   # SSH-only role: in-cluster only
    ("NodePort", False, "ClusterIP", [22]),
    ("ClusterIP", False, "ClusterIP", [22]),      # never external: SSH stays
    ("LoadBalancer", True, "LoadBalancer", [22]),  # KubeDirector's behaviour on request
    ("NodePort", True, "NodePort", [22]),
])
def test_ssh_only_role(tmp_path, service_type, expose, expected_type, expected_ports):
    from render_helpers import CONFORMANCE, conformance_repo

    if not (CONFORMANCE / "v1beta1" / "clusters" / "cr-cluster-centos7.yaml").is_file():
        pytest.skip("no conformance files")
    config = f"defaultServiceType: {service_type}\nkdrender: {{exposeSSH: {str(expose).lower()}}}\n"
    services = _member_services(conformance_repo(tmp_path, "v1beta1", "cr-cluster-centos7.yaml", config))
    assert services
    for svc in services.values():
        assert svc["spec"]["type"] == expected_type
        assert _ports(svc) == expected_ports
        assert ("externalTrafficPolicy" in svc["spec"]) == (expected_type != "ClusterIP")


def test_expose_ssh_must_be_a_boolean(tmp_path):
    from render_helpers import project_repo, run_cli

    root = _with_option(project_repo(tmp_path / "repo"), 'exposeSSH: "yes"')
    result = run_cli("validate", str(root))
    assert result.exit_code == 1
    assert "kdrender.yaml" in result.output and "exposeSSH" in result.output
