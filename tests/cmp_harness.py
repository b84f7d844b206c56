"""Run kdrender the way Argo CD's CMP sidecar (argocd-cmp-server) runs a plugin.

What argocd-cmp-server does, and what this harness reproduces (see gitops-anchors §1):

* the repo-server streams the *whole repo* to the sidecar, which unpacks it into a fresh work dir
  (``$TMPDIR/_cmp_server/<uuid>``) owned by the sidecar user, uid 999;
* ``init`` (if any) then ``generate`` run *exactly as written in plugin.yaml*
  (``command[0]`` with ``command[1:] + args``, looked up on the sidecar's PATH, no shell), in the
  Application's source path, in their own process group, under a deadline (SIGTERM, then SIGKILL
  5 s later);
* the environment is the sidecar's own (here: a minimal PATH/HOME/LANG, never the test process's
  environment) plus the build environment: ``ARGOCD_APP_*``, ``KUBE_VERSION``, ``KUBE_API_VERSIONS``,
  the Application's plugin env as ``ARGOCD_ENV_<name>`` (values env-substituted against the build
  environment, ``$$`` for a literal ``$``) and its parameters as ``ARGOCD_APP_PARAMETERS`` (JSON) plus
  ``PARAM_<NAME>`` / ``PARAM_<NAME>_<i>`` / ``PARAM_<NAME>_<KEY>``;
* a non-zero exit is an error (stderr is what the UI shows); otherwise stdout is decoded like
  apimachinery's YAMLOrJSONDecoder (a JSON stream if it starts with ``{``, else ``---``-separated YAML),
  ``*List`` objects are flattened, empty documents skipped, and anything that is not an object with
  apiVersion, kind and metadata.name is rejected.

When the tests run as root, plugin commands run as uid 999, so the ``kdrender`` console script must
be runnable by that user: :func:`get_runtime` checks that and, if it is not (an interpreter under
/root, say), installs kdrender the way the Dockerfile does into a venv that uid 999 can run.

The module also holds the small emulations the deploy tests share: parsing the Dockerfile and
replaying its install steps, the .dockerignore build context, and the ApplicationSet git files
generator with the few Go-template expressions the bundled ApplicationSet uses.
"""

from __future__ import annotations

import atexit
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import sysconfig
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml

TESTS = Path(__file__).resolve().parent
PROJECT = TESTS.parent
PLUGIN_YAML = PROJECT / "plugin.yaml"
DOCKERFILE = PROJECT / "Dockerfile"
DOCKERIGNORE = PROJECT / ".dockerignore"

CMP_UID = 999  # Argo CD requires CMP sidecars to run as this user
DEFAULT_TIMEOUT = 60.0  # controller.repo.server.timeout.seconds default
KILL_GRACE = 5.0  # argocd-cmp-server: SIGTERM to the process group, SIGKILL 5 s later
DEFAULT_KUBE_VERSION = "1.29.0"  # like Argo CD: semantic version without "v" and build metadata
DEFAULT_KUBE_API_VERSIONS = ",".join(sorted([
    "v1", "v1/ConfigMap", "v1/Namespace", "v1/PersistentVolumeClaim", "v1/Pod", "v1/Secret", "v1/Service",
    "v1/ServiceAccount", "apps/v1", "apps/v1/DaemonSet", "apps/v1/Deployment", "apps/v1/ReplicaSet",
    "apps/v1/StatefulSet", "batch/v1", "batch/v1/CronJob", "batch/v1/Job", "policy/v1",
    "policy/v1/PodDisruptionBudget", "networking.k8s.io/v1", "networking.k8s.io/v1/NetworkPolicy",
]))
# Not copied into the CMP work dir (reposerver.plugin.tar.exclusions would drop .git; the rest is
# local clutter that is never in a Git checkout).
COPY_IGNORE = shutil.ignore_patterns(".git", "__pycache__", "*.pyc", ".pytest_cache", ".hypothesis",
                                     ".venv", "venv", "*.egg-info", "build", "dist")
# Environment passed through to pip when installing (network settings only).
_PIP_PASSTHROUGH = re.compile(r"^(PIP_\w+|https?_proxy|HTTPS?_PROXY|no_proxy|NO_PROXY|SSL_CERT_FILE|SSL_CERT_DIR|"
                              r"REQUESTS_CA_BUNDLE|UV_\w+)$")


# --------------------------------------------------------------------------------------------------
# plugin.yaml

