"""The hostile corpus (tests/corpus/, issue 9): every class of attack a pull request can make on
kdrender, each with the message it must get.  Cases run through the console entry point, so the
last-resort handler is part of what is tested: no case may print a traceback or exit 3.
The case format is described in tests/hostile.py.
"""

from __future__ import annotations

import pytest
import yaml

from hostile import CORPUS, place_links, run_kdrender, write_case

CASES = sorted(CORPUS.glob("*.yaml"))


def load_case(path):
    case = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert {"probe", "command", "expect"} <= set(case), f"{path.name}: probe, command and expect are required"
    return case


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_corpus_case(path, tmp_path, monkeypatch):
    case = load_case(path)
    monkeypatch.setenv("KDRENDER_CACHE_DIR", str(tmp_path / "cache"))
    root = write_case(tmp_path / "repo", case)
    if case.get("build"):
        built = run_kdrender(["build"], root)
        assert built.exit == 0, built.stderr
    place_links(root, case)
    result = run_kdrender(list(case["command"]), root / case.get("cwd", "."), case.get("env"))
    expect = case["expect"]
    output = result.stdout + result.stderr
    assert "Traceback" not in output, output[-2000:]
    if not expect.get("internal_error_ok"):
        assert "internal error" not in output, output[-2000:]
    exits = expect["exit"] if isinstance(expect["exit"], list) else [expect["exit"]]
    assert result.exit in exits, output[-2000:]
    for text in expect.get("stderr", []):
        assert text in result.stderr, f"{text!r} not in stderr:\n{result.stderr[-3000:]}"
    if expect.get("stdout") == []:
        assert result.stdout == ""
    for text in expect.get("stdout", []):
        assert text in result.stdout, f"{text!r} not in stdout:\n{result.stdout[-3000:]}"
    for text in expect.get("absent", []):
        assert text not in output
    for rel in expect.get("no_files", []):
        assert not (root / rel).exists() and not (root / case.get("cwd", ".") / rel).exists()


def test_every_case_probes_something_different():
    probes = [load_case(p)["probe"] for p in CASES]
    assert len(set(probes)) == len(probes)
