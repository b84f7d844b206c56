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