@dataclass(frozen=True)
class Command:
    command: tuple
    args: tuple = ()

    @property
    def argv(self) -> list:
        return [*self.command, *self.args]


@dataclass(frozen=True)
class Plugin:
    name: str
    version: str
    generate: Command
    init: Command | None
    raw: dict

    @property
    def full_name(self) -> str:
        """The name Applications use: ``<name>-<version>``, or ``<name>`` without a version."""
        return f"{self.name}-{self.version}" if self.version else self.name

    @property
    def announcements(self) -> list:
        return list(((self.raw.get("spec") or {}).get("parameters") or {}).get("static") or [])


def _command(spec) -> Command | None:
    if not spec:
        return None
    return Command(tuple(spec.get("command") or ()), tuple(spec.get("args") or ()))


def load_plugin(path: Path | str = PLUGIN_YAML) -> Plugin:
    """Read plugin.yaml with the checks argocd-cmp-server makes (ValidatePluginConfig)."""
    with open(path, encoding="utf-8") as fh:
        raw = yaml.safe_load(fh)
    if not isinstance(raw, dict) or raw.get("kind") != "ConfigManagementPlugin":
        raise ValueError(f"{path}: kind must be ConfigManagementPlugin")
    name = (raw.get("metadata") or {}).get("name")
    if not name:
        raise ValueError(f"{path}: metadata.name must not be empty")
    spec = raw.get("spec") or {}
    generate = _command(spec.get("generate"))
    if generate is None or not generate.command:
        raise ValueError(f"{path}: spec.generate.command must not be empty")
    return Plugin(name=name, version=str(spec.get("version") or ""), generate=generate,
                  init=_command(spec.get("init")), raw=raw)


# --------------------------------------------------------------------------------------------------
# The environment Argo CD builds (reposerver/repository/repository.go, types.go)

def _escaped(name: str) -> str:
    return re.sub(r"[^A-Z0-9_]", "_", name.upper())


def parameter_env(parameters) -> dict:
    """ApplicationSourcePluginParameters.Environ(): ARGOCD_APP_PARAMETERS plus PARAM_* variables."""
    env = {}
    entries = []
    for param in parameters or []:
        entry = {"name": param["name"]}
        base = "PARAM_" + _escaped(param["name"])
        if "string" in param:
            entry["string"] = str(param["string"])
            env[base] = str(param["string"])
        if "map" in param:
            entry["map"] = {str(k): str(v) for k, v in (param["map"] or {}).items()}
            for key, value in entry["map"].items():
                env[f"{base}_{_escaped(key)}"] = value
        if "array" in param:
            entry["array"] = [str(v) for v in (param["array"] or [])]
            for i, value in enumerate(entry["array"]):
                env[f"{base}_{i}"] = value
        entries.append(entry)
    env["ARGOCD_APP_PARAMETERS"] = json.dumps(entries, separators=(",", ":"))
    return env


def envsubst(value: str, env: dict) -> str:
    """Go's os.Expand with Argo CD's mapping: $NAME and ${NAME}; unknown names are empty; $$ is $."""

    def repl(match: re.Match) -> str:
        name = match.group(1) or match.group(2)
        if match.group(0) == "$$":
            return "$"
        return env.get(name, "")

    return re.sub(r"\$\{([^}]*)\}|\$([A-Za-z0-9_]+)|\$\$", repl, value)


def build_env(*, base: dict, app_name: str, app_namespace: str, project: str, revision: str, source_path: str,
              repo_url: str, target_revision: str, kube_version: str | None, kube_api_versions: str | None,
              plugin_env: dict | list | None, parameters) -> dict:
    build = {
        "ARGOCD_APP_NAME": app_name,
        "ARGOCD_APP_NAMESPACE": app_namespace,
        "ARGOCD_APP_PROJECT_NAME": project,
        "ARGOCD_APP_REVISION": revision,
        "ARGOCD_APP_REVISION_SHORT": revision[:7],
        "ARGOCD_APP_REVISION_SHORT_8": revision[:8],
        "ARGOCD_APP_SOURCE_PATH": source_path,
        "ARGOCD_APP_SOURCE_REPO_URL": repo_url,
        "ARGOCD_APP_SOURCE_TARGET_REVISION": target_revision,
    }
    if kube_version is not None:
        build["KUBE_VERSION"] = kube_version
    if kube_api_versions is not None:
        build["KUBE_API_VERSIONS"] = kube_api_versions
    env = {**base, **build}
    items = plugin_env.items() if isinstance(plugin_env, dict) else [(e["name"], e.get("value", "")) for e in plugin_env or []]
    for name, value in items:
        env[f"ARGOCD_ENV_{name}"] = envsubst(str(value), build)
    if parameters:
        env.update(parameter_env(parameters))
    return env


