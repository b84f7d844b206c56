"""configmeta and the in-pod agent: what KubeDirector writes into members at runtime, rendered at build time.

Per cluster, when any role has a setup package or file injections (and the agent is enabled):

* ConfigMap ``<headless>-configmeta``: ``configmeta.json`` (the document every member shares,
  without its ``node`` section), ``<pod>.node.json`` per member, ``members`` (``<role> <fqdn>``
  lines) and ``connections`` (a version of the connected clusters).  The agent joins the shared
  document and the member's ``node`` into ``/etc/guestconfig/configmeta.json`` (one shared
  document instead of one per member keeps the ConfigMaps small).
* ConfigMap ``<headless>-kd-agent``: ``kd-agent.sh`` and one ``<role>.env`` (plus
  ``<role>.injections``) per role.

Both are mounted without ``subPath`` so kubelet refreshes them in running pods; pods never
restart for membership changes.  Every ConfigMap stays under 1 MiB: a large configmeta is split
over ``<headless>-configmeta``, ``-1``, ``-2``, ... (``shard``), projected into one volume.  No
secret value is ever written: what configmeta takes from the cluster (connected ConfigMaps and
Secrets, ``secret_keys``, auth tokens; see ``kdrender.inpod``, resolved per cluster as ``rc.fills``)
is a placeholder that the agent fills in the pod from mounted objects, as the ``fills`` key lists.  A second headless Service,
``<headless>-ready``, lets the agent tell when a new peer is Ready before ``--addnodes``.
"""

from __future__ import annotations

import base64
import copy
import json
import os

from ..digest import sha256
from ..lazyre import lazy
from ..names import LISTED_SHARDS, configmap_names, ready_service_name, shard_name
from ..quantity import quantity_value
from ..resolve import role_service_ids as _role_service_ids
from .common import metadata, with_wave

CONFIGMETA_DIR = "/etc/kd/configmeta"
AGENT_DIR = "/etc/kd/agent"
CONNECTIONS_DIR = "/etc/kd/connections"
CONNECTED_KEYS_DIR = CONNECTIONS_DIR + "/clusters"  # <name>: a connected cluster's secret_keys Secret
SECRET_KEYS_DIR = "/etc/kd/secret-keys"
TOKENS_DIR = "/etc/kd/auth-tokens"
# A placeholder the agent replaces with a value it reads in the pod (the ``fills`` key).  As
# JSON it is "\u0000kd-fill:<id>", which no value of a rendered configmeta contains otherwise.
FILL = "\x00kd-fill:"
AGENT_FILE = os.path.join(os.path.dirname(os.path.dirname(__file__)), "agent", "kd-agent.sh")
WAVE = -1


def uses_agent(rc, role, config) -> bool:
    return bool(config.agent and (role.package or role.spec.get("fileInjections")))


def cluster_uses_agent(rc, config) -> bool:
    return any(uses_agent(rc, role, config) for role in rc.roles)


def go_json(value) -> str:
    """Compact JSON as Go's ``json.Marshal`` writes it (HTML characters escaped)."""
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    for ch, esc in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"), ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):
        text = text.replace(ch, esc)
    if "\\b" in text or "\\f" in text:  # Go (KubeDirector's 1.18) writes \u0008 and \u000c
        text = _ESCAPE.sub(lambda m: _GO_ESCAPES.get(m.group(1), m.group(0)), text)
    return text


_ESCAPE = lazy(r"\\(.)")  # every escape pair, left to right (so "\\b" stays)
_GO_ESCAPES = {"b": "\\u0008", "f": "\\u000c"}


def _ref(*path) -> dict:
    return {"bdvlibrefkey": list(path)}


