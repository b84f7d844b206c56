"""configcli for the pods: a pinned sha256 for the download, or the tarball shipped in the bundle.

``kdrender.agent.configcliSHA256`` pins the digest of what ``configcliURL`` serves: the agent
refuses a download that does not match.  ``kdrender.agent.configcliFile`` names a configcli
tarball kept in the repo: it is shipped to the pods in the ``<headless>-kd-agent`` ConfigMap
(``binaryData``), its digest is pinned from the file, and no pod downloads configcli at all.
"""

from __future__ import annotations

import os

from .digest import sha256
from .load import CONFIG_FILE, check_inside
from .problems import Problem
from .record import replace

# The tarball shares the kd-agent ConfigMap with the agent script (1 MiB for the whole object).
MAX_TARBALL = 512 * 1024


def attach_configcli(config, root: str, docs: list) -> tuple[object, list]:
    """Read ``configcliFile`` (repo-relative, not through a symlink) into the config."""
    rel = config.configcli_file
    if not rel:
        return config, []
    doc = next((d for d in docs if d.file == CONFIG_FILE), None)
    path = ("kdrender", "agent", "configcliFile")

    def problem(message: str) -> list:
        if doc is not None:
            return [doc.problem(path, message, "configcli")]
        return [Problem(CONFIG_FILE, 1, 1, ".".join(path), message, "configcli")]

    outside = check_inside(root, rel)
    if outside is not None:
        return config, problem(f"configcliFile {rel!r}: {outside.message}")
    full = os.path.join(root, rel)
    if os.path.islink(full) or not os.path.isfile(full):
        return config, problem(f"configcliFile {rel!r} is not a regular file of the repo")
    try:
        with open(full, "rb") as fh:
            blob = fh.read(MAX_TARBALL + 1)
    except OSError as exc:
        return config, problem(f"configcliFile {rel!r} cannot be read: {exc.strerror}")
    if len(blob) > MAX_TARBALL:
        return config, problem(f"configcliFile {rel!r} is larger than {MAX_TARBALL // 1024} KiB")
    if blob[:2] != b"\x1f\x8b":
        return config, problem(f"configcliFile {rel!r} is not a gzip tarball (configcli's release .tar.gz)")
    digest = sha256(blob).hexdigest()
    if config.configcli_sha256 and config.configcli_sha256 != digest:
        return config, problem(f"configcliFile {rel!r} has sha256 {digest}, not the pinned configcliSHA256")
    return replace(config, configcli_tgz=blob, configcli_sha256=digest), []
