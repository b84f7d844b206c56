"""The in-pod agent (kdrender/agent/kd-agent.sh), run for real under bash, dash and busybox sh.

Each test builds a fake container filesystem in tmp_path (``KD_ROOT``): the configmeta ConfigMap
mount (with kubelet's ``..data`` symlink swaps), the agent directory, and fakes first in PATH:

* ``curl``: ``file://`` URLs are read from inside the fake root (the "image"); other URLs are
  served from ``fake/urls/<host>/<path>``; a missing source fails like curl (exit 37);
* ``systemctl``: fails ``fake/systemctl-failures`` times, then succeeds;
* ``getent``: resolves the names listed in ``fake/hosts``;
* a real setup package (``pkg-1.0/startscript`` in a .tgz) whose startscript appends its
  arguments and the ``gen`` of the current configmeta.json to ``fake/startscript.log``, and exits
  with the code in ``fake/rc.<event>`` (0 when absent);
* a real configcli package whose ``install`` records its arguments and creates the binaries.

Every other call the fakes see is appended to ``fake/calls.log``, so tests assert exact sequences.
"""

from __future__ import annotations

import grp
import io
import json
import os
import pwd
import re
import shutil
import signal
import stat
import subprocess
import tarfile
import threading
import time
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "kdrender" / "agent" / "kd-agent.sh"
DOMAIN = "kdhs-7xq2m.analytics.svc.cluster.local"

SHELLS = {"bash": ["bash"], "dash": ["dash"], "busybox": ["busybox", "sh"]}

FAKE_CURL = r"""#!/bin/sh
echo "$*" >> "$KD_FAKE/curl-args.log"
n=$(cat "$KD_FAKE/curl-failures" 2>/dev/null || echo 0)
if [ "$n" -gt 0 ]; then
    echo $((n - 1)) > "$KD_FAKE/curl-failures"
    echo "curl: (7) Failed to connect" >&2
    exit 7
fi
url= out=
while [ $# -gt 0 ]; do
    case $1 in
        -L) ;;
        -o) shift; out=$1 ;;
        *) url=$1 ;;
    esac
    shift
done
shown=$out
case $shown in "$KD_ROOT"/*) shown=${shown#"$KD_ROOT"} ;; esac
echo "curl -L $url -o $shown" >> "$KD_FAKE/calls.log"
case $url in
    file://*) src=$KD_ROOT${url#file://} ;;
    *://*) src=$KD_FAKE/urls/${url#*://} ;;
    *) src=/nonexistent ;;
esac
[ -f "$src" ] || { echo "curl: (37) Couldn't open file $src" >&2; exit 37; }
cat "$src" > "$out"
"""

FAKE_SYSTEMCTL = r"""#!/bin/sh
echo "systemctl $*" >> "$KD_FAKE/calls.log"
n=$(cat "$KD_FAKE/systemctl-failures" 2>/dev/null || echo 0)
if [ "$n" -gt 0 ]; then
    echo $((n - 1)) > "$KD_FAKE/systemctl-failures"
    echo "System has not been booted with systemd"
    exit 1
fi
echo "active (running)"
"""

FAKE_GETENT = r"""#!/bin/sh
echo "getent $*" >> "$KD_FAKE/getent.log"
[ "$1" = hosts ] || exit 2
# fake/hosts: one "<name>" (address 10.1.2.3) or "<name> <address>" per line
awk -v n="$2" '$1 == n { print ($2 == "" ? "10.1.2.3" : $2) " " n; found = 1; exit } END { exit !found }' \
    "$KD_FAKE/hosts" 2>/dev/null
"""

STARTSCRIPT = r"""#!/bin/sh
gen=$(sed -n 's/.*"gen":"\([^"]*\)".*/\1/p' "$KD_ROOT/etc/guestconfig/configmeta.json" 2>/dev/null)
echo "$* [gen=$gen]" >> "$KD_FAKE/startscript.log"
echo "stdout $1"
echo "stderr $1" >&2
event=${1#--}
if [ -f "$KD_FAKE/sleep.$event" ]; then
    sleep "$(cat "$KD_FAKE/sleep.$event")"
fi
if [ -f "$KD_FAKE/rc.$event" ]; then
    exit "$(cat "$KD_FAKE/rc.$event")"
fi
exit 0
"""

CONFIGCLI_INSTALL = r"""#!/bin/sh
echo "configcli-install $*" >> "$KD_FAKE/calls.log"
if [ "$1" = --new ]; then p=/usr/local; else p=/usr; fi
mkdir -p "$KD_ROOT$p/bin"
for f in configcli ccli configmacro; do
    printf '#!/bin/sh\n' > "$KD_ROOT$p/bin/$f"
    chmod 755 "$KD_ROOT$p/bin/$f"
done
"""

TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ kd-agent\[\d+\]: ")


def fqdn(pod: str) -> str:
    return f"{pod}.{DOMAIN}"


