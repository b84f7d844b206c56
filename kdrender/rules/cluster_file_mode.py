"""file-mode: a file injection's ``fileMode`` is a permission mode, at most 0o777.

The agent runs ``chmod <fileMode in octal>``.  JSON has no octal numbers and YAML 1.1 and 1.2
read ``0755`` differently, so modes are written in decimal (``493``) or as YAML 1.2 octal
(``0o755``).  A decimal ``755`` is mode 0o1363 (sticky bit, odd permissions): anything above
0o777 is refused with the way to write what was probably meant.
"""

ID = "file-mode"
TARGET = "cluster"


def check(ctx):
    for i, role in enumerate(ctx.spec.get("roles") or []):
        for j, injection in enumerate(role.get("fileInjections") or []):
            mode = (injection.get("permissions") or {}).get("fileMode")
            if isinstance(mode, int) and mode > 0o777:
                path = ("spec", "roles", i, "fileInjections", j, "permissions", "fileMode")
                digits = str(mode)
                hint = (f"; for rwx bits {digits} write 0o{digits} or {int(digits, 8)}"
                        if len(digits) <= 4 and set(digits) <= set("01234567") else "")
                yield path, (f"{mode} is mode 0o{mode:o}, beyond 0o777 (decimal, not octal){hint}")
