"""Cluster-by-cluster rendering (kdrender/stream.py): forked workers, one process and the whole-model
path give the same bytes; ``check`` reading golden/ one cluster at a time reports what the
whole-tree comparison reports; ``generate`` spools a large stream to a temporary file unchanged."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import pytest

from kdrender import stream
from kdrender.compare import compare, compare_tree, read_tree
from kdrender.emit import bundle_files, json_stream
from kdrender.pipeline import load_model, render_model
from render_helpers import PROJECT, run_cli

COUNT = stream.MIN_PARALLEL + 5


@pytest.fixture(scope="module")
def repo(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("many")
    shutil.copytree(PROJECT / "catalog", root / "catalog")
    text = (PROJECT / "clusters" / "spark221e2.yaml").read_text()
    (root / "clusters").mkdir()
    for i in range(COUNT):
        ns = "a" if i % 3 else "a-b"  # "a-b/" sorts before "a/": path order is not (namespace, name) order
        (root / "clusters" / f"c{i}.yaml").write_text(
            text.replace("name: spark-instance", f"name: s{i}").replace("namespace: analytics", f"namespace: {ns}"))
    return root


def test_workers_give_the_same_bytes(repo):
    model = load_model(str(repo))
    whole = bundle_files(render_model(model))
    one = [pair for chunk in stream.rendered(model, "files", workers=1) for pair in chunk]
    two = [pair for chunk in stream.rendered(model, "files", workers=2) for pair in chunk]
    assert one == two
    assert dict(one) == whole and len(one) == len(whole)
    objects = [o for _, _, objs in render_model(model) for o in objs]
    assert "".join(text for text, _ in stream.rendered(model, "json", workers=2)) == json_stream(objects)


def test_check_per_cluster_reports_like_the_whole_tree(repo, tmp_path):
    root = tmp_path / "r"
    shutil.copytree(repo, root)
    assert run_cli("build", str(root)).exit_code == 0
    golden = root / "golden"
    victim = sorted((golden / "a" / "s1").glob("statefulset-*.yaml"))[0]
    victim.write_text(victim.read_text().replace("replicas: 1", "replicas: 7"))
    next(iter(sorted((golden / "a-b" / "s0").glob("service-*.yaml")))).unlink()
    (golden / "a" / "s2" / "stray.yaml").write_text("x: 1\n")
    (golden / "gone" / "old").mkdir(parents=True)
    (golden / "gone" / "old" / "kustomization.yaml").write_text("resources: []\n")
    (golden / "README").write_text("hi\n")
    model = load_model(str(root))
    expected = bundle_files(render_model(model))
    committed, refused = read_tree(str(root))
    whole = compare(expected, committed)
    streamed, streamed_refused = compare_tree(stream.rendered(model, "files", workers=2), str(root))
    assert streamed == whole and streamed_refused == refused == []
    assert len(whole) == 5  # changed, missing, 3 extra
    result = run_cli("check", str(root))
    assert result.exit_code == 1
    assert result.stdout.strip() == "\n".join(whole)


def test_generate_spools_a_large_stream(repo, monkeypatch):
    from kdrender import generate

    env = {"ARGOCD_APP_PARAMETERS": json.dumps([{"name": "clusters", "array": ["clusters/*.yaml"]}]),
           "KDRENDER_CACHE_DIR": str(repo / ".." / "cache")}
    small, big = io.StringIO(), io.StringIO()
    assert generate.run(env, str(repo), small, io.StringIO()) == 0
    monkeypatch.setattr(generate._Spool, "LIMIT", 1000)
    assert generate.run(env, str(repo), big, io.StringIO()) == 0
    assert big.getvalue() == small.getvalue()
    assert len(small.getvalue().splitlines()) > COUNT


def test_problems_on_rendered_objects_stop_every_command(repo, tmp_path, monkeypatch):
    """A problem the per-cluster step finds (pipeline.rendered_clusters) reaches build, check and
    generate together with the others, after the last cluster: nothing is written or sent."""
    from kdrender import pipeline
    from kdrender.problems import Problem, UserError

    real = pipeline.rendered_clusters

    def with_problems(model, resolved, start=0, stop=None, emit=None):
        for rc, objects, problems in real(model, resolved, start, stop, emit):
            bad = rc.cluster.name in ("s3", f"s{COUNT - 1}")
            yield rc, objects, problems + ([Problem(rc.cluster.file, 1, 1, "", "too big", "size")] if bad else [])

    monkeypatch.setattr(pipeline, "rendered_clusters", with_problems)
    model = load_model(str(repo))
    for workers in (1, 2):
        with pytest.raises(UserError) as exc:
            list(stream.rendered(model, "files", workers=workers))
        assert sorted(p.file for p in exc.value.problems) == ["clusters/c3.yaml", f"clusters/c{COUNT - 1}.yaml"]
    with pytest.raises(UserError):
        pipeline.render_model(model)
    root = tmp_path / "r"
    shutil.copytree(repo, root)
    result = run_cli("build", str(root))
    assert result.exit_code == 1 and "too big" in result.stderr
    assert not (root / "golden").exists() and not [p for p in root.iterdir() if p.name.startswith(".")]


def test_check_does_not_read_through_a_symlinked_cluster_folder(repo, tmp_path):
    root = tmp_path / "r"
    shutil.copytree(repo, root)
    assert run_cli("build", str(root)).exit_code == 0
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "kustomization.yaml").write_text("TOKEN=very-secret\n")
    shutil.rmtree(root / "golden" / "a" / "s1")
    (root / "golden" / "a" / "s1").symlink_to(outside)
    result = run_cli("check", str(root))
    assert result.exit_code == 1
    assert "very-secret" not in result.stdout + result.stderr
    # reported as an entry that is not read (as harden's check does for every non-regular entry)
    assert "kdrender: golden/a/s1: is not a folder (a symlink or a file); it was not read" in result.stderr


def test_rendering_reads_nothing_of_the_repo(repo, tmp_path):
    """Render workers do not record what they read for generate's output cache (stream._worker_setup):
    that is sound only because rendering works from the loaded model alone.  With the repo gone
    after loading, every cluster renders to the same bytes."""
    copy = tmp_path / "gone"
    shutil.copytree(repo, copy)
    model = load_model(str(copy))
    before = bundle_files(render_model(model))
    shutil.rmtree(copy)
    after = [pair for workers in (1, 2) for chunk in stream.rendered(model, "files", workers=workers)
             for pair in chunk]
    assert dict(after) == before and len(after) == 2 * len(before)


def test_generate_stops_recording_when_the_output_is_too_large_to_store(repo, tmp_path, monkeypatch):
    """The output cache stores outputs up to 16 MiB; past that, generate stops recording its reads
    (and stores nothing), and the stream is still complete."""
    from kdrender import generate, outcache

    monkeypatch.setattr(outcache.OutputCache, "MAX_OUTPUT", 100_000)
    abandoned = []
    real = outcache.OutputCache.abandon
    monkeypatch.setattr(outcache.OutputCache, "abandon", lambda self: (abandoned.append(1), real(self)))
    env = {"KDRENDER_CACHE_DIR": str(tmp_path / "cache"), "ARGOCD_APP_NAMESPACE": "a"}
    out, err = io.StringIO(), io.StringIO()
    assert generate.run(env, str(repo), out, err) == 0, err.getvalue()
    assert abandoned and not list((tmp_path / "cache" / "output").iterdir())
    assert out.getvalue() == json_stream([o for _, _, objects in render_model(load_model(str(repo)))
                                          for o in objects])


def test_generate_of_many_cluster_files_records_nothing(repo, tmp_path, monkeypatch):
    """Past MAX_FILES cluster files a run is not recorded for the output cache: no copy of its
    output is kept, its index pass is not recorded (so it may use workers), and the stream is the same."""
    from kdrender import generate, index, outcache

    monkeypatch.setattr(outcache, "MAX_FILES", COUNT - 1)
    recording_while_indexed = []
    real_run = index.Index.run
    monkeypatch.setattr(index.Index, "run", lambda self, numbers: (
        recording_while_indexed.append(outcache.recording()), real_run(self, numbers))[1])
    env = {"KDRENDER_CACHE_DIR": str(tmp_path / "cache"), "ARGOCD_APP_NAMESPACE": "a"}
    out, err = io.StringIO(), io.StringIO()
    assert generate.run(env, str(repo), out, err) == 0, err.getvalue()
    assert recording_while_indexed == [False]  # so a large index pass may use workers
    assert not list((tmp_path / "cache" / "output").iterdir())
    assert not outcache.recording()
    expected = json_stream([o for _, _, objects in render_model(load_model(str(repo))) for o in objects])
    assert out.getvalue() == expected
    # one file fewer than the limit: recorded and stored, as before
    monkeypatch.setattr(outcache, "MAX_FILES", COUNT)
    out = io.StringIO()
    assert generate.run(env, str(repo), out, io.StringIO()) == 0
    assert out.getvalue() == expected and len(list((tmp_path / "cache" / "output").iterdir())) == 1


def _square(n: int) -> tuple:
    import os

    return n * n, os.getpid()


def test_recycled_workers_keep_the_order():
    """Workers replaced by fresh forks every task (``recycle``) still give every result in order."""
    got = list(stream.in_order(_square, [(n,) for n in range(40)], 2, recycle=1))
    assert [r for r, _ in got] == [n * n for n in range(40)]
    assert len({pid for _, pid in got}) > 2  # new workers did the later tasks


@pytest.mark.parametrize("target", ["buffer", "file", "pipe", "cache"])
def test_parallel_generate_sends_the_workers_chunk_files(repo, tmp_path, monkeypatch, target):
    """With workers, each chunk's stream is written to a file in a private temporary folder and sent
    on unread (sendfile to a real descriptor; read and written where a copy is kept or stdout is a
    buffer): the bytes are the one-process stream's, and the folder is gone afterwards."""
    import os
    import subprocess
    import sys
    import tempfile

    from kdrender import generate

    expected = json_stream([o for _, _, objects in render_model(load_model(str(repo))) for o in objects])
    temp = tmp_path / "tmp"
    temp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    monkeypatch.setenv("KDRENDER_JOBS", "2")
    env = {"KDRENDER_CACHE_DIR": str(tmp_path / "cache"), "ARGOCD_APP_NAMESPACE": "a",
           "KDRENDER_OUTPUT_CACHE": "on" if target == "cache" else "off"}
    err = io.StringIO()
    if target in ("buffer", "cache"):
        out = io.StringIO()
        assert generate.run(env, str(repo), out, err) == 0, err.getvalue()
        got = out.getvalue()
    elif target == "file":
        with open(tmp_path / "out.json", "w", encoding="utf-8") as out:
            out.write("")  # an open text file: its descriptor takes the chunk files directly
            assert generate.run(env, str(repo), out, err) == 0, err.getvalue()
        got = (tmp_path / "out.json").read_text(encoding="utf-8")
    else:
        result = subprocess.run([sys.executable, "-c", "from kdrender.entry import console; console()", "generate"],
                                cwd=repo, capture_output=True, timeout=120,
                                env=dict(os.environ, PYTHONPATH=str(PROJECT), TMPDIR=str(temp), **env))
        assert result.returncode == 0, result.stderr
        got = result.stdout.decode("utf-8")
    assert got == expected
    assert list(temp.iterdir()) == []


def test_chunk_files_are_written_by_workers_only(repo):
    """One process (or a run without a folder) yields each cluster's text, as before."""
    model = load_model(str(repo))
    texts = [text for text, _ in stream.rendered(model, "json", workers=1, folder=lambda: "/nonexistent")]
    assert all(isinstance(t, str) for t in texts) and len(texts) == COUNT
    chunked = list(stream.rendered(model, "json", workers=2, folder=None))
    assert all(isinstance(t, str) for t, _ in chunked)
