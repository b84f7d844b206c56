"""Issue 10 point 6: configcli with a pinned sha256, or shipped in the bundle (air-gapped).

Agent side under bash, dash and busybox (fakes of test_agent.py): a tampered download is refused
with a clear state line; the pinned digest passes; the bundled tarball installs without curl.
Renderer side: ``kdrender.agent.configcliFile`` puts the tarball into the kd-agent ConfigMap and
pins its digest; files outside the repo or through a symlink are refused.
"""

from __future__ import annotations

import base64
import hashlib
import os
from pathlib import Path

import pytest

from render_helpers import run_cli
from test_agent import CLUSTER, CONFIGCLI_INSTALL, Pod, ok, role_env, shell, tgz  # noqa: F401 (fixture)

from kdrender.pipeline import load_model, render_model

ROOT = Path(__file__).resolve().parent.parent
NO_CURL = "#!/bin/sh\necho \"curl $*\" >> \"$KD_FAKE/calls.log\"\necho 'curl must not run' >&2\nexit 99\n"


def configcli_tgz() -> bytes:
    return tgz({"configcli-0.8/install": (CONFIGCLI_INSTALL, 0o644)})


def pinned_pod(tmp_path, shell, sha: str) -> Pod:
    pod = Pod(tmp_path, shell)
    pod.set_role("controller")
    with open(pod.agent_dir / "controller.env", "a") as fh:
        fh.write(f"KD_CONFIGCLI_SHA256='{sha}'\n")
    pod.publish(CLUSTER)
    return pod


def test_download_with_the_pinned_sha256_installs(tmp_path, shell):
    served = (tmp_path / "fake/urls/tools.example/configcli.tgz")
    pod = pinned_pod(tmp_path, shell, "0" * 64)  # creates the served file; pin its real digest now
    env = role_env("controller") + f"KD_CONFIGCLI_SHA256='{hashlib.sha256(served.read_bytes()).hexdigest()}'\n"
    (pod.agent_dir / "controller.env").write_text(env)
    result = pod.run()
    ok(result)
    assert "configcli-install --new" in pod.calls() and pod.ready()
    assert "sha256" in result.stdout and "verified" in result.stdout


def test_tampered_download_is_refused(tmp_path, shell):
    pod = pinned_pod(tmp_path, shell, hashlib.sha256(configcli_tgz() + b"original").hexdigest())
    result = pod.run()
    assert result.returncode == 1
    assert pod.state().startswith(
        "config error: execution of app config failed: configcli.tgz does not match the pinned sha256 ")
    assert not any(c.startswith("configcli-install") for c in pod.calls())  # never unpacked or run
    assert not pod.path("/tmp/configcli.tgz").exists()
    assert pod.startscript_calls() == [] and not pod.ready()


def test_air_gapped_configcli_runs_without_curl(tmp_path, shell):
    """configcli comes from the bundle; curl (a fake that refuses any URL but the image's own
    file:// setup package) only ever fetches the package."""
    blob = configcli_tgz()
    pod = pinned_pod(tmp_path, shell, hashlib.sha256(blob).hexdigest())
    (pod.agent_dir / "configcli.tgz").write_bytes(blob)
    (pod.fake / "urls/tools.example/configcli.tgz").unlink()
    (pod.bin / "curl").write_text(NO_CURL.replace(
        "exit 99", 'case "$*" in *file:///opt/kd-packages/app.tgz*) cat "$KD_ROOT/opt/kd-packages/app.tgz" > appconfig.tgz; exit 0 ;; esac\nexit 99'))
    result = pod.run()
    ok(result)
    assert [c for c in pod.calls() if c.startswith("curl")] == ["curl -L --fail -o appconfig.tgz -- file:///opt/kd-packages/app.tgz"]
    assert "configcli-install --new" in pod.calls()
    assert "shipped in the bundle, no download" in result.stdout and "verified" in result.stdout
    assert pod.ready() and pod.startscript_calls() == ["--configure [gen=1]"]


def repo_with(tmp_path: Path, agent_options: str, files: dict | None = None) -> Path:
    repo = tmp_path / "repo"
    (repo / "catalog").mkdir(parents=True)
    (repo / "clusters").mkdir()
    (repo / "catalog" / "cassandra311.json").write_text((ROOT / "catalog" / "cassandra311.json").read_text())
    (repo / "clusters" / "c.yaml").write_text((ROOT / "clusters" / "cassandra311.yaml").read_text())
    (repo / "kdrender.yaml").write_text(f"kdrender:\n  agent: {agent_options}\n")
    for rel, data in (files or {}).items():
        (repo / rel).parent.mkdir(parents=True, exist_ok=True)
        (repo / rel).write_bytes(data)
    return repo


def test_configcli_file_is_shipped_in_the_kd_agent_configmap(tmp_path):
    blob = configcli_tgz()
    repo = repo_with(tmp_path, "{configcliFile: tools/configcli-0.8.tgz}", {"tools/configcli-0.8.tgz": blob})
    objects = render_model(load_model(str(repo)))[0][2]
    agent = next(o for o in objects if o["kind"] == "ConfigMap" and o["metadata"]["name"].endswith("-kd-agent"))
    assert base64.b64decode(agent["binaryData"]["configcli.tgz"]) == blob
    digest = hashlib.sha256(blob).hexdigest()
    assert f"KD_CONFIGCLI_SHA256='{digest}'\n" in agent["data"]["seed.env"]


def test_configcli_sha256_pins_the_download(tmp_path):
    repo = repo_with(tmp_path, "{configcliSHA256: " + "AB" * 32 + "}")
    objects = render_model(load_model(str(repo)))[0][2]
    agent = next(o for o in objects if o["kind"] == "ConfigMap" and o["metadata"]["name"].endswith("-kd-agent"))
    assert f"KD_CONFIGCLI_SHA256='{'ab' * 32}'\n" in agent["data"]["worker.env"]
    assert "binaryData" not in agent


@pytest.mark.parametrize("setup, message", [
    ("symlink", "is a symbolic link; kdrender reads no file through a link"),
    ("outside", "leaves the repo"),
    ("notgz", "is not a gzip tarball"),
    ("mismatch", "not the pinned configcliSHA256"),
])
def test_bad_configcli_file_is_refused(tmp_path, setup, message):
    outside = tmp_path / "secret.tgz"
    outside.write_bytes(configcli_tgz())
    options = "{configcliFile: tools/c.tgz}"
    files = {"tools/c.tgz": configcli_tgz()}
    if setup == "outside":
        options = "{configcliFile: ../secret.tgz}"
    elif setup == "notgz":
        files = {"tools/c.tgz": b"not a tarball"}
    elif setup == "mismatch":
        options = "{configcliFile: tools/c.tgz, configcliSHA256: '" + "0" * 64 + "'}"
    repo = repo_with(tmp_path, options, files)
    if setup == "symlink":  # even to a file inside the repo
        (repo / "tools/c.tgz").rename(repo / "tools/real.tgz")
        os.symlink("real.tgz", repo / "tools/c.tgz")
    result = run_cli("validate", str(repo))
    out = result.stdout + result.stderr
    assert result.exit_code == 1, out
    assert "kdrender.yaml:" in out and message in out
    assert "Traceback" not in out
