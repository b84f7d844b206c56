"""Production objects (issue 13): PodDisruptionBudget, NetworkPolicy, topology spread, priorityClassName and
the tcpSocket readinessProbe; their repo options, their per-cluster annotations and the rules that check both."""

from __future__ import annotations

import pytest

from kdrender.pipeline import render_model

from conftest import edit
from test_k8s_schemas import OLDEST, api_server_problems, newest_version, validator_for

LABEL_CLUSTER = "kubedirector.hpe.com/kdcluster"
LABEL_ROLE = "kubedirector.hpe.com/role"


def annotate(cluster: str, **annotations: str) -> str:
    """The cluster text with ``kdrender.dev/<key>`` annotations (underscores in keys become dashes)."""
    lines = "".join(f'    kdrender.dev/{k.replace("_", "-")}: "{v}"\n' for k, v in annotations.items())
    return edit(cluster, ("  name: web1\n", "  name: web1\n  annotations:\n" + lines))


def objects(kd, cluster=None, config=None, files=None, name="web1") -> list:
    result = kd.run(cluster=cluster or kd.CLUSTER, config=config, files=files)
    assert result.errors == [], result.texts
    rendered = {c: objs for _, c, objs in render_model(result.model)}
    return rendered[name]


def of_kind(objs, kind: str) -> dict:
    return {o["metadata"]["name"]: o for o in objs if o["kind"] == kind}


def pod(objs, role: str) -> dict:
    return of_kind(objs, "StatefulSet")[f"web1-{role}"]["spec"]["template"]


# --- PodDisruptionBudget -----------------------------------------------------------------------

def test_pdb_for_roles_with_more_than_one_member(kd):
    objs = objects(kd)
    pdbs = of_kind(objs, "PodDisruptionBudget")
    assert list(pdbs) == ["web1-worker"]  # the controller has one member, the worker two
    pdb = pdbs["web1-worker"]
    assert pdb["apiVersion"] == "policy/v1"
    assert pdb["spec"]["maxUnavailable"] == 1
    statefulset = of_kind(objs, "StatefulSet")["web1-worker"]
    assert pdb["spec"]["selector"] == statefulset["spec"]["selector"]
    assert pdb["metadata"]["annotations"]["argocd.argoproj.io/sync-wave"] == "-1"
    # applied before the StatefulSets
    kinds = [o["kind"] for o in objs]
    assert kinds.index("PodDisruptionBudget") < kinds.index("StatefulSet")


def test_pdb_options(kd):
    assert of_kind(objects(kd, config="kdrender:\n  podDisruptionBudget: {enabled: false}\n"),
                   "PodDisruptionBudget") == {}
    pdbs = of_kind(objects(kd, config="kdrender:\n  podDisruptionBudget: {maxUnavailable: 2}\n"), "PodDisruptionBudget")
    assert pdbs["web1-worker"]["spec"]["maxUnavailable"] == 2
    # the annotation wins over the repo option, both ways
    pdbs = of_kind(objects(kd, annotate(kd.CLUSTER, pod_disruption_budget="25%")), "PodDisruptionBudget")
    assert pdbs["web1-worker"]["spec"]["maxUnavailable"] == "25%"
    assert of_kind(objects(kd, annotate(kd.CLUSTER, pod_disruption_budget="false")), "PodDisruptionBudget") == {}
    pdbs = of_kind(objects(kd, annotate(kd.CLUSTER, pod_disruption_budget="true"),
                           config="kdrender:\n  podDisruptionBudget: {enabled: false}\n"), "PodDisruptionBudget")
    assert list(pdbs) == ["web1-worker"]


# --- NetworkPolicy -----------------------------------------------------------------------------

def test_network_policy_off_by_default(kd):
    assert of_kind(objects(kd), "NetworkPolicy") == {}


def test_network_policy(kd):
    objs = objects(kd, annotate(kd.CLUSTER, network_policy="true", network_policy_allow_from="monitoring, 10.0.0.0/8"))
    policy = of_kind(objs, "NetworkPolicy")["web1"]
    own = {"podSelector": {"matchLabels": {LABEL_CLUSTER: "web1"}}}
    assert policy["spec"]["podSelector"] == own["podSelector"]
    assert policy["spec"]["policyTypes"] == ["Ingress"]
    members, services = policy["spec"]["ingress"]
    assert members == {"from": [own]}  # every port, from the cluster's own members
    assert services["ports"] == [{"port": 80, "protocol": "TCP"}]  # the app's service ports
    assert services["from"] == [
        {"podSelector": {}},  # the cluster's own namespace
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}},
        {"ipBlock": {"cidr": "10.0.0.0/8"}},
    ]
    # every pod of the cluster is selected: the policy's selector is in each role's pod labels
    for role in ("controller", "worker"):
        assert own["podSelector"]["matchLabels"].items() <= pod(objs, role)["metadata"]["labels"].items()


