"""The repo configuration: KubeDirectorConfig settings plus kdrender's own options, defaulted."""

from __future__ import annotations

from .production import Production, from_options
from .problems import DEFAULT_PROBLEM_LIMIT
from .record import field, record

# KubeDirector's webhook defaults for kd-global-config (spec section 4.4), except the naming
# scheme: kdrender names objects after cluster and role by default (no random suffixes).
KD_DEFAULTS = {
    "defaultServiceType": "LoadBalancer",
    "nativeSystemdSupport": False,
    "requiredSecretPrefix": "",
    "clusterSvcDomainBase": ".svc.cluster.local",
    "defaultNamingScheme": "CrNameRole",
    "backupClusterStatus": False,
    "allowRestoreWithoutConnections": False,
}

# The configcli release KubeDirector bundles in its image (Makefile: configcli v0.8).
DEFAULT_CONFIGCLI_URL = "https://github.com/bluek8s/configcli/archive/v0.8.tar.gz"
DEFAULT_KUBERNETES_VERSION = (1, 29)
# How long the agent lets `startscript --configure` run before a config error (0: no limit).
DEFAULT_CONFIGURE_TIMEOUT = 3600

# The first Kubernetes version whose API server knows (and defaults) a field kdrender writes;
# for older targets the field is left out.
FEATURES = {
    "sharedMemorySize": (1, 22),  # KubeDirector's own gate for emptyDir sizeLimit on /dev/shm
    "internalTrafficPolicy": (1, 22),
    "allocateLoadBalancerNodePorts": (1, 24),
    "persistentVolumeClaimRetentionPolicy": (1, 27),  # beta, on by default
}


@record(frozen=True)
class Config:
    settings: dict = field(default_factory=lambda: dict(KD_DEFAULTS))
    namespace: str = "default"
    recommended_labels: bool = True
    instance_label: bool = True
    kubernetes_version: tuple = DEFAULT_KUBERNETES_VERSION
    sync_waves: bool = True
    pvc_retention: dict | None = field(default_factory=lambda: {"whenDeleted": "Retain", "whenScaled": "Retain"})
    agent: bool = True
    configcli_url: str = DEFAULT_CONFIGCLI_URL
    poll_seconds: int = 10
    configure_timeout: int = DEFAULT_CONFIGURE_TIMEOUT
    configcli_sha256: str = ""  # pinned digest of the configcli download (or of configcli_file)
    configcli_file: str = ""  # repo-relative configcli tarball shipped in the bundle (air-gapped)
    configcli_tgz: bytes = b""  # its content, read by kdrender.configcli.attach_configcli
    allow_empty: bool = False
    expose_ssh: bool = False
    source: str = ""
    production: Production = field(default_factory=Production)  # PDB, NetworkPolicy, spread, priority, probe
    problems_limit: int = DEFAULT_PROBLEM_LIMIT  # kdrender.limits.problems; the other limits act in load

    def get(self, key: str, default=None):
        return self.settings.get(key, default)

    def supports(self, feature: str) -> bool:
        """Whether the target Kubernetes version knows ``feature`` (a key of FEATURES)."""
        return tuple(self.kubernetes_version) >= FEATURES[feature]


def parse_version(text: str) -> tuple[int, int] | None:
    """``v1.29.3`` / ``1.29`` / ``1.29+`` -> (1, 29)."""
    text = text.strip().lstrip("v")
    parts = text.split(".")
    try:
        return int(parts[0]), int("".join(ch for ch in parts[1] if ch.isdigit()))
    except (IndexError, ValueError):
        return None


def make_config(settings: dict | None, options: dict | None, source: str = "") -> Config:
    """Apply defaults to already validated settings and kdrender options."""
    merged = dict(KD_DEFAULTS)
    for key, value in (settings or {}).items():
        if value is not None:
            merged[key] = value
    opts = options or {}
    agent = opts.get("agent") or {}
    kwargs = {}
    if "pvcRetention" in opts:
        kwargs["pvc_retention"] = opts["pvcRetention"]
    version = parse_version(str(opts["kubernetesVersion"])) if "kubernetesVersion" in opts else None
    return Config(
        settings=merged,
        namespace=opts.get("namespace", "default"),
        recommended_labels=opts.get("recommendedLabels", True),
        instance_label=opts.get("instanceLabel", True),
        kubernetes_version=version or DEFAULT_KUBERNETES_VERSION,
        sync_waves=opts.get("syncWaves", True),
        agent=agent.get("enabled", True),
        configcli_url=agent.get("configcliURL", DEFAULT_CONFIGCLI_URL),
        poll_seconds=agent.get("pollSeconds", 10),
        configure_timeout=agent.get("configureTimeoutSeconds", DEFAULT_CONFIGURE_TIMEOUT),
        configcli_sha256=agent.get("configcliSHA256", "").lower(),
        configcli_file=agent.get("configcliFile", ""),
        allow_empty=opts.get("allowEmpty", False),
        expose_ssh=opts.get("exposeSSH", False),
        problems_limit=(opts.get("limits") or {}).get("problems", DEFAULT_PROBLEM_LIMIT),
        source=source,
        production=from_options(opts),
        **kwargs,
    )