# --------------------------------------------------------------------------------------------------
# Reading stdout like the repo-server

class ManifestError(ValueError):
    """stdout that Argo CD would not accept as manifests."""


def _check_object(obj, where: str) -> None:
    if not isinstance(obj, dict):
        raise ManifestError(f"{where}: not an object but {type(obj).__name__}")
    for key in ("apiVersion", "kind"):
        if not isinstance(obj.get(key), str) or not obj[key]:
            raise ManifestError(f"{where}: missing {key}")
    metadata = obj.get("metadata")
    if not isinstance(metadata, dict) or not isinstance(metadata.get("name"), str) or not metadata["name"]:
        raise ManifestError(f"{where}: {obj['kind']} without metadata.name")


def parse_manifests(text: str) -> list:
    """Decode stdout like apimachinery's YAMLOrJSONDecoder and check every object."""
    body = text.lstrip()
    docs = []
    if not body:
        return []
    if body.startswith("{"):
        decoder = json.JSONDecoder()
        pos = 0
        while True:
            while pos < len(body) and body[pos] in " \t\r\n":
                pos += 1
            if pos >= len(body):
                break
            try:
                value, pos = decoder.raw_decode(body, pos)
            except json.JSONDecodeError as exc:
                raise ManifestError(f"stdout is not a JSON object stream: {exc}") from None
            docs.append(value)
    else:
        try:
            docs = [d for d in yaml.load_all(body, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))]
        except yaml.YAMLError as exc:
            raise ManifestError(f"stdout is not YAML: {exc}") from None
    objects = []
    for i, doc in enumerate(docs):
        if doc is None or doc == {}:
            continue  # empty and null documents are skipped
        if isinstance(doc, dict) and str(doc.get("kind", "")).endswith("List") and "items" in doc:
            if not doc.get("apiVersion"):
                raise ManifestError(f"object {i + 1}: missing apiVersion")
            for j, item in enumerate(doc.get("items") or []):
                _check_object(item, f"object {i + 1} item {j + 1}")
                objects.append(item)
        else:
            _check_object(doc, f"object {i + 1}")
            objects.append(doc)
    return objects


# --------------------------------------------------------------------------------------------------
# Who runs the plugin

@dataclass(frozen=True)
class Runtime:
    """Where the plugin's commands are found (PATH head) and the uid they run as (None: this process's)."""

    bin_dir: str
    user: int | None
    description: str = ""

    @property
    def python(self) -> str:
        for name in ("python", "python3"):
            candidate = Path(self.bin_dir) / name
            if candidate.exists():
                return str(candidate)
        return sys.executable


def _is_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def _minimal_env(bin_dir: str, home: str) -> dict:
    return {"PATH": f"{bin_dir}:/usr/local/bin:/usr/bin:/bin", "HOME": home, "LANG": "C.UTF-8"}


def _user_kwargs(user: int | None) -> dict:
    if user is None:
        return {}
    return {"user": user, "group": user, "extra_groups": []}


def run_as(argv: list, user: int | None, *, env: dict | None = None, cwd: str = "/", timeout: float = 60) -> tuple:
    """(returncode, stdout, stderr) of argv run as ``user``; OSError (not runnable) gives returncode None."""
    try:
        proc = subprocess.run(argv, env=env or _minimal_env(str(Path(argv[0]).parent), "/"), cwd=cwd,
                              capture_output=True, text=True, timeout=timeout, **_user_kwargs(user))
    except OSError as exc:
        return None, "", f"{type(exc).__name__}: {exc}"
    return proc.returncode, proc.stdout, proc.stderr


def check_runnable(bin_dir: str, user: int | None) -> str | None:
    """None when ``<bin_dir>/kdrender --version`` works for ``user``, else why not."""
    script = Path(bin_dir) / "kdrender"
    if not script.is_file():
        return f"{script} does not exist"
    rc, out, err = run_as([str(script), "--version"], user, env=_minimal_env(bin_dir, "/"))
    if rc == 0 and "kdrender" in out:
        return None
    who = f"uid {user}" if user is not None else "this user"
    return f"{script} is not runnable by {who} (exit {rc}): {(err or out).strip()[-300:]}"


