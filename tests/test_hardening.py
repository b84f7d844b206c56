"""Issue 9 robustness beyond the corpus: the last-resort handler, budgets (and the memory they
keep a run under), folders that cannot be read, integer and quantity typing, YAML 1.1 forms."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from decimal import Decimal
from pathlib import Path

import pytest

from hostile import run_kdrender, write_case
from kdrender import budget as budget_module
from kdrender.budget import LIMITS, Budget
from kdrender.load import load_repo, parse_json, parse_yaml, scalar_problem
from kdrender.quantity import QUANTITY_MAX, parse_quantity
from kdrender.validate import validate_repo

SCHEMAS = Path(budget_module.__file__).parent / "schemas"


# --------------------------------------------------------------------------------------------------
# last-resort handler

def _explode(*args, **kwargs):
    raise TypeError("secret-value-in-a-message")


@pytest.mark.parametrize("argv", [["validate"], ["render", "clusters/web1.yaml"], ["generate"]])
def test_internal_error_is_one_line_and_exit_3(tmp_path, monkeypatch, argv):
    root = write_case(tmp_path / "repo", {})
    monkeypatch.setattr("kdrender.validate.validate_repo", _explode)
    monkeypatch.setattr("kdrender.index.check_repo", _explode)
    monkeypatch.setattr("kdrender.pipeline.load_model", _explode)
    result = run_kdrender(argv, root)
    assert result.exit == 3 and result.stdout == ""
    assert result.stderr == ("kdrender: internal error (TypeError); a bug in kdrender: report it with the command that "
                             "failed and the trace (run it again with --debug, or KDRENDER_DEBUG=1)\n")
    assert "://" not in result.stderr  # no guessed address to report to
    assert len(result.stderr.splitlines()) == 1
    assert "secret-value-in-a-message" not in result.stderr  # exception texts may quote input


@pytest.mark.parametrize("how", ["option", "env", "argocd-env"])
def test_debug_shows_the_trace(tmp_path, monkeypatch, how):
    root = write_case(tmp_path / "repo", {})
    monkeypatch.setattr("kdrender.pipeline.load_model", _explode)
    argv = ["--debug", "generate"] if how == "option" else ["generate"]
    env = {"env": {"KDRENDER_DEBUG": "1"}, "argocd-env": {"ARGOCD_ENV_KDRENDER_DEBUG": "true"}}.get(how)
    result = run_kdrender(argv, root, env)
    assert result.exit == 3
    assert "Traceback (most recent call last)" in result.stderr and "_explode" in result.stderr
    assert "kdrender: internal error (TypeError)" in result.stderr


def test_debug_option_does_not_change_a_normal_run(tmp_path):
    root = write_case(tmp_path / "repo", {})
    assert run_kdrender(["--debug", "validate"], root).exit == 0
    assert run_kdrender(["validate", "--debug"], root).exit == 0


def test_console_script_has_the_handler(tmp_path):
    """The installed entry point (not only main()): a crash in a child process is one line too."""
    root = write_case(tmp_path / "repo", {})
    code = ("import sys, kdrender.pipeline as p\n"
            "def boom(*a, **k): raise RecursionError('deep')\n"
            "p.load_model = boom\nsys.argv = ['kdrender', 'generate']\n"
            "from kdrender.entry import main\nmain()\n")
    proc = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 3
    assert proc.stderr.startswith("kdrender: internal error (RecursionError)") and "Traceback" not in proc.stderr


# --------------------------------------------------------------------------------------------------
# budgets

def test_limits_match_the_repo_config_schema():
    schema = json.loads((SCHEMAS / "RepoConfig.json").read_text())
    limits = schema["properties"]["kdrender"]["properties"]["limits"]["properties"]
    assert set(limits) == set(LIMITS)
    for key, (default, ceiling) in LIMITS.items():
        assert limits[key]["maximum"] == ceiling and 1 <= default <= ceiling


def test_budget_from_options_ignores_what_the_schema_refuses():
    got = Budget.from_options({"limits": {"nodes": 10, "depth": 10_000, "fileBytes": True, "problems": "5"}})
    assert (got.nodes, got.depth, got.file_bytes, got.problems) == (10, LIMITS["depth"][0], LIMITS["fileBytes"][0],
                                                                     LIMITS["problems"][0])


def test_the_value_budget_is_per_file(kd):
    text = "".join(f"- {i}\n" for i in range(80))
    big = "".join(f"- {i}\n" for i in range(160))
    root = kd.write({"clusters/a.yaml": text, "clusters/b.yaml": text, "clusters/c.yaml": big,
                     "kdrender.yaml": "kdrender:\n  limits: {nodes: 150}\n"})
    repo = load_repo(str(root))
    messages = {p.file: p.message for p in repo.problems}
    assert "clusters/a.yaml" not in messages and "clusters/b.yaml" not in messages  # 81 values each: under 150
    assert messages == {"clusters/c.yaml": "over budget: more than 150 values in this file, aliases expanded "
                                           "(limits.nodes in kdrender.yaml); not read"}


def test_depth_limit_is_configurable(kd):
    nested = "a: " + "[" * 30 + "]" * 30 + "\n"
    root = kd.write({"clusters/deep.yaml": nested, "kdrender.yaml": "kdrender:\n  limits: {depth: 20}\n"})
    assert any("nested more than 20 levels deep" in p.message for p in load_repo(str(root)).problems)
    root = kd.write({"clusters/deep.yaml": nested})
    assert not any("nested" in p.message for p in load_repo(str(root)).problems)


# The child reports its own high-water mark (VmHWM of its address space after exec).  wait4's
# ru_maxrss is no good here: Linux carries the pre-exec peak over, i.e. the size of the forking
# pytest process, which grows with the suite.
_MEASURE = (
    "import runpy, sys\n"
    "out = sys.argv.pop(1)\n"
    "code = 0\n"
    "try:\n"
    "    runpy.run_module('kdrender', run_name='__main__', alter_sys=True)\n"
    "except SystemExit as exc:\n"
    "    code = exc.code if isinstance(exc.code, int) else 1\n"
    "hwm = next(line.split()[1] for line in open('/proc/self/status') if line.startswith('VmHWM:'))\n"
    "open(out, 'w').write(f'{code} {hwm}')\n"
)


def _peak_rss_mib(argv, cwd) -> tuple[int, int]:
    """(exit code, peak resident MiB) of ``python -m kdrender ARGS`` (``argv`` as for subprocess)."""
    assert argv[1:3] == ["-m", "kdrender"]
    with tempfile.NamedTemporaryFile("r", suffix=".rss") as report:
        subprocess.run([argv[0], "-c", _MEASURE, report.name, *argv[3:]], cwd=cwd, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, timeout=600)
        code, hwm_kib = report.read().split()
    return int(code), int(hwm_kib) // 1024


BOMB = "".join("---\na: &a [x,x,x,x,x,x,x,x,x]\n" + "".join(
    f"{n}: &{n} [{','.join(['*' + p] * 9)}]\n" for p, n in zip("abcdefgh", "bcdefghi")) for _ in range(8))


def test_alias_bombs_stay_far_below_the_sidecar_limit(tmp_path):
    """8 alias bombs in 2.5 KB took 1.1 GB; the Argo CD sidecar has 512 Mi.  Measured peak RSS of
    the whole run (kdrender validate in a child process): about 70 MiB."""
    root = write_case(tmp_path / "repo", {"files": {f"clusters/bomb{i}.yaml": BOMB for i in range(4)}})
    code, peak = _peak_rss_mib([sys.executable, "-m", "kdrender", "validate"], root)
    assert code == 1
    assert peak < 256, f"peak RSS {peak} MiB"


@pytest.mark.skipif(os.environ.get("KDRENDER_HYPOTHESIS_PROFILE") != "long",
                    reason="the longer hostile runs (KDRENDER_HYPOTHESIS_PROFILE=long)")
@pytest.mark.parametrize("shape", ["flow", "json-duplicate", "many-files"])
def test_worst_files_within_the_caps_stay_below_the_sidecar_limit(tmp_path, shape):
    """Files just under the per-file cap, the densest shapes measured (YAML flow sequences compose
    about 220 MiB per MiB; a JSON file with a duplicate key is walked as YAML for positions)."""
    cap = LIMITS["fileBytes"][0] - 100
    files = {
        "flow": {"clusters/flow.yaml": "[" + "1," * (cap // 2 - 2) + "1]"},
        "json-duplicate": {"catalog/dup.json": '{"a": [' + "1," * (cap // 2 - 10) + '1], "a": 1}'},
        "many-files": {f"clusters/m{i}.yaml": "".join(f"k{j}: {j}\n" for j in range(90000))[:cap].rsplit("\n", 1)[0]
                       for i in range(16)},
    }[shape]
    root = write_case(tmp_path / "repo", {"files": files})
    code, peak = _peak_rss_mib([sys.executable, "-m", "kdrender", "validate"], root)
    assert code == 1
    assert peak < 400, f"peak RSS {peak} MiB"


# --------------------------------------------------------------------------------------------------
# folders and files that cannot be read

def test_unreadable_folder_is_a_problem(kd, monkeypatch):
    """os.walk used to skip a folder it could not list: its clusters vanished from golden/."""
    root = kd.write({"clusters/team/web2.yaml": kd.CLUSTER.replace("web1", "web2")})
    real_scandir = os.scandir

    def scandir(path="."):
        if str(path).endswith(os.path.join("clusters", "team")):
            raise PermissionError(13, "Permission denied")
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    repo = load_repo(str(root))
    assert [p.text() for p in repo.problems] == [
        "clusters/team:1:1: folder is a folder that cannot be read: Permission denied"]


def test_golden_reader_refuses_what_is_swapped_in_after_the_walk(tmp_path):
    """read_regular checks the opened file itself (fstat), not only the name it was given."""
    from kdrender.safefs import Refused, read_regular

    target = tmp_path / "secret.txt"
    target.write_text("TOKEN")
    (tmp_path / "link.yaml").symlink_to(target)
    with pytest.raises(Refused, match="symbolic link"):
        read_regular(str(tmp_path / "link.yaml"), 1000)
    os.mkfifo(tmp_path / "fifo.yaml")
    with pytest.raises(Refused, match="FIFO"):
        read_regular(str(tmp_path / "fifo.yaml"), 1000, follow=True)  # opened non-blocking, then refused
    (tmp_path / "big.yaml").write_text("x" * 2000)
    with pytest.raises(Refused, match=r"is 2000 bytes, more than the limit of 1000 \(limits.fileBytes\)"):
        read_regular(str(tmp_path / "big.yaml"), 1000)


def test_golden_files_may_be_larger_than_input_files(tmp_path):
    """A configmeta ConfigMap near 1 MiB of data is more than 1 MiB of YAML: still compared."""
    from kdrender.compare import GOLDEN_FILE_BYTES, read_tree

    (tmp_path / "golden" / "ns").mkdir(parents=True)
    (tmp_path / "golden" / "ns" / "ConfigMap-big.yaml").write_text("x" * (LIMITS["fileBytes"][0] + 10))
    (tmp_path / "golden" / "ns" / "huge.yaml").write_bytes(b"x" * (GOLDEN_FILE_BYTES + 1))
    files, refused = read_tree(str(tmp_path))
    assert list(files) == ["ns/ConfigMap-big.yaml"]
    assert refused == [f"golden/ns/huge.yaml: is {GOLDEN_FILE_BYTES + 1} bytes, more than the limit of {GOLDEN_FILE_BYTES}"]


# --------------------------------------------------------------------------------------------------
# integers, quantities and YAML 1.1

def test_yaml_12_octal_is_read_as_a_number(kd):
    injection = "    fileInjections: [{srcURL: 'https://x/f', destDir: /opt, permissions: {fileMode: 0o755}}]\n"
    result = kd.run(cluster=kd.CLUSTER.replace("  - id: worker\n", "  - id: worker\n" + injection))
    assert result.texts == []
    [cluster] = result.model.clusters
    assert cluster.spec["roles"][1]["fileInjections"][0]["permissions"]["fileMode"] == 0o755


@pytest.mark.parametrize("text, ok", [
    ("0", True), ("-0", True), ("+5", True), ("9223372036854775807", True), ("-9223372036854775808", False),
    ("9223372036854775808", False), ("010", False), ("0x2", False), ("0b1", False), ("1_000", False), ("1:30", False),
    ("0x" + "f" * 5000, False), ("1" + ":30" * 2000, False), ("9" * 5000 + ":30", False),
])
def test_integer_forms(text, ok):
    assert (scalar_problem("tag:yaml.org,2002:int", text, "") is None) == ok
    assert scalar_problem("tag:yaml.org,2002:int", text, '"') is None  # quoted: a string, whatever it says


@pytest.mark.parametrize("text, ok", [("1.5", True), ("-.5", True), ("1.0e+3", True), (".inf", True),
                                      ("1_0.5", False), ("1:30.5", False)])
def test_float_forms(text, ok):
    assert (scalar_problem("tag:yaml.org,2002:float", text, "") is None) == ok


@pytest.mark.parametrize("text", ["yes", "No", "on", "OFF", "y", "n"])
def test_yaml_11_booleans(text):
    assert "in YAML 1.1 but the string" in scalar_problem("tag:yaml.org,2002:bool", text, "")


def test_keys_are_not_rewritten_but_reported_as_non_strings():
    docs, problems = parse_yaml("on: 1\n010: 2\n", "f.yaml")
    assert [p.message for p in problems] == ["mapping key 'on' must be a string (quote it)",
                                             "mapping key '010' must be a string (quote it)"]
    assert docs[0].data == {"on": 1, "010": 2}


@pytest.mark.parametrize("text, expected", [
    # only BinarySI is capped at 2^63-1; decimal values are kept (and refused by the rules, not computed)
    ("1e999999999", Decimal("1e999999999")), ("1e5000", Decimal("1e5000")), ("-1e5000", Decimal("-1e5000")),
    ("9223372036854775808", Decimal(2**63)), ("8Ei", QUANTITY_MAX), ("-9Ei", -QUANTITY_MAX),
    ("1e-999999999", parse_quantity("1e-9")), ("0e999999999", 0),
    ("1e2147483647", Decimal("1e2147483647")), ("1e2147483648", None), ("1e-2147483649", None), ("1.5Gi", 1.5 * 2**30),
])
def test_quantities_are_bounded_like_the_api_server(text, expected):
    assert parse_quantity(text) == expected


def test_json_integers_beyond_64_bits_and_surrogates():
    docs, problems = parse_json('{"a": [1, 18446744073709551616], "b\\udc00": "x\\ud83d"}', "c.json")
    assert docs == []
    assert sorted(p.path + ": " + p.message for p in problems) == [
        ": key a lone UTF-16 surrogate (\\udc00) is not Unicode text",
        '["b\\udc00"]: a lone UTF-16 surrogate (\\ud83d) is not Unicode text',
        "a[1]: a number out of range: Kubernetes integers are 64-bit",
    ]


@pytest.mark.parametrize("fmt", ["text", "json", "github"])
def test_problems_in_json_files_are_printable(tmp_path, fmt):
    """A surrogate in a field path must not crash the output either (a real UTF-8 stdout)."""
    (tmp_path / "catalog").mkdir()
    (tmp_path / "catalog" / "x.json").write_text('{"k\\ud800": {"v": "\\udfff"}}')
    proc = subprocess.run([sys.executable, "-m", "kdrender", "validate", "--format", fmt], cwd=tmp_path,
                          capture_output=True, timeout=60, env={**os.environ, "PYTHONIOENCODING": "utf-8"})
    assert proc.returncode == 1 and b"internal error" not in proc.stderr
    assert b"a lone UTF-16 surrogate (" in proc.stdout and b"udfff) is not Unicode text" in proc.stdout


def test_loader_does_not_depend_on_resolvers_other_libraries_add():
    """yamllint adds an int resolver for ``0o755`` to PyYAML's shared Resolver when imported; the
    loader must read files the same with and without it (lint and validate share a process in tests)."""
    import yamllint.rules.quoted_strings  # noqa: F401  (the import adds the resolver)

    from kdrender.load import parse_yaml

    docs, problems = parse_yaml("mode: 0o755\nplain: '0o755'\n", "x.yaml")
    assert problems == [] and docs[0].data == {"mode": 493, "plain": "0o755"}
