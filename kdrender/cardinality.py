"""Role cardinality: ``"N"`` is exactly N members, ``"N+"`` at least N."""

MAX_MEMBERS = 1000


def parse_cardinality(text: str) -> tuple[int, bool]:
    """``"2+"`` -> (2, True); ``"1"`` -> (1, False)."""
    scale_out = text.endswith("+")
    return int(text.rstrip("+")), scale_out


def members_for(role: dict, app_role: dict) -> int:
    """The member count of a cluster role, defaulted from the cardinality as the webhook does."""
    members = role.get("members")
    return members if members is not None else parse_cardinality(app_role["cardinality"])[0]
