"""Issue 19, notification latency: the running agent sees a new ConfigMap version within a second.

kubelet updates a mounted ConfigMap or Secret by swapping its ``..data`` symlink (then deleting
the old version directory).  The agent tests every second, with shell builtins only, whether each
watched mount's ``..data`` still points to the version it read, and runs a pass at once when not;
the full pass every ``KD_POLL_SECONDS`` stays for retries.  Run under bash, dash and busybox sh,
with a poll far longer than the tests, so only the one-second check can explain what they see.
"""

from __future__ import annotations

import os
import shutil
import time

from test_agent import CLUSTER, Pod, add, shell  # noqa: F401 (fixture)
from test_agent_fills import member, mount  # noqa: F401 (fixture)

LONG_POLL = 300
BOUND = 3.0  # one-second check + one pass, with room for a loaded CI machine


def watching(tmp_path, shell, **kw) -> tuple:
    pod = Pod(tmp_path, shell)
    for role in ("controller", "worker"):
        pod.set_role(role, poll=LONG_POLL, **kw)
    pod.publish(CLUSTER)
    proc = pod.start()
    pod.wait_for(proc, lambda: "watching" in (pod.fake / "agent.log").read_text(), "the watch loop")
    return pod, proc


def timed(pod, proc, condition, what: str) -> float:
    started = time.monotonic()
    pod.wait_for(proc, condition, what, timeout=LONG_POLL / 10)
    return time.monotonic() - started


def test_new_version_is_seen_within_a_second_not_at_the_poll(tmp_path, shell):
    pod, proc = watching(tmp_path, shell)
    try:
        pod.resolvable("kdss-wrk-2")
        pod.publish({"controller": ["kdss-ctrl-0"], "worker": ["kdss-wrk-0", "kdss-wrk-1", "kdss-wrk-2"]}, gen="2")
        expected = ["--configure [gen=1]", add("addnodes", "worker", ["kdss-wrk-2"], "2")]
        took = timed(pod, proc, lambda: pod.startscript_calls() == expected, "--addnodes")
        assert took < BOUND, f"--addnodes {took:.1f}s after the ..data swap"
        # and again: the version noted before the last pass is the new one
        pod.publish({"controller": ["kdss-ctrl-0"], "worker": ["kdss-wrk-0", "kdss-wrk-2"]}, gen="3")
        expected.append(add("delnodes", "worker", ["kdss-wrk-1"], "3"))
        took = timed(pod, proc, lambda: pod.startscript_calls() == expected, "--delnodes")
        assert took < BOUND, f"--delnodes {took:.1f}s after the ..data swap"
    finally:
        assert pod.stop(proc) == 0
    log = (pod.fake / "agent.log").read_text()
    # the second version, at least, came through the one-second check (the first may land before
    # the watch loop's first pass notes the versions, and that pass then reads it)
    assert log.count("new version of a mounted ConfigMap or Secret") in (1, 2)
    assert pod.startscript_calls() == expected


def test_stop_is_seen_within_a_second(tmp_path, shell):
    pod, proc = watching(tmp_path, shell)
    started = time.monotonic()
    assert pod.stop(proc) == 0
    assert time.monotonic() - started < BOUND


def test_unchanged_mount_costs_no_process_but_sleep(tmp_path, shell):
    """While nothing changes, the one-second check runs no command: only ``sleep 1``."""
    pod = Pod(tmp_path, shell)
    wrapped = ("awk", "cat", "cksum", "cmp", "cp", "date", "grep", "ln", "mkdir", "mv", "readlink", "rm",
               "sed", "sleep", "sort", "stat", "test", "tr")
    for name in wrapped:
        real = shutil.which(name)
        if real:
            (pod.bin / name).write_text(f'#!/bin/sh\necho {name} >> "$KD_FAKE/exec.log"\nexec {real} "$@"\n')
            (pod.bin / name).chmod(0o755)
    for role in ("controller", "worker"):
        pod.set_role(role, poll=LONG_POLL)
    pod.publish(CLUSTER)
    proc = pod.start()
    try:
        pod.wait_for(proc, lambda: "watching" in (pod.fake / "agent.log").read_text(), "the watch loop")
        time.sleep(1.5)  # the first pass is over
        os.truncate(pod.fake / "exec.log", 0)
        time.sleep(3.5)
        ran = pod.lines("exec.log")
    finally:
        assert pod.stop(proc) == 0
    assert set(ran) <= {"sleep"}, ran  # busybox sh may run its sleep applet without exec
    assert len(ran) <= 5, ran


def test_connected_object_change_is_seen_within_a_second(member):
    """A mount that configmeta's `fills` reads (here a connected ConfigMap) is watched too."""
    model, rc, seed, pod, objects = member
    env = pod.agent_dir / "seed.env"
    text = env.read_text()
    assert "KD_POLL_SECONDS='10'" in text
    env.write_text(text.replace("KD_POLL_SECONDS='10'", f"KD_POLL_SECONDS='{LONG_POLL}'"))
    proc = pod.start()
    try:
        pod.wait_for(proc, lambda: "watching" in (pod.fake / "agent.log").read_text(), "the watch loop")
        assert pod.startscript_calls() == ["--configure [gen=]"]
        mount(pod.root, "/etc/kd/connections/configmaps/source-control", {"branch": "release"})
        took = timed(pod, proc, lambda: pod.startscript_calls() == ["--configure [gen=]", "--reconnect [gen=]"],
                     "--reconnect")
        assert took < BOUND, f"--reconnect {took:.1f}s after the connected ConfigMap's ..data swap"
    finally:
        assert pod.stop(proc) == 0