def test_network_policy_from_repo_config(kd):
    config = "kdrender:\n  networkPolicy: {enabled: true, allowFrom: [fd00::/8]}\n"
    policy = of_kind(objects(kd, config=config), "NetworkPolicy")["web1"]
    assert policy["spec"]["ingress"][1]["from"][-1] == {"ipBlock": {"cidr": "fd00::/8"}}
    assert of_kind(objects(kd, annotate(kd.CLUSTER, network_policy="false"), config=config), "NetworkPolicy") == {}


def connected(kd, target_annotations: dict) -> list:
    """web1 connects to web2; returns web1's objects."""
    web2 = annotate(kd.CLUSTER, **target_annotations) if target_annotations else kd.CLUSTER
    web2 = edit(web2, ("  name: web1\n", "  name: web2\n"))
    web1 = edit(kd.CLUSTER, ("  app: web\n", "  app: web\n  connections:\n    clusters: [web2]\n"))
    return objects(kd, web1, files={"clusters/web2.yaml": web2})


def test_connected_cluster_reaches_the_ports_it_uses(kd):
    objs = connected(kd, {"network_policy": "true"})
    policies = of_kind(objs, "NetworkPolicy")
    assert list(policies) == ["web1-to-web2"]  # web1 has no policy of its own, but reaches web2's
    spec = policies["web1-to-web2"]["spec"]
    assert spec["podSelector"] == {"matchLabels": {LABEL_CLUSTER: "web2"}}
    assert spec["ingress"] == [{"from": [{"podSelector": {"matchLabels": {LABEL_CLUSTER: "web1"}}}],
                                "ports": [{"port": 80, "protocol": "TCP"}]}]


def test_no_connection_policy_when_the_other_cluster_is_open(kd):
    # a policy selecting web2's pods would isolate them: only when web2 has a policy already
    assert of_kind(connected(kd, {}), "NetworkPolicy") == {}


# --- pod template fields -----------------------------------------------------------------------

def test_readiness_probe_on_the_first_service_port(kd):
    objs = objects(kd)
    controller = pod(objs, "controller")["spec"]["containers"][0]
    assert controller["readinessProbe"]["tcpSocket"] == {"port": 80}
    assert controller["readinessProbe"]["periodSeconds"] == 10
    assert "readinessProbe" not in pod(objs, "worker")["spec"]["containers"][0]  # no service port
    objs = objects(kd, annotate(kd.CLUSTER, readiness_probe="false"))
    assert "readinessProbe" not in pod(objs, "controller")["spec"]["containers"][0]
    objs = objects(kd, config="kdrender:\n  readinessProbe: false\n")
    assert "readinessProbe" not in pod(objs, "controller")["spec"]["containers"][0]


def test_agent_probe_is_kept(kd):
    app = edit(kd.APP, ("  defaultImageRepoTag:", "  defaultConfigPackage:\n    packageURL: https://example.com/p.tgz\n"
                                                  "  defaultImageRepoTag:"))
    result = kd.run(app=app)
    assert result.errors == []
    objs = render_model(result.model)[0][2]
    probe = pod(objs, "controller")["spec"]["containers"][0]["readinessProbe"]
    assert "exec" in probe and "tcpSocket" not in probe


def test_topology_spread(kd):
    objs = objects(kd)
    assert "topologySpreadConstraints" not in pod(objs, "worker")["spec"]  # off by default
    objs = objects(kd, annotate(kd.CLUSTER, topology_spread="nodes,zones"))
    template = pod(objs, "worker")
    constraints = template["spec"]["topologySpreadConstraints"]
    assert [c["topologyKey"] for c in constraints] == ["kubernetes.io/hostname", "topology.kubernetes.io/zone"]
    for c in constraints:
        assert c["maxSkew"] == 1 and c["whenUnsatisfiable"] == "ScheduleAnyway"
        assert c["labelSelector"]["matchLabels"] == {LABEL_CLUSTER: "web1", LABEL_ROLE: "worker"}
        assert c["labelSelector"]["matchLabels"].items() <= template["metadata"]["labels"].items()
    config = ("kdrender:\n  topologySpread: {enabled: true, over: [zones], maxSkew: 2, "
              "whenUnsatisfiable: DoNotSchedule}\n")
    (c,) = pod(objects(kd, config=config), "controller")["spec"]["topologySpreadConstraints"]
    assert (c["topologyKey"], c["maxSkew"], c["whenUnsatisfiable"]) == ("topology.kubernetes.io/zone", 2, "DoNotSchedule")
    objs = objects(kd, annotate(kd.CLUSTER, topology_spread="none"), config=config)
    assert "topologySpreadConstraints" not in pod(objs, "controller")["spec"]


