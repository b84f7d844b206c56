"""tty-stdin: a role that asks for a TTY must also ask for STDIN.

KubeDirector: "Role(x) requested TTY without STDIN."
"""

ID = "tty-stdin"
TARGET = "app"


def check(ctx):
    for i, role in enumerate(ctx.spec.get("roles") or []):
        spec = role.get("containerSpec") or {}
        if spec.get("tty") and not spec.get("stdin"):
            yield ("spec", "roles", i, "containerSpec", "tty"), f"Role({role.get('id')}) requested TTY without STDIN."