def make_tempdir(prefix: str) -> Path:
    """A fresh directory below the system temp dir, readable by everyone (pytest's tmp_path is
    private to the user running the tests, so uid 999 could not reach it)."""
    path = Path(tempfile.mkdtemp(prefix=prefix, dir=tempfile.gettempdir()))
    path.chmod(0o755)
    return path


def _unpacked_modes(root: Path, uid: int | None) -> None:
    """Modes (and owner) as after unpacking the repo tarball without preserveFileMode: folders
    0755, files 0644 (0755 if executable); read-only source files do not stay read-only."""
    for dirpath, dirnames, filenames in os.walk(root):
        os.chmod(dirpath, 0o755)
        if uid is not None:
            os.chown(dirpath, uid, uid)
        for name in filenames:
            path = os.path.join(dirpath, name)
            if os.path.islink(path):
                continue
            os.chmod(path, 0o755 if os.stat(path).st_mode & 0o111 else 0o644)
            if uid is not None:
                os.chown(path, uid, uid)


_RUNTIME: dict = {}
_CLEANUP: list = []


@atexit.register
def _cleanup() -> None:
    for path in _CLEANUP:
        shutil.rmtree(path, ignore_errors=True)


def get_runtime() -> tuple[Runtime | None, str]:
    """(runtime, note) for the plugin tests; (None, reason) when kdrender cannot run as the CMP user.

    ``$KDRENDER_CMP_BIN`` names the folder with the ``kdrender`` to use; by default it is the
    console-script folder of this interpreter (else the one on PATH).  As root, commands run as
    uid 999; if that user cannot run the script, kdrender is installed the way the Dockerfile
    installs it, into a venv that uid 999 can run.
    """
    if "result" in _RUNTIME:
        return _RUNTIME["result"]
    user = CMP_UID if _is_root() else None
    which = shutil.which("kdrender")
    candidates = [os.environ.get("KDRENDER_CMP_BIN"), sysconfig.get_path("scripts"),
                  os.path.dirname(which) if which else None]
    bin_dir = next((c for c in candidates if c and (Path(c) / "kdrender").is_file()), candidates[1])
    why = check_runnable(bin_dir, user)
    if why is None:
        result = (Runtime(bin_dir, user, f"{bin_dir}/kdrender as {'uid 999' if user else 'the current user'}"), "")
    elif user is None:
        result = (None, why)
    else:
        install = dockerfile_install()
        if install.runtime is not None:
            result = (install.runtime, f"{why}; using kdrender installed like the Dockerfile: {install.runtime.bin_dir}")
        else:
            result = (None, f"{why}; and installing it like the Dockerfile failed: {install.error}")
    _RUNTIME["result"] = result
    return result


# --------------------------------------------------------------------------------------------------
# Running the plugin

@dataclass
class CmpResult:
    argv: list
    returncode: int | None
    stdout: str
    stderr: str
    duration: float
    timed_out: bool
    env: dict
    app_dir: Path
    objects: list | None = None
    parse_error: str | None = None
    failed_step: str = "generate"

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and not self.timed_out and self.parse_error is None

    @property
    def error(self) -> str:
        """The message Argo CD would show (``` `<cmd args>` failed exit status N: <stderr>```)."""
        if self.timed_out:
            return f"`{' '.join(self.argv)}` timed out after {self.duration:.1f}s"
        if self.returncode != 0:
            return f"`{' '.join(self.argv)}` failed exit status {self.returncode}: {self.stderr.strip()}"
        return self.parse_error or ""

    def check(self) -> list:
        assert self.ok, f"plugin {self.failed_step} failed: {self.error}"
        return self.objects


def _run_step(argv: list, *, cwd: Path, env: dict, user: int | None, timeout: float) -> tuple:
    start = time.monotonic()
    try:
        proc = subprocess.Popen(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, start_new_session=True, **_user_kwargs(user))
    except OSError as exc:  # like exec failing in the sidecar: an error, no output
        return 127, "", f"{type(exc).__name__}: {exc}", time.monotonic() - start, False
    try:
        out, err = proc.communicate(timeout=timeout)
        timed_out = False
    except subprocess.TimeoutExpired:
        timed_out = True
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            out, err = proc.communicate(timeout=KILL_GRACE)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            out, err = proc.communicate()
    return proc.returncode, out, err, time.monotonic() - start, timed_out


