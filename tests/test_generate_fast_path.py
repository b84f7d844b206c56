"""`kdrender generate` stays light: no click, and no jsonschema once the schema cache knows the inputs."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from kdrender.load import read_file
from kdrender.schema import Cache, check

ROOT = Path(__file__).resolve().parent.parent

# What a rendering `generate` (inputs changed: no output cache entry) must not import: each costs
# milliseconds of every Argo CD refresh (issue 12), and none of them is needed to render.
HEAVY = ("dataclasses", "inspect", "typing", "hashlib", "uuid", "platform", "difflib", "click", "jsonschema",
         "jinja2", "ruamel", "yamllint", "multiprocessing", "tempfile", "shutil", "subprocess")
PROBE = """
import io, json, sys, contextlib
sys.argv = ["kdrender", "generate"]
from kdrender import entry
out = io.StringIO()
try:
    with contextlib.redirect_stdout(out):
        entry.main()
except SystemExit as exc:
    code = exc.code
print(json.dumps([code, len(out.getvalue().splitlines()), sorted(m for m in sys.modules if m.split(".")[0] in HEAVY)]))
"""


def probe(repo: Path, cache: Path, cluster: str, watch: tuple = HEAVY, **more):
    """``generate`` of ``cluster`` in a fresh process: (exit code, click loaded, jsonschema loaded,
    lines printed, stderr, the modules of ``watch`` it loaded)."""
    env = dict(os.environ, KDRENDER_CACHE_DIR=str(cache), PYTHONPATH=str(ROOT),
               ARGOCD_APP_PARAMETERS=json.dumps([{"name": "clusters", "array": [cluster]}]), **more)
    res = subprocess.run([sys.executable, "-c", f"HEAVY = {watch!r}\n" + PROBE], cwd=repo, env=env,
                         capture_output=True, text=True, timeout=60)
    code, lines, heavy = json.loads(res.stdout)
    return code, "click" in heavy, "jsonschema" in heavy, lines, res.stderr, heavy


@pytest.fixture
def repo(tmp_path):
    root = tmp_path / "repo"
    shutil.copytree(ROOT / "catalog", root / "catalog")
    shutil.copytree(ROOT / "clusters", root / "clusters")
    return root


def test_valid_inputs_skip_jsonschema_and_click(repo, tmp_path):
    cache = tmp_path / "cache"
    first = probe(repo, cache, "clusters/spark221e2.yaml")
    second = probe(repo, cache, "clusters/spark221e2.yaml")
    assert first[0] == 0 and second[0] == 0
    assert first[1] is False and second[1] is False  # click never loaded
    # a valid file passes the quick check (kdrender/schemafast.py): no jsonschema even the first time,
    # and the documents that passed are remembered for the next run
    assert first[2] is False and second[2] is False
    assert len(list((cache / "schema-ok").iterdir())) >= 7  # the cluster, the six apps of the catalog
    assert first[3] == second[3] > 0


def test_changed_file_is_checked_again(repo, tmp_path):
    cache = tmp_path / "cache"
    assert probe(repo, cache, "clusters/spark221e2.yaml")[0] == 0
    path = repo / "clusters" / "spark221e2.yaml"
    path.write_text(path.read_text().replace("  roles:", "  servceType: ClusterIP\n  roles:", 1))
    code, _, jsonschema_loaded, lines, err, _ = probe(repo, cache, "clusters/spark221e2.yaml")
    assert code == 1 and lines == 0 and jsonschema_loaded
    assert "unknown field 'servceType'" in err and "clusters/spark221e2.yaml" in err


def test_cache_remembers_only_documents_that_passed(tmp_path):
    (tmp_path / "c.yaml").write_text("apiVersion: kubedirector.hpe.com/v1beta1\nkind: KubeDirectorCluster\n"
                                     "metadata: {name: x}\nspec: {app: a, roles: [], typo: 1}\n")
    docs, _ = read_file(str(tmp_path), "c.yaml")
    cache = Cache(str(tmp_path / "markers"))
    os.makedirs(cache.folder)
    assert check(docs[0], "KubeDirectorCluster", cache)
    assert not cache.known(docs[0], "KubeDirectorCluster")
    assert check(docs[0], "KubeDirectorCluster", cache)  # still checked, still failing


def test_shared_cache_folder_is_not_trusted(tmp_path):
    folder = tmp_path / "shared"
    (folder / "schema-ok").mkdir(parents=True)
    os.chmod(folder / "schema-ok", 0o777)
    assert Cache.default({"KDRENDER_CACHE_DIR": str(folder)}) is None
    os.chmod(folder / "schema-ok", 0o700)
    assert Cache.default({"KDRENDER_CACHE_DIR": str(folder)}) is not None


def test_unwritable_cache_location_is_not_an_error(repo, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    assert Cache.default({"KDRENDER_CACHE_DIR": str(blocker)}) is None
    assert probe(repo, blocker, "clusters/spark221e2.yaml")[0] == 0


def test_rendering_generate_imports_nothing_heavy(repo, tmp_path):
    cache = tmp_path / "cache"
    assert probe(repo, cache, "clusters/spark221e2.yaml")[0] == 0  # the schema cache knows the inputs
    code, _, _, lines, err, heavy = probe(repo, cache, "clusters/spark221e2.yaml", KDRENDER_OUTPUT_CACHE="off")
    assert code == 0 and lines > 10, err
    assert heavy == []


def _console(repo: Path, cache: Path, stdout=subprocess.PIPE, **env):
    full = dict(os.environ, KDRENDER_CACHE_DIR=str(cache), PYTHONPATH=str(ROOT), KDRENDER_OUTPUT_CACHE="off",
                ARGOCD_APP_PARAMETERS=json.dumps([{"name": "clusters", "array": ["clusters/*.yaml"]}]), **env)
    return subprocess.run([sys.executable, "-c", "from kdrender.entry import console; console()", "generate"], cwd=repo,
                          env=full, stdout=stdout, stderr=subprocess.PIPE, timeout=120)


def test_console_script_leaves_at_once_with_all_output_flushed(repo, tmp_path):
    """entry._leave skips the interpreter's tear-down after generate: the whole stream still arrives
    (also through a pipe, unbuffered or not), and errors keep their exit code."""
    expected = _console(repo, tmp_path / "c1")
    assert expected.returncode == 0 and expected.stdout.count(b"\n") > 50
    assert _console(repo, tmp_path / "c2", PYTHONUNBUFFERED="1").stdout == expected.stdout
    out = tmp_path / "out.json"
    with open(out, "wb") as fh:  # a file: fully buffered stdout
        assert _console(repo, tmp_path / "c3", stdout=fh).returncode == 0
    assert out.read_bytes() == expected.stdout
    bad = repo / "clusters" / "spark221e2.yaml"
    bad.write_text(bad.read_text().replace("  roles:", "  servceType: ClusterIP\n  roles:", 1))
    failed = _console(repo, tmp_path / "c4")
    assert failed.returncode == 1 and failed.stdout == b"" and b"servceType" in failed.stderr


def test_console_script_fails_when_stdout_cannot_take_the_output(repo, tmp_path):
    with open(os.devnull, "rb") as read_only:  # writes to it fail: the flush must not pass for success
        result = _console(repo, tmp_path / "c", stdout=read_only)
    assert result.returncode != 0
