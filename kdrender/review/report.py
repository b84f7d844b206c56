"""How ``kdrender diff`` prints its result: text (colored on a terminal), JSON or Markdown."""

from __future__ import annotations

import json

_SIGN = {"added": "+", "removed": "-", "changed": "~"}
_COLOR = {"added": "green", "removed": "red", "changed": "yellow"}
_MAX_VALUE = 160  # text and Markdown shorten long values; JSON keeps them whole
MAX_COMMENT = 60000  # GitHub refuses comments over 65536 characters


def _value(value) -> str:
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, ensure_ascii=False)
    text = text.replace("\n", "\\n")
    return text if len(text) <= _MAX_VALUE else text[:_MAX_VALUE - 3] + "..."


def _change_line(change) -> str:
    if change.kind == "added":
        return f"+ {change.path}: {_value(change.new)}"
    if change.kind == "removed":
        return f"- {change.path}: {_value(change.old)}"
    return f"~ {change.path}: {_value(change.old)} -> {_value(change.new)}"


def _owner(d) -> str:
    return f"cluster {d.cluster}" + (f", role {d.role}" if d.role else "")


def summary(diffs: list) -> dict:
    counts = {status: sum(1 for d in diffs if d.status == status) for status in ("added", "removed", "changed")}
    counts["dangerous"] = sum(1 for d in diffs if d.dangerous)
    return counts


def _summary_line(diffs: list) -> str:
    c = summary(diffs)
    line = f"{c['added']} added, {c['changed']} changed, {c['removed']} removed"
    return line + (f"; {c['dangerous']} dangerous" if c["dangerous"] else "")


def text(diffs: list, base: str, head: str, color: bool = False) -> str:
    import click

    def style(s: str, **kw) -> str:
        return click.style(s, **kw) if color else s

    lines = [f"kdrender diff {base} -> {head}"]
    if not diffs:
        return lines[0] + ": no changes\n"
    for d in diffs:
        lines.append(style(f"{_SIGN[d.status]} {d.ref}", fg=_COLOR[d.status], bold=True) + f"  ({_owner(d)})")
        for change in d.changes:
            lines.append("    " + style(_change_line(change), fg=_COLOR[change.kind]))
        for reason in d.reasons:
            lines.append("    " + style(f"DANGER: {reason}", fg="red", bold=True))
    lines.append(_summary_line(diffs))
    return "\n".join(lines) + "\n"


def as_json(diffs: list, base: str, head: str) -> str:
    return json.dumps({"base": base, "head": head, "summary": summary(diffs), "objects": [d.as_dict() for d in diffs]},
                      indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def _md(text: str) -> str:
    """Plain text inside a Markdown table cell or list item: no markup, no HTML."""
    for c in "\\`*_[]<>|#":
        text = text.replace(c, "\\" + c)
    return text


def markdown(diffs: list, base: str, head: str) -> str:
    """A pull-request comment: summary table, dangerous changes first, then a ``diff`` block per object."""
    out = [f"### kdrender diff: {_md(base)} → {_md(head)}", ""]
    if not diffs:
        return "\n".join(out + ["No change to any rendered object.", ""])
    dangerous = [d for d in diffs if d.dangerous]
    if dangerous:
        out += [f"**:warning: {len(dangerous)} dangerous change{'s' if len(dangerous) != 1 else ''}; "
                "review before merging:**", ""]
        for d in dangerous:
            for reason in d.reasons:
                out.append(f"- {_md(d.ref)} ({_md(_owner(d))}): {_md(reason)}")
        out.append("")
    out += ["| | Object | Cluster | Role | Fields |", "|---|---|---|---|---|"]
    for d in diffs:
        mark = _SIGN[d.status] + (" :warning:" if d.dangerous else "")
        out.append(f"| {mark} | {_md(d.ref)} | {_md(d.cluster)} | {_md(d.role)} | {len(d.changes) or ''} |")
    out.append("")
    changed = [d for d in diffs if d.changes]
    if changed:
        details, size, cut = [], 0, 0
        room = MAX_COMMENT - sum(len(line) + 1 for line in out)
        for d in changed:
            block = [f"{_md(d.ref)}", "", "```diff"]
            for c in d.changes:
                lines = [_change_line(c)] if c.kind != "changed" else [
                    f"- {c.path}: {_value(c.old)}", f"+ {c.path}: {_value(c.new)}"]
                block += [line.replace("```", "` ` `") for line in lines]
            block += ["```", ""]
            block_size = sum(len(line) + 1 for line in block)
            if size + block_size > room:
                cut += 1
                continue
            size += block_size
            details += block
        out += ["<details><summary>Changed fields</summary>", ""] + details
        if cut:
            out += [f"({cut} more object{'s' if cut != 1 else ''} left out to fit a comment; run `kdrender diff` "
                    "for all of them)", ""]
        out += ["</details>", ""]
    out.append(_summary_line(diffs))
    return "\n".join(out) + "\n"