def run_plugin(repo: Path | str, app_path: str = ".", *, runtime: Runtime, plugin: Plugin | None = None,
               app_name: str = "kd-test", namespace: str = "", project: str = "default",
               parameters=None, env=None, kube_version: str | None = DEFAULT_KUBE_VERSION,
               kube_api_versions: str | None = DEFAULT_KUBE_API_VERSIONS,
               revision: str = "0123456789abcdef0123456789abcdef01234567",
               repo_url: str = "https://git.example.com/kd-clusters.git", target_revision: str = "main",
               timeout: float = DEFAULT_TIMEOUT) -> CmpResult:
    """Copy ``repo`` to a fresh work dir and run the plugin's init and generate in ``app_path``."""
    plugin = plugin or load_plugin()
    owner = runtime.user
    work = make_tempdir("kdrender-cmp-")
    _CLEANUP.append(work)
    repo_dir = work / "repo"
    shutil.copytree(repo, repo_dir, symlinks=True, ignore=COPY_IGNORE)
    home = work / "home"
    home.mkdir()
    _unpacked_modes(work, owner)
    app_dir = (repo_dir / app_path).resolve()
    if not str(app_dir).startswith(str(repo_dir.resolve())) or not app_dir.is_dir():
        raise ValueError(f"app path {app_path!r} is not a folder inside the repo")
    full_env = build_env(base=_minimal_env(runtime.bin_dir, str(home)), app_name=app_name, app_namespace=namespace,
                         project=project, revision=revision, source_path=app_path, repo_url=repo_url,
                         target_revision=target_revision, kube_version=kube_version,
                         kube_api_versions=kube_api_versions, plugin_env=env, parameters=parameters)
    deadline = time.monotonic() + timeout
    try:
        if plugin.init is not None:
            argv = plugin.init.argv
            rc, out, err, took, timed_out = _run_step(argv, cwd=app_dir, env=full_env, user=owner,
                                                      timeout=max(deadline - time.monotonic(), 0.1))
            if rc != 0 or timed_out:
                return CmpResult(argv, rc, out, err, took, timed_out, full_env, app_dir, failed_step="init")
        argv = plugin.generate.argv
        rc, out, err, took, timed_out = _run_step(argv, cwd=app_dir, env=full_env, user=owner,
                                                  timeout=max(deadline - time.monotonic(), 0.1))
        result = CmpResult(argv, rc, out, err, took, timed_out, full_env, app_dir)
        if rc == 0 and not timed_out:
            try:
                result.objects = parse_manifests(out)
            except ManifestError as exc:
                result.parse_error = str(exc)
        return result
    finally:
        shutil.rmtree(work, ignore_errors=True)
        _CLEANUP.remove(work)