def _flavor(role) -> dict:
    """KubeDirector's ``limits.memory.Value()/1048576`` and ``limits.cpu.Value()`` (both rounded up)."""
    limits = role.spec["resources"]["limits"]
    return {"storage": "n/a", "name": "n/a", "memory": str(quantity_value(limits.get("memory")) // 1048576),
            "description": "n/a", "cores": str(quantity_value(limits.get("cpu")))}


def base_configmeta(rc, prefix: tuple = (), plan: dict | None = None, fill_id: str = "") -> dict:
    """The configmeta every member shares (spec section 3.2), without ``node``; with ``plan``,
    placeholders for what the agent fills in (their ids start with ``fill_id``: a connected
    cluster's are ``conn:<name>:...``)."""
    plan = plan or {"secret_keys": {}, "tokens": {}}
    app = rc.app.spec
    services_by_id = {s["id"]: s for s in app.get("services", [])}
    top_services: dict = {}
    for role in rc.roles:
        for sid in _role_service_ids(app, role.id):
            top_services.setdefault(sid, {"1": {}})["1"][role.id] = _ref(
                *prefix, "nodegroups", "1", "roles", role.id, "services", sid)
    roles = {}
    for role in rc.roles:
        if role.members == 0:
            continue
        fqdns = [rc.fqdn(pod) for pod in role.pods]
        node_ids = [role.node_id(i) for i in range(role.members)]
        services = {}
        for sid in _role_service_ids(app, role.id):
            service = services_by_id.get(sid, {"id": sid})
            endpoint = service.get("endpoint") or {}
            endpoints = None
            if endpoint.get("port"):
                scheme = endpoint.get("urlScheme", "")
                endpoints = [f"{scheme}://{fqdn}:{endpoint['port']}" for fqdn in fqdns]
            services[sid] = {
                "qualifiers": [],
                "name": (service.get("label") or {}).get("name", ""),
                "id": sid,
                "hostnames": _ref("nodegroups", "1", "roles", role.id, "hostnames"),
                "global_id": f"1_{role.id}_{sid}",
                "fqdns": _ref("nodegroups", "1", "roles", role.id, "fqdns"),
                "exported_service": service.get("exported_service", ""),
                "endpoints": endpoints,
                "authToken": FILL + f"token:{role.id}" if (
                    role.id in plan["tokens"] and endpoint.get("hasAuthToken")) else "",
            }
        roles[role.id] = {
            "services": dict(sorted(services.items())),
            "node_ids": node_ids,
            "hostnames": list(fqdns),
            "fqdns": fqdns,
            "fqdn_mappings": dict(sorted(zip(fqdns, node_ids))),
            "flavor": _flavor(role),
        }
        if role.id in plan["secret_keys"]:
            roles[role.id]["secret_keys"] = FILL + f"{fill_id}secret_keys:{role.id}"
    return {
        "version": str(app["configSchemaVersion"]),
        "services": {sid: {"1": dict(sorted(by_role["1"].items()))} for sid, by_role in sorted(top_services.items())},
        "nodegroups": {"1": {
            "roles": dict(sorted(roles.items())),
            "distro_id": app["distroID"],
            "catalog_entry_version": app["version"],
            "config_metadata": app["config"].get("configMeta"),
        }},
        "distros": {app["distroID"]: {"1": _ref(*prefix, "nodegroups", "1")}},
        "cluster": {"name": rc.cluster.name, "isolated": False, "id": rc.cluster_id,
                    "config_metadata": {"1": _ref("nodegroups", "1", "config_metadata")}},
    }


def node_section(rc, role, ordinal: int) -> dict:
    fqdn = rc.fqdn(role.pods[ordinal])
    node = {"role_id": role.id, "nodegroup_id": "1", "id": role.node_id(ordinal), "hostname": fqdn, "fqdn": fqdn,
            "domain": rc.domain, "distro_id": rc.app.spec["distroID"], "depends_on": {}}
    block = role.spec.get("blockStorage")
    if block:
        node["block_device_paths"] = [f"{block['pathPrefix']}{k}" for k in range(block["numDevices"])]
    return node


def connections(rc, plan: dict | None = None) -> dict:
    """Connected clusters as KubeDirector shows them (their configmeta, node null); connected
    ConfigMaps and Secrets of known type, and the connected clusters' ``secret_keys``, are filled in
    by the agent (their content is not in Git)."""
    clusters = {}
    for name, other in rc.connected.items():
        keys = {"secret_keys": other.fills.get("secret_keys") or {}, "tokens": {}}
        doc = base_configmeta(other, prefix=("connections", "clusters", name), plan=keys, fill_id=_conn_id(name))
        doc["node"] = None
        doc["connections"] = {"clusters": None, "configmaps": None, "secrets": None}
        clusters[name] = doc
    kinds = {o[0] for o in (plan or {}).get("objects", ())}
    return {"clusters": clusters, **{what: FILL + what if what in kinds else {} for what in ("configmaps", "secrets")}}


def _conn_id(name: str) -> str:
    return f"conn:{name}:"


def connected_keys(rc) -> list:
    """``(name, Secret, {role: key names})`` of every connected cluster whose ``secret_keys`` the
    agent fills, from that cluster's ``kdrender.dev/secret-keys`` Secret, as KubeDirector includes
    a connected cluster's decrypted ``secret_keys``."""
    return [(name, other.fills["secret_name"], other.fills["secret_keys"])
            for name, other in rc.connected.items() if (other.fills or {}).get("secret_keys")]


def fills_text(rc, plan: dict) -> str:
    """The agent's instructions for the placeholders (TAB-separated lines, see kd-agent.sh)."""
    lines = []
    for role_id, names in sorted(plan["secret_keys"].items()):
        lines.append(["secret_keys:" + role_id, "keys", SECRET_KEYS_DIR, role_id, " ".join(names)])
    for name, _secret, keys in connected_keys(rc):
        for role_id, names in sorted(keys.items()):
            lines.append([f"{_conn_id(name)}secret_keys:{role_id}", "keys", f"{CONNECTED_KEYS_DIR}/{name}", role_id,
                          " ".join(names)])
    for role_id, pod in sorted(plan["tokens"].items()):
        lines.append(["token:" + role_id, "token", TOKENS_DIR, pod])
    order = {what: i for i, what in enumerate(("configmaps", "secrets"))}
    objects = sorted(enumerate(plan["objects"]), key=lambda item: (order[item[1][0]], item[1][2], item[0]))
    for _, (what, name, kind_type, labels, notes, _in_repo, applied) in objects:
        encode = _b64 if what == "secrets" else str  # a Secret's fields are Go []byte: base64
        lines.append(["obj", what, go_json(kind_type), f"{CONNECTIONS_DIR}/{what}/{name}", go_json(encode(name)),
                      go_json({k: encode(v) for k, v in sorted(labels.items())}),
                      go_json({k: encode(str(v)) for k, v in sorted(notes.items())}),
                      "applied" if applied else "mounted"])
    return "".join("\t".join(line) + "\n" for line in lines)


def _b64(text: str) -> str:
    return base64.b64encode(str(text).encode()).decode()


def configmeta(rc, resolved, role, ordinal: int) -> dict:
    """The whole configmeta.json of one member (what the agent assembles in the pod, before it
    replaces the placeholders of ``rc.fills``)."""
    plan = rc.fills
    doc = base_configmeta(rc, plan=plan)
    doc["node"] = node_section(rc, role, ordinal)
    doc["connections"] = connections(rc, plan)
    return doc


def members_text(rc) -> str:
    return "".join(f"{role.id} {rc.fqdn(pod)}\n" for role in sorted(rc.roles, key=lambda r: r.id) for pod in role.pods)


def _shell_quote(value: str) -> str:
    return "'" + value.replace("'", "'\"'\"'") + "'"


def role_env(rc, role, config, systemd: bool) -> str:
    events = role.app_role.get("eventList")
    settings = {
        "KD_ROLE": role.id,
        "KD_PACKAGE_URL": (role.package or {}).get("packageURL", ""),
        "KD_NEW_LAYOUT": "true" if (role.package or {}).get("useNewSetupLayout") else "false",
        "KD_EVENTS": "all" if events is None else " ".join(events),
        "KD_SYSTEMD": "true" if systemd else "false",
        "KD_CONFIGCLI_URL": config.configcli_url,
        "KD_READY_DOMAIN": ready_domain(rc),
        "KD_WHEN_SCALED": (config.pvc_retention or {}).get("whenScaled") or "Retain",
        "KD_POLL_SECONDS": str(config.poll_seconds),
        "KD_CONFIGURE_TIMEOUT": str(config.configure_timeout),
    }
    if config.configcli_sha256:
        settings["KD_CONFIGCLI_SHA256"] = config.configcli_sha256
    return "".join(f"{k}={_shell_quote(v)}\n" for k, v in settings.items())


def role_injections(role) -> str:
    lines = []
    for inj in role.spec.get("fileInjections") or []:
        perms = inj.get("permissions") or {}
        mode = format(perms["fileMode"], "o") if perms.get("fileMode") is not None else ""
        fields = [inj["srcURL"], inj["destDir"], mode, perms.get("fileOwner", ""), perms.get("fileGroup", "")]
        lines.append("\t".join(fields) + "\n")
    return "".join(lines)


def ready_domain(rc) -> str:
    return f"{ready_service_name(rc.headless)}.{rc.domain.split('.', 1)[1]}"


def ready_service(rc, config, headless: dict) -> list:
    """A second headless Service, without ``publishNotReadyAddresses``: DNS has a name for a
    member's address under it (``<a-b-c-d>.<headless>-ready.<ns>.svc...``) only while the member
    is Ready, i.e. configured.  The agent sends ``--addnodes`` only once a new peer's address
    has that name, as KubeDirector notifies only after the new member's ``--configure``."""
    if not cluster_uses_agent(rc, config):
        return []
    service = copy.deepcopy(headless)
    service["metadata"]["name"] = ready_service_name(rc.headless)
    service["spec"]["publishNotReadyAddresses"] = False
    return [service]


_AGENT: list = []  # the script, once read (package data: the same for every cluster of the run)


def _agent_script() -> str:
    if not _AGENT:
        with open(AGENT_FILE, encoding="utf-8") as fh:
            _AGENT.append(fh.read())
    return _AGENT[0]


# Every ConfigMap's data (keys plus values, in bytes) stays below this, far enough under the API
# server's 1 MiB limit that the serialized object (metadata, JSON escaping) fits too.
SHARD_BUDGET = 768 * 1024
# configmeta ConfigMaps every pod template lists (the first required, the others optional), so
# that a cluster that grows into more ConfigMaps does not change its pod templates (no roll).
def _utf8_chunks(text: str, size: int) -> list:
    """``text`` cut into pieces of at most ``size`` UTF-8 bytes, never inside a character."""
    data = text.encode()
    chunks, start = [], 0
    while start < len(data):
        end = min(start + size, len(data))
        while end < len(data) and (data[end] & 0xC0) == 0x80:
            end -= 1
        chunks.append(data[start:end].decode())
        start = end
    return chunks or [""]


def _entry_size(key: str, value: str) -> int:
    return len(key.encode()) + len(value.encode())


def shard(entries: list, budget: int | None = None) -> list:
    """Pack ``(key, value)`` entries, in order, into as few data maps as fit the budget.

    A value larger than a whole ConfigMap (the shared configmeta of a huge cluster) is cut into
    ``key``, ``key.1``, ``key.2``, ... which the agent concatenates.  With more than one map, the
    first carries ``shards`` (``<count> <version>``) and every other one ``shard.<i>``
    (``<version>``), so the agent only uses a projection in which all of them agree.
    """
    budget = budget or SHARD_BUDGET
    pieces = []
    for key, value in entries:
        chunks = _utf8_chunks(value, budget // 2) if _entry_size(key, value) > budget // 2 else [value]
        pieces += [(key if i == 0 else f"{key}.{i}", chunk) for i, chunk in enumerate(chunks)]
    maps, size = [{}], 0
    reserve = 64  # room for the shards / shard.<i> key
    for key, value in pieces:
        n = _entry_size(key, value)
        if maps[-1] and size + n > budget - reserve:
            maps.append({})
            size = 0
        maps[-1][key] = value
        size += n
    if len(maps) > 1:
        version = sha256(go_json(maps).encode()).hexdigest()[:16]
        maps[0]["shards"] = f"{len(maps)} {version}\n"
        for i, data in enumerate(maps[1:], 1):
            data[f"shard.{i}"] = version + "\n"
    return maps


def configmaps(rc, config) -> list:
    if not cluster_uses_agent(rc, config):
        return []
    agent_name = configmap_names(rc.headless)[1]
    labels = {**rc.recommended, **rc.labels}
    annotations = with_wave({}, config, WAVE)
    plan = rc.fills
    base = base_configmeta(rc, plan=plan)
    base["connections"] = connections(rc, plan)
    conn_text = go_json(base["connections"])
    entries = [
        ("configmeta.json", go_json(base)),
        ("members", members_text(rc)),
        ("connections", sha256(conn_text.encode()).hexdigest()[:16] + "\n"),
    ]
    fills = fills_text(rc, plan)
    if fills:
        entries.append(("fills", fills))
    for role in rc.roles:
        if role.package and uses_agent(rc, role, config):
            for i, pod in enumerate(role.pods):
                entries.append((f"{pod}.node.json", go_json(node_section(rc, role, i))))
    systemd = bool(rc.app.spec.get("systemdRequired"))
    agent_data = {"kd-agent.sh": _agent_script()}
    for role in rc.roles:
        if uses_agent(rc, role, config):
            agent_data[f"{role.id}.env"] = role_env(rc, role, config, systemd)
            injections = role_injections(role)
            if injections:
                agent_data[f"{role.id}.injections"] = injections
    objects = [
        {"apiVersion": "v1", "kind": "ConfigMap",
         "metadata": metadata(shard_name(rc.headless, i), rc.cluster.namespace, labels, annotations), "data": data}
        for i, data in enumerate(shard(entries))
    ]
    agent_map = {"apiVersion": "v1", "kind": "ConfigMap",
                 "metadata": metadata(agent_name, rc.cluster.namespace, labels, annotations), "data": agent_data}
    if config.configcli_tgz:  # air-gapped: the agent installs this instead of downloading configcli
        agent_map["binaryData"] = {"configcli.tgz": base64.b64encode(config.configcli_tgz).decode()}
    objects.append(agent_map)
    return objects


def list_shards(objects: list, rc) -> None:
    """A cluster whose configmeta needs more ConfigMaps than pod templates list: list them all."""
    names = {o["metadata"]["name"] for o in objects if o["kind"] == "ConfigMap"}
    count = 0
    while shard_name(rc.headless, count) in names:
        count += 1
    if count <= LISTED_SHARDS:
        return
    for obj in objects:
        if obj["kind"] != "StatefulSet":
            continue
        for volume in obj["spec"]["template"]["spec"]["volumes"]:
            if volume["name"] == "kd-configmeta":
                volume["projected"]["sources"] = _shard_sources(rc, count)


def _shard_sources(rc, count: int) -> list:
    return [{"configMap": {"name": shard_name(rc.headless, i), **({"optional": True} if i else {})}} for i in range(count)]


def agent_volumes(rc, role) -> tuple[list, list]:
    """Volumes and mounts that deliver configmeta, the agent and connected ConfigMaps/Secrets."""
    agent_name = configmap_names(rc.headless)[1]
    volumes = [
        {"name": "kd-configmeta", "projected": {"sources": _shard_sources(rc, LISTED_SHARDS), "defaultMode": 0o444}},
        {"name": "kd-agent", "configMap": {"name": agent_name, "defaultMode": 0o555}},
    ]
    mounts = [
        {"name": "kd-configmeta", "mountPath": CONFIGMETA_DIR, "readOnly": True},
        {"name": "kd-agent", "mountPath": AGENT_DIR, "readOnly": True},
    ]
    plan = rc.fills
    if plan["secret_keys"]:
        volumes.append({"name": "kd-secret-keys", "secret": {"secretName": plan["secret_name"], "defaultMode": 0o440,
                                                             "optional": True}})
        mounts.append({"name": "kd-secret-keys", "mountPath": SECRET_KEYS_DIR, "readOnly": True})
    if plan["tokens"]:
        volumes.append({"name": "kd-auth-tokens", "secret": {"secretName": plan["tokens_secret"],
                                                             "defaultMode": 0o440, "optional": True}})
        mounts.append({"name": "kd-auth-tokens", "mountPath": TOKENS_DIR, "readOnly": True})
    for i, (name, secret, _keys) in enumerate(connected_keys(rc)):
        volumes.append({"name": f"kd-conn-keys-{i}", "secret": {"secretName": secret, "defaultMode": 0o440,
                                                                "optional": True}})
        mounts.append({"name": f"kd-conn-keys-{i}", "mountPath": f"{CONNECTED_KEYS_DIR}/{name}", "readOnly": True})
    conns = rc.cluster.spec.get("connections") or {}
    for i, name in enumerate(sorted(conns.get("configmaps") or [])):
        volumes.append({"name": f"kd-conn-cm-{i}", "configMap": {"name": name, "defaultMode": 0o444, "optional": True}})
        mounts.append({"name": f"kd-conn-cm-{i}", "mountPath": f"{CONNECTIONS_DIR}/configmaps/{name}", "readOnly": True})
    for i, name in enumerate(sorted(conns.get("secrets") or [])):
        volumes.append({"name": f"kd-conn-secret-{i}", "secret": {"secretName": name, "defaultMode": 0o440, "optional": True}})
        mounts.append({"name": f"kd-conn-secret-{i}", "mountPath": f"{CONNECTIONS_DIR}/secrets/{name}", "readOnly": True})
    return volumes, mounts