def test_priority_class(kd):
    assert "priorityClassName" not in pod(objects(kd), "worker")["spec"]
    objs = objects(kd, config="kdrender:\n  priorityClassName: kd-default\n")
    assert pod(objs, "worker")["spec"]["priorityClassName"] == "kd-default"
    objs = objects(kd, annotate(kd.CLUSTER, priority_class="worker=batch-low"),
                   config="kdrender:\n  priorityClassName: kd-default\n")
    assert pod(objs, "worker")["spec"]["priorityClassName"] == "batch-low"
    assert pod(objs, "controller")["spec"]["priorityClassName"] == "kd-default"
    objs = objects(kd, annotate(kd.CLUSTER, priority_class="high, worker=low"))
    assert (pod(objs, "controller")["spec"]["priorityClassName"], pod(objs, "worker")["spec"]["priorityClassName"]) \
        == ("high", "low")


# --- the Kubernetes schemas --------------------------------------------------------------------

@pytest.mark.parametrize("version", [OLDEST, "newest"])
def test_every_option_passes_the_kubernetes_schemas(kd, version):
    k8s = validator_for(newest_version() if version == "newest" else version)
    cluster = annotate(kd.CLUSTER, network_policy="true", network_policy_allow_from="team-a,192.168.0.0/16",
                       topology_spread="nodes,zones", priority_class="high,worker=low", pod_disruption_budget="50%")
    objs = objects(kd, cluster)
    assert {"NetworkPolicy", "PodDisruptionBudget"} <= {o["kind"] for o in objs}
    for obj in objs:
        assert k8s.errors(obj) == [], (obj["kind"], obj["metadata"]["name"])
        assert api_server_problems(obj) == [], (obj["kind"], obj["metadata"]["name"])


# --- the rules ---------------------------------------------------------------------------------

@pytest.mark.parametrize("annotations,expected", [
    ({"network_polcy": "true"}, "clusters/web1.yaml:6:5: metadata.annotations[\"kdrender.dev/network-polcy\"]: "
                                "unknown kdrender annotation 'kdrender.dev/network-polcy'; "
                                "did you mean 'kdrender.dev/network-policy'?"),
    ({"network_policy": "yes"}, "clusters/web1.yaml:6:5: metadata.annotations[\"kdrender.dev/network-policy\"]: "
                                "'yes' is not true or false"),
    ({"pod_disruption_budget": "0"}, "clusters/web1.yaml:6:5: metadata.annotations[\"kdrender.dev/pod-disruption-budget\"]"
                                     ": '0' is not true, false or a maxUnavailable (a number from 1, or a percentage "
                                     "such as 25%)"),
    ({"network_policy_allow_from": "ok,10.0.0.1/8"},
     "clusters/web1.yaml:6:5: metadata.annotations[\"kdrender.dev/network-policy-allow-from\"]: '10.0.0.1/8' is not "
     "a CIDR (e.g. 10.0.0.0/8, with no host bits set)"),
    ({"network_policy_allow_from": "Team_A"},
     "clusters/web1.yaml:6:5: metadata.annotations[\"kdrender.dev/network-policy-allow-from\"]: 'Team_A' is neither "
     "a namespace name nor a CIDR"),
    ({"topology_spread": "racks"}, "clusters/web1.yaml:6:5: metadata.annotations[\"kdrender.dev/topology-spread\"]: "
                                   "'racks' is not none, nodes, zones or nodes,zones"),
    ({"priority_class": "workr=low"}, "clusters/web1.yaml:6:5: metadata.annotations[\"kdrender.dev/priority-class\"]: "
                                      "the cluster has no role 'workr' (roles: controller, worker)"),
    ({"priority_class": "High"}, "clusters/web1.yaml:6:5: metadata.annotations[\"kdrender.dev/priority-class\"]: "
                                 "'High' is not a PriorityClass name (a DNS-1123 subdomain)"),
])
def test_annotation_problems(kd, annotations, expected):
    result = kd.run(cluster=annotate(kd.CLUSTER, **annotations))
    assert result.texts == [expected]
    assert result.problems[0].rule == "production-annotations"


def test_other_annotations_are_left_alone(kd):
    result = kd.run(cluster=edit(kd.CLUSTER, ("  name: web1\n", "  name: web1\n  annotations: {example.com/x: y}\n")))
    assert result.texts == []


def test_repo_option_problems(kd):
    result = kd.run(config="kdrender:\n  networkPolicy:\n    allowFrom: [a, 10.1.2.3/16]\n")
    assert result.texts == ["kdrender.yaml:3:20: kdrender.networkPolicy.allowFrom[1]: '10.1.2.3/16' is not a CIDR "
                            "(e.g. 10.0.0.0/8, with no host bits set)"]
    assert result.problems[0].rule == "network-policy-peers"
    result = kd.run(config="kdrender:\n  topologySpread: {over: [racks]}\n  podDisruptionBudget: {maxUnavailable: 0}\n")
    assert len(result.errors) == 2 and all(p.rule == "schema" for p in result.errors), result.texts