def render_cli(repo: Path | str, files: list, runtime: Runtime | None = None) -> list:
    """Objects printed by ``kdrender render FILES --repo REPO`` (the reference for generate's output).

    With ``runtime``, the same kdrender installation the plugin runs from is used (run as this
    process's user), so both sides render with the same code even if the source changes meanwhile;
    except for the sidecar image's venv, which holds only what ``generate`` imports (no click):
    then this interpreter's kdrender renders the reference.
    """
    has_cli = runtime is not None and subprocess.run([runtime.python, "-c", "import click"],
                                                     capture_output=True, timeout=60).returncode == 0
    argv = [str(Path(runtime.bin_dir) / "kdrender")] if has_cli else [sys.executable, "-m", "kdrender"]
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    proc = subprocess.run([*argv, "render", *[str(f) for f in files], "--repo", str(repo)],
                          cwd=repo, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, f"kdrender render failed: {proc.stderr}"
    return [d for d in yaml.safe_load_all(proc.stdout) if d is not None]


def by_identity(objects: list) -> dict:
    """``{(apiVersion, kind, namespace, name): object}``; duplicate identities are an error."""
    out = {}
    for obj in objects:
        key = (obj["apiVersion"], obj["kind"], obj["metadata"].get("namespace", ""), obj["metadata"]["name"])
        assert key not in out, f"duplicate object {key}"
        out[key] = obj
    return out


# --------------------------------------------------------------------------------------------------
# Dockerfile and .dockerignore

@dataclass(frozen=True)
class Instruction:
    cmd: str
    value: str
    line: int


def parse_dockerfile(text: str) -> list:
    """Instructions with line continuations joined; comment lines (also inside continuations) dropped."""
    instructions = []
    buf: list = []
    start = 0
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if not buf:
            if not stripped or stripped.startswith("#"):
                continue
            start = number
        elif not stripped or stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            buf.append(stripped[:-1].strip())
            continue
        buf.append(stripped)
        cmd, _, value = " ".join(p for p in buf if p).partition(" ")
        instructions.append(Instruction(cmd.upper(), value.strip(), start))
        buf = []
    if buf:
        cmd, _, value = " ".join(p for p in buf if p).partition(" ")
        instructions.append(Instruction(cmd.upper(), value.strip(), start))
    return instructions


def parse_env(value: str) -> dict:
    """ENV key=value pairs (the legacy ``ENV key value`` form too)."""
    tokens = shlex.split(value)
    if tokens and "=" not in tokens[0]:
        return {tokens[0]: " ".join(tokens[1:])}
    return dict(t.split("=", 1) for t in tokens)


def copy_parts(value: str) -> tuple[list, list, str]:
    """(flags, sources, destination) of a COPY/ADD."""
    tokens = shlex.split(value)
    flags = [t for t in tokens if t.startswith("--")]
    rest = [t for t in tokens if not t.startswith("--")]
    return flags, rest[:-1], rest[-1]


def _glob_regex(pattern: str) -> re.Pattern:
    out = []
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
            continue
        if pattern.startswith("**", i):
            out.append(".*")
            i += 2
            continue
        if ch == "*":
            out.append("[^/]*")
        elif ch == "?":
            out.append("[^/]")
        elif ch == "[":
            end = pattern.find("]", i)
            if end < 0:
                out.append(re.escape(ch))
            else:
                cls = pattern[i + 1:end]
                out.append("[" + ("^" + cls[1:] if cls.startswith("!") else cls) + "]")
                i = end
        else:
            out.append(re.escape(ch))
        i += 1
    return re.compile("".join(out) + r"\Z")


def dockerignore_rules(text: str) -> list:
    rules = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        negate = line.startswith("!")
        pattern = os.path.normpath(line[1:] if negate else line).lstrip("/")
        rules.append((negate, _glob_regex(pattern), pattern))
    return rules


def dockerignore_excludes(rules: list, rel: str) -> bool:
    """Docker's rule: the last pattern matching the path or one of its parent folders decides."""
    parts = rel.split("/")
    candidates = ["/".join(parts[:n]) for n in range(1, len(parts) + 1)]
    excluded = False
    for negate, regex, _ in rules:
        if any(regex.match(c) for c in candidates):
            excluded = not negate
    return excluded


def build_context(root: Path = PROJECT, dockerignore: Path = DOCKERIGNORE) -> list:
    """Repo-relative files ``docker build`` would send (after .dockerignore)."""
    rules = dockerignore_rules(dockerignore.read_text(encoding="utf-8")) if dockerignore.exists() else []
    reincluded = [pattern for negate, _, pattern in rules if negate]
    files = []

    def may_hold_context(rel: str) -> bool:
        # an excluded folder is skipped unless a "!" pattern could re-include something inside it
        if not dockerignore_excludes(rules, rel):
            return True
        return any(p.startswith(("*", "?", "[")) or p.startswith(rel + "/") for p in reincluded)

    for dirpath, dirnames, filenames in os.walk(root):
        rel_dir = os.path.relpath(dirpath, root).replace(os.sep, "/")
        dirnames[:] = sorted(d for d in dirnames if d != ".git" and may_hold_context(
            d if rel_dir == "." else f"{rel_dir}/{d}"))
        for name in filenames:
            rel = os.path.relpath(os.path.join(dirpath, name), root).replace(os.sep, "/")
            if not dockerignore_excludes(rules, rel):
                files.append(rel)
    return sorted(files)


@dataclass
class Install:
    """The Dockerfile's install steps replayed below ``fakeroot`` (container paths map to fakeroot + path)."""

    fakeroot: Path | None = None
    runtime: Runtime | None = None
    replayed: list = field(default_factory=list)
    skipped: list = field(default_factory=list)
    copies: list = field(default_factory=list)
    error: str | None = None
    log: str = ""

    def path(self, container_path: str) -> Path:
        return self.fakeroot / container_path.lstrip("/")


def pick_python(user: int | None) -> str | None:
    """An interpreter (>= 3.10, with venv) that ``user`` can run: this one if possible."""
    candidates = [sys.executable, getattr(sys, "_base_executable", ""), "/usr/local/bin/python3", "/usr/bin/python3"]
    seen = set()
    for candidate in candidates:
        if not candidate or candidate in seen or not os.path.exists(candidate):
            continue
        seen.add(candidate)
        rc, out, _ = run_as([candidate, "-c", "import sys, venv, ensurepip; print(sys.version_info >= (3, 10))"],
                            user, env={"PATH": "/usr/bin:/bin", "HOME": "/", "LANG": "C.UTF-8"})
        if rc == 0 and out.strip() == "True":
            return candidate
    return None


_CONTAINER_PATH = re.compile(r"(?<![\w.$/-])(/[\w./-]+)")
_SYSTEM_PATHS = ("/usr/", "/bin/", "/sbin/", "/lib", "/etc/", "/dev/", "/proc/")


def _map_path(install: Install, path: str) -> str:
    """A container path in a replayed RUN: system paths stay, the rest moves below the fakeroot."""
    return path if path.startswith(_SYSTEM_PATHS) else str(install.path(path))


def dockerfile_install(dockerfile: Path = DOCKERFILE, context_root: Path = PROJECT,
                       python: str | None = None) -> Install:
    """Replay the Dockerfile's COPY and ``pip install`` RUN steps in a clean venv (cached per session).

    COPY sources come from the .dockerignore-filtered build context (a missing source is an error,
    as in ``docker build``); container paths below the fakeroot; ``python`` is an interpreter the
    CMP user can run.  RUN steps without ``pip install`` (user creation) are image-only and skipped.
    """
    key = (str(dockerfile), str(context_root), python)
    if key in _RUNTIME:
        return _RUNTIME[key]
    install = Install()
    _RUNTIME[key] = install
    user = CMP_UID if _is_root() else None
    python = python or pick_python(user)
    if python is None:
        install.error = "no Python >= 3.10 with venv that uid 999 can run"
        return install
    fakeroot = make_tempdir("kdrender-image-")
    _CLEANUP.append(fakeroot)
    install.fakeroot = fakeroot
    shim = fakeroot / ".shim"
    shim.mkdir()
    for name in ("python", "python3"):
        (shim / name).symlink_to(python)
    context = set(build_context(context_root))
    env = {k: v for k, v in os.environ.items() if _PIP_PASSTHROUGH.match(k)}
    env.update({"HOME": str(fakeroot / "root"), "LANG": "C.UTF-8"})
    (fakeroot / "root").mkdir()
    workdir = "/"
    container_env: dict = {}
    log = []
    for ins in parse_dockerfile(dockerfile.read_text(encoding="utf-8")):
        if ins.cmd == "WORKDIR":
            workdir = os.path.normpath(os.path.join(workdir, ins.value))
            install.path(workdir).mkdir(parents=True, exist_ok=True)
        elif ins.cmd == "ENV":
            container_env.update(parse_env(ins.value))
        elif ins.cmd in ("COPY", "ADD"):
            flags, sources, dest = copy_parts(ins.value)
            if any(f.startswith("--from") for f in flags):
                install.skipped.append(ins)
                continue
            dest_abs = os.path.normpath(os.path.join(workdir, dest))
            for src in sources:
                src_rel = os.path.normpath(src).lstrip("/")
                files = [f for f in context if f == src_rel or f.startswith(src_rel + "/")]
                if not files:
                    install.error = f"Dockerfile line {ins.line}: COPY source {src!r} is not in the build context"
                    return install
                for rel in files:
                    if rel == src_rel:
                        target = dest_abs if not dest.endswith("/") else os.path.join(dest_abs, os.path.basename(rel))
                    else:
                        target = os.path.join(dest_abs, rel[len(src_rel) + 1:])
                    out = install.path(target)
                    out.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(context_root / rel, out)
                    install.copies.append((rel, target))
        elif ins.cmd == "RUN":
            if "pip install" not in ins.value:
                install.skipped.append(ins)
                continue
            command = _CONTAINER_PATH.sub(lambda m: _map_path(install, m.group(1)), ins.value)
            run_env = {**env}
            for k, v in container_env.items():
                if k != "PATH":
                    run_env[k] = _map_path(install, v) if v.startswith("/") else v
            run_env["PATH"] = f"{shim}:/usr/bin:/bin"
            proc = subprocess.run(["/bin/sh", "-c", command], cwd=install.path(workdir), env=run_env,
                                  capture_output=True, text=True, timeout=600)
            log.append(f"$ {command}\n{proc.stdout}{proc.stderr}")
            install.replayed.append(ins)
            if proc.returncode != 0:
                install.error = f"Dockerfile line {ins.line}: exit {proc.returncode}: {proc.stderr.strip()[-2000:]}"
                install.log = "\n".join(log)
                return install
    install.log = "\n".join(log)
    venv = container_env.get("VIRTUAL_ENV", "/opt/kdrender")
    bin_dir = str(install.path(venv) / "bin")
    why = check_runnable(bin_dir, user)
    if why:
        install.error = why
        return install
    install.runtime = Runtime(bin_dir, user, f"venv installed like the Dockerfile at {bin_dir}")
    return install


# --------------------------------------------------------------------------------------------------
# ApplicationSet git files generator, with the Go-template expressions the bundled ApplicationSet uses

_EXPR = re.compile(r"\{\{-?\s*(.*?)\s*-?\}\}")


def _lookup(params: dict, dotted: str):
    value = params
    for part in dotted.strip(".").split("."):
        if not isinstance(value, dict) or part not in value:
            raise KeyError(f"map has no entry for key {part!r} (missingkey=error)")
        value = value[part]
    return value


def _eval(expr: str, params: dict) -> str:
    if re.fullmatch(r"(\.[A-Za-z_][\w]*)+", expr):
        return str(_lookup(params, expr))
    dig = re.fullmatch(r'dig((?:\s+"[^"]*")+)\s+\.', expr)
    if dig:
        args = re.findall(r'"([^"]*)"', dig.group(1))
        keys, default = args[:-1], args[-1]
        value = params
        for key in keys:
            if not isinstance(value, dict) or key not in value:
                return default
            value = value[key]
        return str(value)
    raise NotImplementedError(f"template expression {{{{ {expr} }}}} is not emulated")


def render_template(node, params: dict):
    if isinstance(node, str):
        return _EXPR.sub(lambda m: _eval(m.group(1), params), node)
    if isinstance(node, list):
        return [render_template(n, params) for n in node]
    if isinstance(node, dict):
        return {k: render_template(v, params) for k, v in node.items()}
    return node


def _normalize(text: str) -> str:
    return re.sub(r"[^-a-z0-9.]", "-", text.lower())  # Argo CD's utils.SanitizeName, for *Normalized


def git_files_generator(repo: Path, pattern: str) -> list:
    """Parameters per matched file: the file's content plus ``path.*`` (doublestar-like globbing)."""
    regex = _glob_regex(pattern)
    static = []
    for part in pattern.split("/")[:-1]:
        if re.search(r"[*?\[]", part):
            break
        static.append(part)
    out = []
    for dirpath, dirnames, filenames in os.walk(repo.joinpath(*static)):
        dirnames[:] = sorted(d for d in dirnames if d != ".git")
        for name in sorted(filenames):
            rel = os.path.relpath(os.path.join(dirpath, name), repo).replace(os.sep, "/")
            if not regex.match(rel):
                continue
            content = yaml.safe_load((repo / rel).read_text(encoding="utf-8"))
            if not isinstance(content, dict):
                raise ValueError(f"{rel}: the files generator needs one object per file")
            folder = os.path.dirname(rel)
            params = dict(content)
            params["path"] = {
                "path": folder, "basename": os.path.basename(folder), "filename": name,
                "basenameNormalized": _normalize(os.path.basename(folder)), "filenameNormalized": _normalize(name),
                "segments": folder.split("/") if folder else [],
            }
            out.append((rel, params))
    return out


def applicationset_applications(appset: dict, repo: Path) -> list:
    """(file, Application) for every file the git files generators match, from the template."""
    spec = appset["spec"]
    assert spec.get("goTemplate") is True, "only goTemplate ApplicationSets are emulated"
    apps = []
    for generator in spec["generators"]:
        for entry in generator["git"]["files"]:
            for rel, params in git_files_generator(repo, entry["path"]):
                template = render_template(spec["template"], params)
                # the controller creates Applications in the ApplicationSet's namespace
                template["metadata"].setdefault("namespace", appset["metadata"].get("namespace", "argocd"))
                apps.append((rel, {"apiVersion": "argoproj.io/v1alpha1", "kind": "Application", **template}))
    return apps


def application_run_args(app: dict) -> dict:
    """run_plugin keyword arguments for what an Application hands the plugin."""
    source = app["spec"]["source"]
    plugin = source.get("plugin") or {}
    return {
        "app_path": source.get("path") or ".",
        "app_name": app["metadata"]["name"],
        "namespace": app["spec"]["destination"].get("namespace", ""),
        "project": app["spec"].get("project", "default"),
        "parameters": plugin.get("parameters") or [],
        "env": plugin.get("env") or [],
        "repo_url": source["repoURL"],
        "target_revision": source.get("targetRevision", "HEAD"),
    }