def tgz(files: dict) -> bytes:
    """A .tgz with the given {path: (content, mode)} entries (directories implied)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        dirs = sorted({str(Path(p).parent) for p in files})
        for d in dirs:
            info = tarfile.TarInfo(d)
            info.type = tarfile.DIRTYPE
            info.mode = 0o755
            tar.addfile(info)
        for path, (content, mode) in files.items():
            data = content.encode()
            info = tarfile.TarInfo(path)
            info.size = len(data)
            info.mode = mode
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def role_env(role: str, package: str = "file:///opt/kd-packages/app.tgz", new_layout: bool = True,
             events: str = "all", systemd: bool = False, poll: int = 0, configure_timeout: int = 0) -> str:
    values = {
        "KD_ROLE": role,
        "KD_PACKAGE_URL": package,
        "KD_NEW_LAYOUT": "true" if new_layout else "false",
        "KD_EVENTS": events,
        "KD_SYSTEMD": "true" if systemd else "false",
        "KD_CONFIGCLI_URL": "https://tools.example/configcli.tgz",
        "KD_POLL_SECONDS": str(poll),
        "KD_CONFIGURE_TIMEOUT": str(configure_timeout),
    }
    return "".join(f"{k}='{v}'\n" for k, v in values.items())


class Pod:
    """One member's container, as seen by the agent, in a temporary root."""

    def __init__(self, tmp_path: Path, shell: list, pod: str = "kdss-ctrl-0"):
        self.shell = shell
        self.pod = pod
        self.root = tmp_path / "root"
        self.fake = tmp_path / "fake"
        self.bin = tmp_path / "bin"
        self.cm = self.root / "etc/kd/configmeta"
        self.agent_dir = self.root / "etc/kd/agent"
        for d in (self.root / "tmp", self.root / "usr/bin", self.root / "usr/local/bin", self.root / "run",
                  self.fake / "urls", self.bin, self.cm, self.agent_dir):
            d.mkdir(parents=True, exist_ok=True)
        for name, text in (("curl", FAKE_CURL), ("systemctl", FAKE_SYSTEMCTL), ("getent", FAKE_GETENT)):
            (self.bin / name).write_text(text)
            (self.bin / name).chmod(0o755)
        # The agent ships in a ConfigMap; it is started with /bin/sh, so no executable bit here.
        shutil.copy(SCRIPT, self.agent_dir / "kd-agent.sh")
        (self.agent_dir / "kd-agent.sh").chmod(0o444)
        # The setup package lives in the image (file://); configcli is downloaded.
        package = self.root / "opt/kd-packages/app.tgz"
        package.parent.mkdir(parents=True)
        package.write_bytes(tgz({"pkg-1.0/startscript": (STARTSCRIPT, 0o644)}))
        configcli = self.fake / "urls/tools.example/configcli.tgz"
        configcli.parent.mkdir(parents=True)
        configcli.write_bytes(tgz({"configcli-0.8/install": (CONFIGCLI_INSTALL, 0o644)}))
        (self.fake / "hosts").write_text("")
        self.members: dict = {}
        self.last = None

    # -- ConfigMap mount -------------------------------------------------------------------

    def pod_json(self, pod: str, gen: str) -> str:
        """The configmeta.json the agent should assemble for ``pod``."""
        return json.dumps({"gen": gen, "node": {"hostname": fqdn(pod)}}, separators=(",", ":"))

    @staticmethod
    def shared_json(gen: str) -> str:
        """The ConfigMap's configmeta.json: the document every member shares, without "node"."""
        return json.dumps({"gen": gen}, separators=(",", ":"))

    def members_text(self, members: dict) -> str:
        return "".join(f"{role} {fqdn(p)}\n" for role in sorted(members) for p in members[role])

    def publish(self, members: dict, gen: str = "1", connections: str = "c1",
                overrides: dict | None = None, files: dict | None = None) -> None:
        """Write a new ConfigMap version the way kubelet does: new dir, atomic ..data swap."""
        self.members = members
        if files is None:
            files = {"members": self.members_text(members), "connections": connections + "\n",
                     "configmeta.json": self.shared_json(gen)}
            for role in members:
                for p in members[role]:
                    files[f"{p}.node.json"] = json.dumps({"hostname": fqdn(p)}, separators=(",", ":"))
        files.update(overrides or {})
        old = os.readlink(self.cm / "..data") if (self.cm / "..data").is_symlink() else None
        version = self.cm / f"..{time.time_ns()}"
        version.mkdir()
        for key, text in files.items():
            (version / key).write_text(text)
        os.symlink(version.name, self.cm / "..data_tmp")
        os.replace(self.cm / "..data_tmp", self.cm / "..data")
        for entry in self.cm.iterdir():
            if entry.name.startswith(".."):
                continue
            if entry.name not in files:
                entry.unlink()
        for key in files:
            if not (self.cm / key).is_symlink():
                os.symlink(f"..data/{key}", self.cm / key)
        if old:
            shutil.rmtree(self.cm / old)

    def install_rendered(self, agent: dict, role: str) -> None:
        """The files of a rendered kd-agent ConfigMap, plus what the role's settings point at: the
        image's setup package (a ``cassandra/startscript``) and configcli's release URL."""
        for key, text in agent.items():
            (self.agent_dir / key).write_text(text)
        env = dict(line.split("=", 1) for line in agent[f"{role}.env"].splitlines())
        package = self.path(env["KD_PACKAGE_URL"].strip("'")[len("file://"):])
        package.parent.mkdir(parents=True, exist_ok=True)
        package.write_bytes(tgz({"cassandra/startscript": (STARTSCRIPT, 0o644)}))
        url = env["KD_CONFIGCLI_URL"].strip("'").split("://", 1)[1]
        (self.fake / "urls" / url).parent.mkdir(parents=True, exist_ok=True)
        (self.fake / "urls" / url).write_bytes(tgz({"configcli-0.8/install": (CONFIGCLI_INSTALL, 0o644)}))

    def set_role(self, role: str, **kw) -> None:
        (self.agent_dir / f"{role}.env").write_text(role_env(role, **kw))

    def resolvable(self, *pods: str) -> None:
        with open(self.fake / "hosts", "a") as fh:
            for p in pods:
                fh.write(fqdn(p) + "\n")

    def dns(self, name: str, address: str = "") -> None:
        with open(self.fake / "hosts", "a") as fh:
            fh.write(f"{name} {address}".rstrip() + "\n")

    # -- running ---------------------------------------------------------------------------

    def env(self, oneshot: bool = True, **extra) -> dict:
        env = {
            "PATH": f"{self.bin}:{os.environ.get('PATH', '/usr/bin:/bin')}",
            "HOME": str(self.root / "tmp"),
            "KD_ROOT": str(self.root),
            "KD_POD_NAME": self.pod,
            "KD_FAKE": str(self.fake),
            "KD_PEER_WAIT_SECONDS": "0",
            "KD_FETCH_BACKOFF": "0",  # downloads are retried without waiting
        }
        if oneshot:
            env["KD_ONESHOT"] = "1"
        env.update({k: str(v) for k, v in extra.items()})
        return env

    def run(self, oneshot: bool = True, **extra) -> subprocess.CompletedProcess:
        self.last = subprocess.run([*self.shell, str(self.agent_dir / "kd-agent.sh")], env=self.env(oneshot, **extra),
                                   stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60)
        return self.last

    def start(self, **extra) -> subprocess.Popen:
        """The agent as postStart runs it: in the background, looping, logging to a file."""
        with open(self.fake / "agent.log", "ab") as log:
            return subprocess.Popen([*self.shell, str(self.agent_dir / "kd-agent.sh")], env=self.env(False, **extra),
                                    stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                    start_new_session=True)

    def wait_for(self, proc: subprocess.Popen, condition, what: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            log = (self.fake / "agent.log").read_text()
            assert proc.poll() is None, f"agent exited ({proc.returncode}) waiting for {what}:\n{log}"
            assert time.monotonic() < deadline, f"timed out waiting for {what}:\n{log}"
            time.sleep(0.05)

    def stop(self, proc: subprocess.Popen) -> int:
        self.path("/run/kd/stop").write_text("")
        try:
            return proc.wait(timeout=20)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()

    # -- observations ----------------------------------------------------------------------

    def path(self, p: str) -> Path:
        return self.root / p.lstrip("/")

    def read(self, p: str) -> str:
        return self.path(p).read_text()

    def lines(self, name: str) -> list:
        f = self.fake / name
        return f.read_text().splitlines() if f.exists() else []

    def startscript_calls(self) -> list:
        return self.lines("startscript.log")

    def calls(self) -> list:
        return self.lines("calls.log")

    def container_id(self) -> str:
        return self.read("/run/kd-container-id").strip()

    def state(self) -> str:
        return self.read("/run/kd/state").strip()

    def ready(self) -> bool:
        return self.path("/run/kd/ready").exists()

    def restart_container(self) -> None:
        """A new container: /run (tmpfs) and the image layer's /usr/bin links are gone."""
        shutil.rmtree(self.path("/run"))
        self.path("/run").mkdir()
        for link in ("bdvcli", "bd_vcli", "configcli", "ccli", "configmacro"):
            p = self.path(f"/usr/bin/{link}")
            if p.is_symlink() or p.exists():
                p.unlink()


def ok(result: subprocess.CompletedProcess) -> None:
    assert result.returncode == 0, f"agent failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"


def run_meanwhile(pod, action, **extra) -> None:
    """Run the agent (oneshot) while ``action`` happens 1.2 s later (a peer resolving, getting Ready)."""
    def later():
        time.sleep(1.2)
        action()

    t = threading.Thread(target=later)
    t.start()
    ok(pod.run(**extra))
    t.join()


def add(event: str, role: str, pods: list, gen: str) -> str:
    return f"--{event} --nodegroup 1 --role {role} --fqdns {','.join(fqdn(p) for p in pods)} [gen={gen}]"


CLUSTER = {"controller": ["kdss-ctrl-0"], "worker": ["kdss-wrk-0", "kdss-wrk-1"]}


@pytest.fixture(params=list(SHELLS))
def shell(request):
    cmd = SHELLS[request.param]
    exe = shutil.which(cmd[0])
    if exe is None:
        pytest.skip(f"{cmd[0]} is not installed (apt-get install -y {cmd[0]})")
    return [exe, *cmd[1:]]


@pytest.fixture
def pod(tmp_path, shell):
    p = Pod(tmp_path, shell)
    p.set_role("controller")
    p.set_role("worker")
    p.publish(CLUSTER)
    return p


@pytest.fixture
def configured(pod):
    ok(pod.run())
    assert pod.startscript_calls() == ["--configure [gen=1]"]
    return pod


# -- first start ----------------------------------------------------------------------------


def test_first_start_runs_kubedirector_steps_and_configures_once(pod):
    result = pod.run()
    ok(result)
    cid = pod.container_id()
    assert cid
    assert pod.calls() == [
        "curl -L https://tools.example/configcli.tgz -o /tmp/configcli.tgz",
        "configcli-install --new",
        "curl -L file:///opt/kd-packages/app.tgz -o appconfig.tgz",
    ]
    assert pod.startscript_calls() == ["--configure [gen=1]"]
    assert pod.read("/opt/guestconfig/configure.status") == f"{cid}=0"
    assert pod.read("/opt/guestconfig/configure.stdout") == "stdout --configure\n"
    assert pod.read("/opt/guestconfig/configure.stderr") == "stderr --configure\n"
    assert pod.ready() and pod.state() == "configured"
    # configmeta: the member's own document, /etc/guestconfig mode 700 (new layout)
    assert pod.read("/etc/guestconfig/configmeta.json") == pod.pod_json("kdss-ctrl-0", "1")
    assert stat.S_IMODE(pod.path("/etc/guestconfig").stat().st_mode) == 0o700
    assert pod.read("/etc/guestconfig/kd-members") == pod.members_text(CLUSTER)
    assert pod.read("/etc/guestconfig/kd-connections") == "c1\n"
    # configcli (new layout) and its links, KD's legacy links, cleanup
    local = str(pod.path("/usr/local/bin"))
    assert os.readlink(pod.path("/usr/local/bin/bdvcli")) == f"{local}/configcli"
    assert os.readlink(pod.path("/usr/local/bin/bd_vcli")) == f"{local}/configcli"
    for link, target in (("bdvcli", "configcli"), ("bd_vcli", "configcli"), ("configcli", "configcli"),
                         ("ccli", "ccli"), ("configmacro", "configmacro")):
        assert os.readlink(pod.path(f"/usr/bin/{link}")) == f"{local}/{target}"
    assert not list(pod.path("/tmp").glob("configcli*"))
    assert sorted(p.name for p in pod.path("/opt/guestconfig").iterdir()) == [
        "configure.status", "configure.stderr", "configure.stdout", "pkg-1.0"]
    assert stat.S_IMODE(pod.path("/opt/guestconfig").stat().st_mode) == 0o700
    assert os.access(pod.path("/opt/guestconfig/pkg-1.0/startscript"), os.X_OK)
    # every log line is timestamped
    lines = result.stdout.splitlines()
    assert lines and all(TIMESTAMP.match(line) for line in lines), result.stdout

    # the same container again (agent re-run): nothing is repeated
    ok(pod.run())
    assert pod.startscript_calls() == ["--configure [gen=1]"]
    assert len(pod.calls()) == 3
    assert pod.container_id() == cid and pod.ready()


def test_legacy_layout_installs_configcli_into_usr(tmp_path, shell):
    pod = Pod(tmp_path, shell)
    pod.set_role("controller", new_layout=False)
    pod.publish(CLUSTER)
    ok(pod.run())
    assert pod.calls()[1] == "configcli-install "
    usr = str(pod.path("/usr/bin"))
    assert os.readlink(pod.path("/usr/bin/bdvcli")) == f"{usr}/configcli"
    assert os.readlink(pod.path("/usr/bin/bd_vcli")) == f"{usr}/configcli"
    assert not pod.path("/usr/local/bin/configcli").exists()
    assert not pod.path("/usr/bin/ccli").is_symlink()  # no legacy links
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(pod.path("/etc/guestconfig").stat().st_mode) == 0o777 & ~umask  # no chmod 700
    assert pod.startscript_calls() == ["--configure [gen=1]"] and pod.ready()


def test_existing_configcli_and_package_are_not_reinstalled(pod):
    pod.path("/usr/bin/configcli").write_text("#!/bin/sh\n")
    pre = pod.path("/opt/guestconfig/pkg-0.9")
    pre.mkdir(parents=True)
    (pre / "startscript").write_text(STARTSCRIPT)
    (pre / "startscript").chmod(0o755)
    ok(pod.run())
    assert pod.calls() == []
    assert pod.startscript_calls() == ["--configure [gen=1]"] and pod.ready()


def test_systemd_wait(tmp_path, shell):
    pod = Pod(tmp_path, shell)
    pod.set_role("controller", systemd=True)
    pod.publish(CLUSTER)
    (pod.fake / "systemctl-failures").write_text("2\n")
    ok(pod.run())
    assert pod.calls()[:4] == ["systemctl status systemd-journald"] * 3 + [
        "curl -L https://tools.example/configcli.tgz -o /tmp/configcli.tgz"]
    assert pod.read("/tmp/journald-status.out") == "active (running)\n"
    assert pod.ready()


def test_events_without_configure_are_ready_without_configure(tmp_path, shell):
    pod = Pod(tmp_path, shell)
    pod.set_role("controller", events="addnodes delnodes")
    pod.publish(CLUSTER)
    ok(pod.run())
    assert pod.startscript_calls() == []
    assert not pod.path("/opt/guestconfig/configure.status").exists()
    assert pod.ready() and pod.state() == "configured"
    assert pod.path("/etc/guestconfig/configmeta.json").exists()


def test_empty_event_list_still_watches_but_never_notifies(tmp_path, shell):
    pod = Pod(tmp_path, shell)
    pod.set_role("controller", events="")
    pod.publish(CLUSTER)
    ok(pod.run())
    pod.resolvable("kdss-wrk-2")
    pod.publish({"controller": ["kdss-ctrl-0"], "worker": ["kdss-wrk-0", "kdss-wrk-2"]}, gen="2")
    ok(pod.run())
    assert pod.startscript_calls() == []
    assert pod.read("/etc/guestconfig/configmeta.json") == pod.pod_json("kdss-ctrl-0", "2")


# -- configure failures, restarts ----------------------------------------------------------


def test_failing_configure_is_config_error(pod):
    (pod.fake / "rc.configure").write_text("3\n")
    result = pod.run()
    assert result.returncode != 0
    cid = pod.container_id()
    assert pod.read("/opt/guestconfig/configure.status") == f"{cid}=3"
    assert not pod.ready()
    assert pod.state() == "config error: configure failed with exit status 3"
    # the same container: still config error, configure is not re-run
    assert pod.run().returncode != 0
    assert pod.startscript_calls() == ["--configure [gen=1]"]
    assert not pod.ready() and pod.state() == "config error: configure failed with exit status 3"


def test_config_error_member_retries_setup_in_a_new_container(pod):
    (pod.fake / "rc.configure").write_text("3\n")
    assert pod.run().returncode != 0
    old = pod.container_id()
    (pod.fake / "rc.configure").unlink()
    pod.restart_container()
    ok(pod.run())
    assert pod.container_id() != old
    assert pod.startscript_calls() == ["--configure [gen=1]", "--configure [gen=1]"]
    assert pod.read("/opt/guestconfig/configure.status") == f"{pod.container_id()}=0"
    assert pod.ready()


def test_restart_with_configured_status_does_not_configure_again(configured):
    pod = configured
    old = pod.container_id()
    pod.restart_container()
    assert not pod.path("/usr/bin/bdvcli").is_symlink()
    ok(pod.run())
    assert pod.container_id() != old
    assert pod.read("/opt/guestconfig/configure.status") == f"{old}=0"
    assert pod.startscript_calls() == ["--configure [gen=1]"]
    assert pod.ready() and pod.state() == "configured"
    # KD re-creates the legacy links on a new container
    for link in ("bdvcli", "bd_vcli", "configcli", "ccli", "configmacro"):
        assert pod.path(f"/usr/bin/{link}").is_symlink()
    assert len(pod.calls()) == 3


def test_restart_with_persistent_run_gets_a_new_container_id(configured):
    """/run is a memory emptyDir: it survives container restarts, so the id follows the container."""
    pod = configured
    ok(pod.run(KD_CONTAINER_FINGERPRINT="first"))
    first = pod.container_id()
    pod.path("/run/kd/ready").unlink()
    pod.path("/usr/bin/ccli").unlink()
    ok(pod.run(KD_CONTAINER_FINGERPRINT="second"))
    assert pod.container_id() != first
    assert pod.ready() and pod.path("/usr/bin/ccli").is_symlink()
    assert pod.startscript_calls() == ["--configure [gen=1]"]


def test_stale_ready_file_is_removed_at_start(pod):
    pod.path("/run/kd").mkdir(parents=True)
    pod.path("/run/kd/ready").write_text("")
    (pod.fake / "rc.configure").write_text("1\n")
    assert pod.run().returncode != 0
    assert not pod.ready()


def test_interrupted_configure_starts_over(pod):
    pod.path("/opt/guestconfig").mkdir(parents=True)
    pod.path("/opt/guestconfig/configure.status").write_text("an-earlier-container=")
    ok(pod.run())
    assert pod.startscript_calls() == ["--configure [gen=1]"]
    assert pod.read("/opt/guestconfig/configure.status") == f"{pod.container_id()}=0"


def test_running_configure_of_the_same_container_is_awaited(pod):
    pod.path("/run/kd-container-id").write_text("this-container\n")
    pod.path("/opt/guestconfig").mkdir(parents=True)
    status = pod.path("/opt/guestconfig/configure.status")
    status.write_text("this-container=")

    def finish():
        time.sleep(0.7)
        with open(status, "a") as fh:
            fh.write("0")

    t = threading.Thread(target=finish)
    t.start()
    start = time.monotonic()
    result = pod.run()
    t.join()
    ok(result)
    assert time.monotonic() - start >= 0.6
    assert pod.container_id() == "this-container"
    assert pod.startscript_calls() == []
    assert pod.ready()


def test_malformed_status_is_config_error(pod):
    pod.path("/opt/guestconfig").mkdir(parents=True)
    pod.path("/opt/guestconfig/configure.status").write_text("garbage")
    assert pod.run().returncode != 0
    assert pod.state() == "config error: configure failed with malformed status file"
    assert not pod.ready() and pod.startscript_calls() == []


# -- roles without a package, file injections -----------------------------------------------


def _identity():
    return pwd.getpwuid(os.getuid()).pw_name, grp.getgrgid(os.getgid()).gr_name


def test_role_without_package_only_injects_files(tmp_path, shell):
    pod = Pod(tmp_path, shell, pod="kdss-gw-0")
    pod.set_role("gateway", package="")
    user, group = _identity()
    (pod.agent_dir / "gateway.injections").write_text(
        f"https://files.example/conf/gw.conf\t/etc/gw\t640\t{user}\t{group}\n"
        "file:///opt/image/banner.txt\t/srv/www/\t\t\t\n")
    (pod.fake / "urls/files.example/conf").mkdir(parents=True)
    (pod.fake / "urls/files.example/conf/gw.conf").write_text("listen 80\n")
    pod.path("/opt/image").mkdir(parents=True)
    pod.path("/opt/image/banner.txt").write_text("hello\n")
    pod.publish({"gateway": ["kdss-gw-0"], "worker": ["kdss-wrk-0"]})
    result = pod.run(oneshot=False)  # no package: exits by itself, no watch loop
    ok(result)
    assert pod.calls() == [
        "curl -L https://files.example/conf/gw.conf -o /etc/gw/gw.conf",
        "curl -L file:///opt/image/banner.txt -o /srv/www/banner.txt",
    ]
    conf = pod.path("/etc/gw/gw.conf")
    assert conf.read_text() == "listen 80\n"
    assert stat.S_IMODE(conf.stat().st_mode) == 0o640
    assert conf.stat().st_uid == os.getuid() and conf.stat().st_gid == os.getgid()
    assert pod.read("/srv/www/banner.txt") == "hello\n"
    root = pod.root
    assert f"mkdir -p {root}/etc/gw && cd {root}/etc/gw && curl -L --fail -o {root}/etc/gw/gw.conf -- " \
           f"https://files.example/conf/gw.conf && chmod 640 {root}/etc/gw/gw.conf && chown -- {user} " \
           f"{root}/etc/gw/gw.conf && chgrp -- {group} {root}/etc/gw/gw.conf" in result.stdout
    assert pod.lines("curl-args.log")[0] == f"-L --fail -o {root}/etc/gw/gw.conf -- https://files.example/conf/gw.conf"
    assert pod.ready() and pod.state() == "configured"
    assert not pod.path("/etc/guestconfig").exists()
    assert not pod.path("/opt/guestconfig").exists()
    assert not pod.path("/usr/bin/configcli").exists()
    assert pod.startscript_calls() == []


def test_injections_run_before_setup_for_roles_with_a_package(tmp_path, shell):
    pod = Pod(tmp_path, shell)
    pod.set_role("controller")
    (pod.agent_dir / "controller.injections").write_text(
        "https://files.example/app.key\t/etc/app\t600\t\t\n")
    (pod.fake / "urls/files.example").mkdir(parents=True)
    (pod.fake / "urls/files.example/app.key").write_text("k\n")
    pod.publish(CLUSTER)
    ok(pod.run())
    assert pod.calls()[0] == "curl -L https://files.example/app.key -o /etc/app/app.key"
    assert stat.S_IMODE(pod.path("/etc/app/app.key").stat().st_mode) == 0o600
    assert pod.startscript_calls() == ["--configure [gen=1]"] and pod.ready()


def test_failed_injection_is_config_error(tmp_path, shell):
    pod = Pod(tmp_path, shell)
    pod.set_role("controller")
    (pod.agent_dir / "controller.injections").write_text("https://files.example/missing\t/etc/app\t644\t\t\n")
    pod.publish(CLUSTER)
    result = pod.run(KD_FETCH_ATTEMPTS=3)
    assert result.returncode != 0
    assert pod.state() == ("config error: failed requested file injections: "
                           f"file injection ({pod.root}/etc/app/missing) failed with exit status 37")
    assert not pod.ready()
    # tried KD_FETCH_ATTEMPTS times before the config error
    assert pod.startscript_calls() == [] and len(pod.calls()) == 3
    assert "download of https://files.example/missing failed (exit status 37, attempt 2 of 3); retrying in 0s" \
        in result.stdout


# -- watching the ConfigMap ----------------------------------------------------------------


def test_scale_up_updates_configmeta_then_notifies_addnodes(configured):
    pod = configured
    grown = {"controller": ["kdss-ctrl-0"], "worker": ["kdss-wrk-0", "kdss-wrk-1", "kdss-wrk-2"]}
    pod.resolvable("kdss-wrk-2")
    pod.publish(grown, gen="2")
    ok(pod.run())
    # gen=2: the startscript saw the new configmeta when it was notified
    assert pod.startscript_calls() == ["--configure [gen=1]", add("addnodes", "worker", ["kdss-wrk-2"], "2")]
    assert pod.read("/etc/guestconfig/configmeta.json") == pod.pod_json("kdss-ctrl-0", "2")
    assert pod.read("/etc/guestconfig/kd-members") == pod.members_text(grown)
    assert pod.lines("getent.log") == [f"getent hosts {fqdn('kdss-wrk-2')}"]
    ok(pod.run())
    assert len(pod.startscript_calls()) == 2


def test_scale_down_notifies_delnodes_with_all_removed_fqdns(tmp_path, shell):
    pod = Pod(tmp_path, shell)
    pod.set_role("controller")
    big = {"controller": ["kdss-ctrl-0"], "worker": [f"kdss-wrk-{i}" for i in range(4)]}
    pod.publish(big)
    ok(pod.run())
    pod.publish({"controller": ["kdss-ctrl-0"], "worker": ["kdss-wrk-0", "kdss-wrk-1"]}, gen="2")
    ok(pod.run())
    assert pod.startscript_calls() == ["--configure [gen=1]",
                                       add("delnodes", "worker", ["kdss-wrk-2", "kdss-wrk-3"], "2")]
    assert pod.lines("getent.log") == []


def test_deletions_before_additions_roles_in_sorted_order(configured):
    pod = configured
    pod.resolvable("kdss-alpha-0", "kdss-zeta-0", "kdss-zeta-1")
    pod.publish({"controller": ["kdss-ctrl-0"], "worker": ["kdss-wrk-0", "kdss-wrk-1"], "zeta": ["kdss-zeta-0"]},
                gen="2")
    ok(pod.run())
    pod.publish({"alpha": ["kdss-alpha-0"], "controller": ["kdss-ctrl-0"], "worker": ["kdss-wrk-0"],
                 "zeta": ["kdss-zeta-0", "kdss-zeta-1"]}, gen="3")
    ok(pod.run())
    assert pod.startscript_calls() == [
        "--configure [gen=1]",
        add("addnodes", "zeta", ["kdss-zeta-0"], "2"),
        add("delnodes", "worker", ["kdss-wrk-1"], "3"),
        add("addnodes", "alpha", ["kdss-alpha-0"], "3"),
        add("addnodes", "zeta", ["kdss-zeta-1"], "3"),
    ]
    # role removal: like shrinking it to 0
    pod.publish({"alpha": ["kdss-alpha-0"], "controller": ["kdss-ctrl-0"], "worker": ["kdss-wrk-0"]}, gen="4")
    ok(pod.run())
    assert pod.startscript_calls()[-1] == add("delnodes", "zeta", ["kdss-zeta-0", "kdss-zeta-1"], "4")


def test_unchanged_configmap_does_nothing(configured):
    pod = configured
    before = pod.path("/etc/guestconfig/configmeta.json").stat().st_ino
    pod.publish(CLUSTER)  # a new ConfigMap version with the same content
    ok(pod.run())
    ok(pod.run())
    assert pod.startscript_calls() == ["--configure [gen=1]"]
    assert pod.path("/etc/guestconfig/configmeta.json").stat().st_ino == before
    assert len(pod.calls()) == 3 and pod.lines("getent.log") == []


def test_only_own_configmeta_changed_updates_the_file(configured):
    pod = configured
    pod.publish(CLUSTER, overrides={"configmeta.json": pod.shared_json("2")})
    ok(pod.run())
    assert pod.read("/etc/guestconfig/configmeta.json") == pod.pod_json("kdss-ctrl-0", "2")
    assert pod.startscript_calls() == ["--configure [gen=1]"]


def test_connections_change_runs_reconnect(configured):
    pod = configured
    cid = pod.container_id()
    pod.publish(CLUSTER, gen="2", connections="c2")
    ok(pod.run())
    assert pod.startscript_calls() == ["--configure [gen=1]", "--reconnect [gen=2]"]
    # KubeDirector's reconnect command: status rewritten, output appended
    assert pod.read("/opt/guestconfig/configure.status") == f"{cid}=0"
    assert pod.read("/opt/guestconfig/configure.stdout") == "stdout --configure\nstdout --reconnect\n"
    assert pod.read("/etc/guestconfig/kd-connections") == "c2\n"
    ok(pod.run())
    assert len(pod.startscript_calls()) == 2


def test_failed_reconnect_is_retried(configured):
    pod = configured
    (pod.fake / "rc.reconnect").write_text("4\n")
    pod.publish(CLUSTER, gen="2", connections="c2")
    ok(pod.run())
    # unlike KubeDirector, configure.status keeps the configure result
    assert pod.read("/opt/guestconfig/configure.status") == f"{pod.container_id()}=0"
    assert pod.read("/etc/guestconfig/kd-connections") == "c1\n"
    assert pod.ready()  # a failed notification does not make the member unready
    (pod.fake / "rc.reconnect").unlink()
    ok(pod.run())
    ok(pod.run())
    assert pod.startscript_calls() == ["--configure [gen=1]", "--reconnect [gen=2]", "--reconnect [gen=2]"]
    assert pod.read("/opt/guestconfig/configure.status") == f"{pod.container_id()}=0"


def test_event_list_without_addnodes_skips_addnodes(tmp_path, shell):
    pod = Pod(tmp_path, shell)
    pod.set_role("controller", events="configure delnodes")
    pod.publish(CLUSTER)
    ok(pod.run())
    grown = {"controller": ["kdss-ctrl-0"], "worker": ["kdss-wrk-0", "kdss-wrk-1", "kdss-wrk-2"]}
    pod.resolvable("kdss-wrk-2")
    pod.publish(grown, gen="2")
    ok(pod.run())
    assert pod.startscript_calls() == ["--configure [gen=1]"]
    assert pod.read("/etc/guestconfig/configmeta.json") == pod.pod_json("kdss-ctrl-0", "2")
    assert pod.read("/etc/guestconfig/kd-members") == pod.members_text(grown)
    pod.publish(CLUSTER, gen="3")
    ok(pod.run())
    assert pod.startscript_calls() == ["--configure [gen=1]", add("delnodes", "worker", ["kdss-wrk-2"], "3")]


def test_event_list_without_delnodes_skips_delnodes(tmp_path, shell):
    pod = Pod(tmp_path, shell)
    pod.set_role("controller", events="configure addnodes")
    pod.publish(CLUSTER)
    ok(pod.run())
    pod.publish({"controller": ["kdss-ctrl-0"], "worker": ["kdss-wrk-0"]}, gen="2")
    ok(pod.run())
    assert pod.startscript_calls() == ["--configure [gen=1]"]


READY_DOMAIN = "kdhs-7xq2m-ready.analytics.svc.cluster.local"


def test_addnodes_only_after_the_new_peer_is_ready(tmp_path, shell):
    """With the readiness Service, a peer whose name resolves (publishNotReadyAddresses) is not
    yet notified about: only once its address has a name under the readiness Service."""
    pod = Pod(tmp_path, shell)
    for role in ("controller", "worker"):
        (pod.agent_dir / f"{role}.env").write_text(role_env(role) + f"KD_READY_DOMAIN='{READY_DOMAIN}'\n")
    pod.publish(CLUSTER)
    ok(pod.run())
    grown = {"controller": ["kdss-ctrl-0"], "worker": ["kdss-wrk-0", "kdss-wrk-1", "kdss-wrk-2"]}
    pod.dns(fqdn("kdss-wrk-2"), "10.0.7.21")
    pod.dns(f"10-0-7-99.{READY_DOMAIN}")  # another member is Ready: not this one
    pod.publish(grown, gen="2")
    result = pod.run()
    ok(result)
    assert pod.startscript_calls() == ["--configure [gen=1]"]
    assert f"new peer {fqdn('kdss-wrk-2')} (10.0.7.21) is not ready after 0s" in result.stdout
    assert "notify --addnodes for role worker postponed: peers not ready; will retry" in result.stdout
    lookups = pod.lines("getent.log")
    assert f"getent hosts 10-0-7-21.{READY_DOMAIN}" in lookups

    # the peer finishes its --configure and becomes Ready
    run_meanwhile(pod, lambda: pod.dns(f"10-0-7-21.{READY_DOMAIN}"), KD_PEER_WAIT_SECONDS=20)
    assert pod.startscript_calls() == ["--configure [gen=1]", add("addnodes", "worker", ["kdss-wrk-2"], "2")]
    assert pod.read("/etc/guestconfig/kd-members") == pod.members_text(grown)


def test_addnodes_waits_for_new_peers_to_resolve(configured):
    pod = configured
    grown = {"controller": ["kdss-ctrl-0"], "worker": ["kdss-wrk-0", "kdss-wrk-1", "kdss-wrk-2"]}
    pod.publish(grown, gen="2")
    ok(pod.run())  # KD_PEER_WAIT_SECONDS=0 and wrk-2 does not resolve: postponed
    assert pod.startscript_calls() == ["--configure [gen=1]"]
    assert pod.read("/etc/guestconfig/configmeta.json") == pod.pod_json("kdss-ctrl-0", "2")
    assert pod.read("/etc/guestconfig/kd-members") == pod.members_text(CLUSTER)

    run_meanwhile(pod, lambda: pod.resolvable("kdss-wrk-2"), KD_PEER_WAIT_SECONDS=20)
    assert pod.startscript_calls() == ["--configure [gen=1]", add("addnodes", "worker", ["kdss-wrk-2"], "2")]
    assert pod.read("/etc/guestconfig/kd-members") == pod.members_text(grown)


def test_failed_notification_is_retried_only_for_that_role(configured):
    pod = configured
    pod.resolvable("kdss-wrk-2")
    (pod.fake / "rc.addnodes").write_text("1\n")
    pod.publish({"controller": ["kdss-ctrl-0"], "extra": ["kdss-x-0"], "worker": ["kdss-wrk-0", "kdss-wrk-2"]},
                gen="2")
    pod.resolvable("kdss-x-0")
    ok(pod.run())
    # delnodes worked, both addnodes failed
    assert pod.startscript_calls()[1:] == [
        add("delnodes", "worker", ["kdss-wrk-1"], "2"),
        add("addnodes", "extra", ["kdss-x-0"], "2"),
        add("addnodes", "worker", ["kdss-wrk-2"], "2"),
    ]
    (pod.fake / "rc.addnodes").unlink()
    ok(pod.run())
    ok(pod.run())
    assert pod.startscript_calls()[4:] == [
        add("addnodes", "extra", ["kdss-x-0"], "2"),
        add("addnodes", "worker", ["kdss-wrk-2"], "2"),
    ]


def test_never_notifies_about_itself(tmp_path, shell):
    pod = Pod(tmp_path, shell, pod="kdss-wrk-0")
    pod.set_role("worker")
    pod.publish(CLUSTER)
    ok(pod.run())
    assert pod.read("/etc/guestconfig/configmeta.json") == pod.pod_json("kdss-wrk-0", "1")
    # a saved list that lacks this member (e.g. written by hand) must not cause a self-notify
    saved = pod.path("/etc/guestconfig/kd-members")
    saved.write_text("".join(line + "\n" for line in saved.read_text().splitlines()
                             if "kdss-wrk-0" not in line))
    pod.resolvable("kdss-wrk-0", "kdss-wrk-2")
    pod.publish({"controller": ["kdss-ctrl-0"], "worker": ["kdss-wrk-0", "kdss-wrk-1", "kdss-wrk-2"]}, gen="2")
    ok(pod.run())
    assert pod.startscript_calls() == ["--configure [gen=1]", add("addnodes", "worker", ["kdss-wrk-2"], "2")]


def test_member_being_removed_does_nothing(tmp_path, shell):
    pod = Pod(tmp_path, shell, pod="kdss-wrk-1")
    pod.set_role("worker")
    pod.publish(CLUSTER)
    proc = pod.start()
    try:
        pod.wait_for(proc, pod.ready, "ready")
        pod.publish({"controller": ["kdss-ctrl-0"], "worker": ["kdss-wrk-0"]}, gen="2")
        pod.wait_for(proc, lambda: "no longer in members" in (pod.fake / "agent.log").read_text(), "removal")
        time.sleep(0.3)  # a few more passes
    finally:
        assert pod.stop(proc) == 0
    assert pod.startscript_calls() == ["--configure [gen=1]"]
    assert pod.read("/etc/guestconfig/configmeta.json") == pod.pod_json("kdss-wrk-1", "1")
    assert pod.read("/etc/guestconfig/kd-members") == pod.members_text(CLUSTER)
    assert (pod.fake / "agent.log").read_text().count("no longer in members") == 1
    assert pod.ready()


def test_pod_not_in_members_is_not_configured(tmp_path, shell):
    pod = Pod(tmp_path, shell, pod="kdss-wrk-9")
    pod.set_role("worker")
    pod.publish(CLUSTER)
    assert pod.run().returncode != 0
    assert pod.state().startswith("waiting: kdss-wrk-9 not in")
    assert not pod.ready() and pod.startscript_calls() == [] and pod.calls() == []


def test_shared_document_plus_node_layout(tmp_path, shell):
    """The renderer's ConfigMap layout with a real-looking document: configmeta.json without "node"
    + <pod>.node.json; the agent puts "node" where KubeDirector's json.Marshal does (between
    "cluster" and "connections"), even when configMeta holds a "connections" key."""
    pod = Pod(tmp_path, shell)
    pod.set_role("controller")
    refkey = {"bdvlibrefkey": ["nodegroups", "1", "config_metadata"]}
    connected = {"version": "1", "nodegroups": {"1": {"config_metadata": None}},
                 "cluster": {"name": "other", "config_metadata": {"1": refkey}},
                 "node": None, "connections": {"clusters": None, "configmaps": None, "secrets": None}}
    shared = {
        "version": "7", "gen": "1",
        # user configMeta that happens to contain a "connections" key
        "nodegroups": {"1": {"config_metadata": {"a": "b", "connections": "x"}}},
        "cluster": {"name": "c", "isolated": False, "config_metadata": {"1": refkey}},
        "connections": {"clusters": {"other": connected}, "configmaps": {}, "secrets": {}},
    }
    node = {"role_id": "controller", "id": "1"}
    compact = lambda doc: json.dumps(doc, separators=(",", ":"))  # noqa: E731
    pod.publish({}, files={"members": pod.members_text(CLUSTER), "connections": "c1\n",
                           "configmeta.json": compact(shared), "kdss-ctrl-0.node.json": compact(node) + "\n"})
    ok(pod.run())
    expected = {k: v for k, v in shared.items() if k != "connections"}
    expected["node"] = node
    expected["connections"] = shared["connections"]
    assert pod.read("/etc/guestconfig/configmeta.json") == compact(expected)
    assert pod.startscript_calls() == ["--configure [gen=1]"]


def test_watch_loop_runs_until_stop_file(pod):
    proc = pod.start()
    try:
        pod.wait_for(proc, pod.ready, "ready")
        # a second agent in the same container leaves the running one alone
        second = pod.run()
        ok(second)
        assert "another kd-agent" in second.stdout
        pod.resolvable("kdss-wrk-2")
        pod.publish({"controller": ["kdss-ctrl-0"], "worker": ["kdss-wrk-0", "kdss-wrk-1", "kdss-wrk-2"]},
                    gen="2")
        expected = ["--configure [gen=1]", add("addnodes", "worker", ["kdss-wrk-2"], "2")]
        pod.wait_for(proc, lambda: pod.startscript_calls() == expected, "addnodes")
        pod.publish({"controller": ["kdss-ctrl-0"], "worker": ["kdss-wrk-0", "kdss-wrk-1", "kdss-wrk-2"]},
                    gen="3", connections="c2")
        expected.append("--reconnect [gen=3]")
        pod.wait_for(proc, lambda: pod.startscript_calls() == expected, "reconnect")
    finally:
        assert pod.stop(proc) == 0
    assert pod.startscript_calls() == expected
    assert not pod.path("/run/kd/agent.pid").exists()
    log = (pod.fake / "agent.log").read_text().splitlines()
    assert [line for line in log if not TIMESTAMP.match(line)] == []


def test_busybox_only_userland(tmp_path):
    """The whole lifecycle with busybox sh and only busybox applets in PATH (no cmp, so the
    shell fallback for comparisons is used): as in a minimal image."""
    if shutil.which("busybox") is None:
        pytest.skip("busybox is not installed (apt-get install -y busybox)")
    applets = tmp_path / "busybox-bin"
    applets.mkdir()
    busybox = shutil.which("busybox")
    listed = subprocess.run([busybox, "--list"], capture_output=True, text=True, check=True).stdout.split()
    for name in listed:
        if name not in ("cmp", "curl", "getent", "systemctl"):
            os.symlink(busybox, applets / name)
    pod = Pod(tmp_path, [busybox, "sh"])
    pod.set_role("controller", systemd=True)
    (pod.agent_dir / "controller.injections").write_text("https://files.example/app.key\t/etc/app\t600\t\t\n")
    (pod.fake / "urls/files.example").mkdir(parents=True)
    (pod.fake / "urls/files.example/app.key").write_text("k\n")
    pod.publish(CLUSTER)
    path = f"{pod.bin}:{applets}"
    ok(pod.run(PATH=path))
    assert stat.S_IMODE(pod.path("/etc/app/app.key").stat().st_mode) == 0o600
    assert pod.startscript_calls() == ["--configure [gen=1]"] and pod.ready()
    pod.publish(CLUSTER)
    ok(pod.run(PATH=path))
    assert pod.startscript_calls() == ["--configure [gen=1]"]
    pod.publish(CLUSTER, overrides={"configmeta.json": pod.shared_json("2")})
    ok(pod.run(PATH=path))
    assert pod.read("/etc/guestconfig/configmeta.json") == pod.pod_json("kdss-ctrl-0", "2")
    assert pod.startscript_calls() == ["--configure [gen=1]"]
    pod.resolvable("kdss-wrk-2")
    pod.publish({"controller": ["kdss-ctrl-0"], "worker": ["kdss-wrk-0", "kdss-wrk-2"]}, gen="3", connections="c2")
    ok(pod.run(PATH=path))
    assert pod.startscript_calls() == [
        "--configure [gen=1]",
        "--reconnect [gen=3]",
        add("delnodes", "worker", ["kdss-wrk-1"], "3"),
        add("addnodes", "worker", ["kdss-wrk-2"], "3"),
    ]
    ok(pod.run(PATH=path))
    assert len(pod.startscript_calls()) == 4


def test_poststart_launch_line_returns_at_once(tmp_path):
    """The renderer's postStart appends exactly this launch line; the hook must not block."""
    pod = Pod(tmp_path, ["/bin/sh"])
    pod.set_role("controller")
    pod.publish(CLUSTER)
    script = pod.agent_dir / "kd-agent.sh"
    launch = f"nohup /bin/sh {script} >{pod.root}/tmp/kd-agent.log 2>&1 </dev/null &"
    started = time.monotonic()
    # as in the rendered hook: "...;chmod 755 /run;<launch> exit 0" ("&;" would be a bash syntax error)
    hook = subprocess.run(["/bin/bash", "-c", f"true;{launch} exit 0"], env=pod.env(oneshot=False), timeout=10)
    assert hook.returncode == 0 and time.monotonic() - started < 5
    deadline = time.monotonic() + 30
    while not pod.ready():
        assert time.monotonic() < deadline, pod.read("/tmp/kd-agent.log")
        time.sleep(0.05)
    pid = int(pod.read("/run/kd/agent.pid"))
    pod.path("/run/kd/stop").write_text("")
    deadline = time.monotonic() + 20
    while pod.path("/run/kd/agent.pid").exists():
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            pytest.fail("agent did not stop:\n" + pod.read("/tmp/kd-agent.log"))
        time.sleep(0.05)
    log = pod.read("/tmp/kd-agent.log").splitlines()
    assert log and all(TIMESTAMP.match(line) for line in log)
    assert pod.startscript_calls() == ["--configure [gen=1]"]


# -- input hardening (issue 9) ----------------------------------------------------------------


def test_every_download_passes_double_dash_and_fails_on_http_errors(pod):
    ok(pod.run())
    args = pod.lines("curl-args.log")
    assert args == [
        f"-L --fail -o {pod.root}/tmp/configcli.tgz -- https://tools.example/configcli.tgz",
        "-L --fail -o appconfig.tgz -- file:///opt/kd-packages/app.tgz",
    ]


def test_chown_and_chgrp_get_double_dash(tmp_path, shell):
    pod = Pod(tmp_path, shell, pod="kdss-gw-0")
    pod.set_role("gateway", package="")
    for name in ("chown", "chgrp"):
        (pod.bin / name).write_text(f'#!/bin/sh\necho "{name} $*" >> "$KD_FAKE/calls.log"\n')
        (pod.bin / name).chmod(0o755)
    (pod.agent_dir / "gateway.injections").write_text("https://files.example/a.conf\t/etc/gw\t\tspark\tusers\n")
    (pod.fake / "urls/files.example").mkdir(parents=True)
    (pod.fake / "urls/files.example/a.conf").write_text("x\n")
    pod.publish({"gateway": ["kdss-gw-0"]})
    ok(pod.run(oneshot=False))
    dest = f"{pod.root}/etc/gw/a.conf"
    assert pod.calls()[1:] == [f"chown -- spark {dest}", f"chgrp -- users {dest}"]


@pytest.mark.parametrize("fields", [
    "https://files.example/a.conf\t/etc/gw\t\t-R\t",
    "https://files.example/a.conf\t/etc/gw\t\t\t--reference=/etc/shadow",
    "https://files.example/-rf\t/etc/gw\t\t\t",
])
def test_option_like_owner_group_or_file_name_is_refused(tmp_path, shell, fields):
    pod = Pod(tmp_path, shell, pod="kdss-gw-0")
    pod.set_role("gateway", package="")
    (pod.agent_dir / "gateway.injections").write_text(fields + "\n")
    pod.publish({"gateway": ["kdss-gw-0"]})
    assert pod.run(oneshot=False).returncode == 1
    assert pod.state().startswith("config error: failed requested file injections: ")
    assert "starting with '-' is refused" in pod.state()
    assert pod.calls() == [] and not pod.ready()


def test_downloads_are_retried_with_backoff(pod):
    (pod.fake / "curl-failures").write_text("2")  # the configcli download fails twice, then works
    result = pod.run(KD_FETCH_BACKOFF=1)
    ok(result)
    assert pod.ready() and pod.startscript_calls() == ["--configure [gen=1]"]
    assert pod.calls().count("curl -L https://tools.example/configcli.tgz -o /tmp/configcli.tgz") == 1  # 1 success
    assert len(pod.lines("curl-args.log")) == 4  # 3 configcli attempts + the package
    assert "attempt 1 of 5); retrying in 1s" in result.stdout
    assert "attempt 2 of 5); retrying in 2s" in result.stdout


def test_package_download_that_keeps_failing_is_config_error(pod):
    (pod.fake / "curl-failures").write_text("99")
    assert pod.run(KD_FETCH_ATTEMPTS=2).returncode == 1
    # fetch gives up after its attempts; the state line says why (curl's exit status of the last try)
    assert pod.state() == "config error: execution of app config failed: configcli download failed (curl exit status 7)"
    assert len(pod.lines("curl-args.log")) == 2 and not pod.ready()


def _without_usable_timeout(pod) -> None:
    """An image without timeout(1), or with busybox's old `timeout -t` form."""
    (pod.bin / "timeout").write_text("#!/bin/sh\necho 'timeout: invalid option -- k' >&2\nexit 125\n")
    (pod.bin / "timeout").chmod(0o755)


@pytest.mark.parametrize("how", ["timeout", "watchdog"])
def test_configure_runs_under_a_time_limit(tmp_path, shell, how):
    pod = Pod(tmp_path, shell)
    if how == "watchdog":
        _without_usable_timeout(pod)
    pod.set_role("controller", configure_timeout=1)
    pod.publish(CLUSTER)
    (pod.fake / "sleep.configure").write_text("30")
    started = time.monotonic()
    result = pod.run()
    assert result.returncode == 1 and time.monotonic() - started < 20
    assert f"time limit 1s ({how})" in result.stdout
    assert pod.state() == "config error: configure timed out after 1s"
    assert pod.read("/opt/guestconfig/configure.status") == f"{pod.container_id()}=124"
    assert not pod.ready()


def test_configure_within_the_time_limit(tmp_path, shell):
    pod = Pod(tmp_path, shell)
    _without_usable_timeout(pod)  # the watchdog must not fire either
    pod.set_role("controller", configure_timeout=5)
    pod.publish(CLUSTER)
    ok(pod.run())
    assert pod.ready() and pod.read("/opt/guestconfig/configure.status") == f"{pod.container_id()}=0"


@pytest.mark.parametrize("text", ['{"gen":[1}', '{"gen":1,}', "", '{"gen":"1"} trailing', "[1 2]"])
def test_invalid_configmeta_is_config_error_never_ready(tmp_path, shell, text):
    pod = Pod(tmp_path, shell)
    pod.set_role("controller")
    pod.publish(CLUSTER, overrides={"configmeta.json": text})
    assert pod.run().returncode == 1
    assert pod.state() == "config error: execution of app config failed: configmeta for kdss-ctrl-0 is not valid JSON"
    assert not pod.ready() and pod.startscript_calls() == []
    assert not pod.path("/etc/guestconfig/configmeta.json").exists()


def test_invalid_configmeta_update_is_not_applied(configured):
    pod = configured
    pod.resolvable("kdss-wrk-2")
    members = {"controller": ["kdss-ctrl-0"], "worker": ["kdss-wrk-0", "kdss-wrk-1", "kdss-wrk-2"]}
    pod.publish(members, overrides={"configmeta.json": '{"gen":"2"'})
    result = pod.run()
    ok(result)
    assert "is not valid JSON: not applied" in result.stdout
    assert pod.read("/etc/guestconfig/configmeta.json") == pod.pod_json("kdss-ctrl-0", "1")
    assert pod.startscript_calls() == ["--configure [gen=1]"]  # no notification on a broken document
    pod.publish(members, gen="3")
    ok(pod.run())
    assert pod.read("/etc/guestconfig/configmeta.json") == pod.pod_json("kdss-ctrl-0", "3")
    assert pod.startscript_calls()[1:] == [add("addnodes", "worker", ["kdss-wrk-2"], "3")]


def test_json_check_accepts_what_kdrender_renders(tmp_path):
    """valid_json agrees with Python's parser on configmeta-like documents, under each awk."""
    docs = {
        "ok-1": json.dumps({"a": [1, -2.5e3, True, False, None, "x\"y\\z\u00e9\n", {"b": {}}], "c": []}),
        "ok-2": json.dumps({"nodegroups": {"1": {"roles": {"w": {"fqdns": [f"h{i}" for i in range(300)]}}}}}),
        "bad-1": '{"a":01}', "bad-2": '{"a":"\\q"}', "bad-3": '{"a" 1}', "bad-4": "[V]", "bad-5": '{"a":[1,]}',
    }
    for name, text in docs.items():
        (tmp_path / name).write_text(text)
    script = SCRIPT.read_text()
    function = script[script.index("valid_json() {"):script.index("\n}\n", script.index("valid_json() {")) + 3]
    awks = [["awk"]] + ([["busybox", "awk"]] if shutil.which("busybox") else [])
    for awk in awks:
        wrapper = tmp_path / "bin" / "awk"
        wrapper.parent.mkdir(exist_ok=True)
        wrapper.write_text(f'#!/bin/sh\nexec {" ".join([shutil.which(awk[0]), *awk[1:]])} "$@"\n')
        wrapper.chmod(0o755)
        for name in docs:
            proc = subprocess.run(["sh", "-c", function + f'valid_json "{tmp_path / name}"'],
                                  env={"PATH": f"{wrapper.parent}:/usr/bin:/bin"}, capture_output=True, text=True)
            assert (proc.returncode == 0) == name.startswith("ok"), (awk, name, proc.stderr)
