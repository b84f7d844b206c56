"""env-names: environment variable names the API server accepts for the target Kubernetes version.

Before 1.34 a name must match ``[-._a-zA-Z][-._a-zA-Z0-9]*`` and must not be ``.``, ``..`` or start
with ``..``; from 1.34 on (RelaxedEnvironmentVariableValidation, GA) any printable ASCII except
``=`` is allowed.  The target is ``kubernetesVersion`` in kdrender.yaml (or Argo CD's
``KUBE_VERSION``).  The variables kdrender adds itself (``PYTHONUSERBASE``,
``NVIDIA_VISIBLE_DEVICES``) are valid for every version; a role's ``env`` is checked.
"""

from __future__ import annotations

from ..lazyre import lazy

ID = "env-names"
TARGET = "cluster"

RELAXED_FROM = (1, 34)
_STRICT = lazy(r"[-._a-zA-Z][-._a-zA-Z0-9]*")
STRICT_MESSAGE = ("a valid environment variable name must consist of alphabetic characters, digits, '_', '-', "
                  "or '.', and must not start with a digit")
RELAXED_MESSAGE = "a valid environment variable name must consist only of printable ASCII characters other than '='"


def env_name_problem(name: str, version: tuple) -> str | None:
    """Why the API server of ``version`` refuses the env var ``name`` (None: it accepts it)."""
    if tuple(version) >= RELAXED_FROM:
        if not name:
            return "environment variable name must be non-empty"
        if any(not " " <= ch <= "~" or ch == "=" for ch in name):
            return RELAXED_MESSAGE
        return None
    reasons = [] if _STRICT.fullmatch(name) else [STRICT_MESSAGE]
    if name in (".", ".."):
        reasons.append(f"must not be {name!r}")
    elif name.startswith(".."):
        reasons.append("must not start with '..'")
    return "; ".join(reasons) or None


def check(ctx):
    version = ctx.config.kubernetes_version
    shown = ".".join(map(str, version))
    for i, role in enumerate(ctx.spec.get("roles") or []):
        for j, env in enumerate(role.get("env") or []):
            reason = env_name_problem(env.get("name", ""), version)
            if reason:
                yield ("spec", "roles", i, "env", j, "name"), (
                    f"environment variable name {env.get('name')!r} is invalid for Kubernetes {shown}: {reason}")
