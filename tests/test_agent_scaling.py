"""Issue 10 point 5: a member scaled down and up again, under both PVC retention policies.

The member's volume (here: the fake root's /etc and /opt, which a role with storage keeps on its
``p-<pod>`` PVC) survives the scale-down only with ``whenScaled: Retain``.  Semantics:

* ``Delete``: the member comes back new and is configured like one (KubeDirector's behaviour: a
  new member with a new volume).  A leftover volume (the PVC not yet deleted) is not trusted.
* ``Retain``: the member keeps its state (no second ``--configure``) and is told, through the
  usual ``--delnodes``/``--addnodes``, what changed while it was away.
"""

from __future__ import annotations

import shutil

from test_agent import Pod, add, ok, role_env, shell  # noqa: F401 (fixture)

START = {"controller": ["kdss-ctrl-0"], "worker": ["kdss-wrk-0", "kdss-wrk-1"]}
DOWN = {"controller": ["kdss-ctrl-0"], "worker": ["kdss-wrk-0"]}
# while kdss-wrk-1 was away, the controller role was replaced by two other members
AWAY = {"controller": ["kdss-ctrl-1", "kdss-ctrl-2"], "worker": ["kdss-wrk-0"]}
BACK = {"controller": ["kdss-ctrl-1", "kdss-ctrl-2"], "worker": ["kdss-wrk-0", "kdss-wrk-1"]}


def member(tmp_path, shell, when_scaled: str) -> Pod:
    pod = Pod(tmp_path, shell, pod="kdss-wrk-1")
    for role in ("controller", "worker"):
        (pod.agent_dir / f"{role}.env").write_text(role_env(role) + f"KD_WHEN_SCALED='{when_scaled}'\n")
    pod.publish(START)
    ok(pod.run())
    assert pod.startscript_calls() == ["--configure [gen=1]"]
    proc = pod.start()  # the running agent (postStart), watching
    pod.wait_for(proc, lambda: "watching" in (pod.fake / "agent.log").read_text(), "the watch loop")
    pod.publish(DOWN, gen="2")  # the scale-down reaches the leaving member before its pod is gone
    pod.wait_for(proc, lambda: pod.path("/etc/guestconfig/kd-removed").exists(), "the member to see it is removed")
    assert pod.stop(proc) == 0
    pod.path("/run/kd/stop").unlink()
    assert "no longer in members" in (pod.fake / "agent.log").read_text()
    assert pod.startscript_calls() == ["--configure [gen=1]"]
    pod.publish(AWAY, gen="3")  # the pod is gone meanwhile: it sees nothing of this
    return pod


def come_back(pod: Pod) -> str:
    pod.restart_container()  # a new pod: new /run, new container id; the volume is what it is
    pod.resolvable("kdss-ctrl-1", "kdss-ctrl-2", "kdss-wrk-0")
    pod.publish(BACK, gen="4")
    result = pod.run()
    ok(result)
    return result.stdout


def test_retain_keeps_state_and_notifies_what_changed_while_away(tmp_path, shell):
    pod = member(tmp_path, shell, "Retain")
    first_id = pod.read("/opt/guestconfig/configure.status").split("=")[0]
    log = come_back(pod)
    assert "whenScaled is Retain: it keeps its state" in log
    assert pod.startscript_calls() == [
        "--configure [gen=1]",
        add("delnodes", "controller", ["kdss-ctrl-0"], "4"),
        add("addnodes", "controller", ["kdss-ctrl-1", "kdss-ctrl-2"], "4"),
    ]
    assert pod.read("/opt/guestconfig/configure.status") == f"{first_id}=0"  # not configured again
    assert pod.read("/etc/guestconfig/kd-members") == pod.members_text(BACK)
    assert pod.read("/etc/guestconfig/configmeta.json") == pod.pod_json("kdss-wrk-1", "4")
    assert pod.ready() and not pod.path("/etc/guestconfig/kd-removed").exists()


def test_delete_member_comes_back_new_and_is_configured_like_one(tmp_path, shell):
    pod = member(tmp_path, shell, "Delete")
    log = come_back(pod)  # the PVC was not deleted yet: its state is not trusted
    assert "whenScaled is Delete: configured as a new member" in log
    assert pod.startscript_calls() == ["--configure [gen=1]", "--configure [gen=4]"]
    assert pod.read("/opt/guestconfig/configure.status") == f"{pod.container_id()}=0"
    assert pod.read("/etc/guestconfig/kd-members") == pod.members_text(BACK)
    assert pod.ready() and not pod.path("/etc/guestconfig/kd-removed").exists()


def test_delete_member_with_its_volume_gone_is_new(tmp_path, shell):
    pod = member(tmp_path, shell, "Delete")
    for d in ("/etc/guestconfig", "/opt/guestconfig"):  # whenScaled: Delete removed the PVC
        shutil.rmtree(pod.path(d))
    come_back(pod)
    assert pod.startscript_calls() == ["--configure [gen=1]", "--configure [gen=4]"]


def test_member_back_before_its_pod_was_gone_keeps_going(tmp_path, shell):
    """Scaled down and up again before the pod was deleted (same container, the agent restarted):
    it is simply a member again, whatever the policy."""
    pod = member(tmp_path, shell, "Delete")
    pod.resolvable("kdss-ctrl-1", "kdss-ctrl-2")
    pod.publish(BACK, gen="4")
    ok(pod.run())
    assert not pod.path("/etc/guestconfig/kd-removed").exists()
    assert pod.startscript_calls()[0] == "--configure [gen=1]" and "--configure [gen=4]" not in pod.startscript_calls()
