"""The streaming check (kdrender/index.py) against the whole-repo check (validate.validate_repo):
the same errors, warnings, notices and clusters, in the same order, whether the index keeps the
clusters or reads them again, in one process or in forked workers; and what it is for: a large
repo with default settings, a hostile file failing alone among many good ones."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import APP_YAML, CLUSTER_YAML, edit
from kdrender import index, stream
from kdrender.emit import bundle_files
from kdrender.index import check_repo
from kdrender.load import load_repo
from kdrender.pipeline import load_model, render_model
from kdrender.validate import validate_repo
from render_helpers import PROJECT, run_cli

MANY = stream.MIN_PARALLEL + 6  # enough cluster files for forked index workers


def cluster(name: str, namespace: str = "web", members: int = 2, extra: str = "") -> str:
    return edit(CLUSTER_YAML, ("name: web1\n", f"name: {name}\n  namespace: {namespace}\n"),
                ("members: 2", f"members: {members}")) + extra


def _summary(model, problems):
    return ([p.text() for p in problems], [w.text() for w in model.warnings], list(model.notices),
            [(c.namespace, c.name, c.file, c.spec) for c in model.clusters])


def _same_as_whole(root: Path, monkeypatch, selection=None):
    """check_repo (kept and read again; one process and two) gives what validate_repo gives."""
    if selection is None:
        whole = _summary(*validate_repo(load_repo(str(root))))
    else:
        from kdrender.pipeline import load_model as in_memory
        from kdrender.problems import UserError

        monkeypatch.setattr(index, "KEEP", 10 ** 6)  # load_model's in-memory path for any selection
        try:
            model = in_memory(str(root), selection)
            whole = _summary(model, [])
        except UserError as exc:
            whole = ([p.text() for p in exc.problems],)
    for keep in (10 ** 6, 0):
        monkeypatch.setattr(index, "KEEP", keep)
        for jobs in ("1", "2"):
            monkeypatch.setenv("KDRENDER_JOBS", jobs)
            model, errors = check_repo(str(root), selection)
            got = _summary(model, errors)
            if selection is not None and errors:
                got = got[:1]
            assert got == whole, (keep, jobs)
    return whole


def test_the_project_repo(monkeypatch):
    whole = _same_as_whole(PROJECT, monkeypatch)
    assert whole[0] == [] and len(whole[3]) == len(list((PROJECT / "clusters").iterdir()))


@pytest.mark.parametrize("spill", [index.SPILL, 1])  # 1: every fingerprint goes through the temporary file
def test_a_repo_with_every_kind_of_cross_cluster_problem(kd, monkeypatch, spill):
    monkeypatch.setattr(index, "SPILL", spill)
    files = {"catalog/web.yaml": APP_YAML}
    for i in range(MANY):
        files[f"clusters/c{i:03d}.yaml"] = cluster(f"c{i}", "a" if i % 3 else "a-b")
    files["clusters/c005.yaml"] = cluster("c7", "a")  # c7 twice in namespace a
    files["clusters/c010.yaml"] = cluster("c10", "a", extra="  connections:\n    clusters: [nowhere, c11]\n")
    files["clusters/c020.yaml"] = cluster("c20", "a", extra="  connections:\n    clusters: [c20]\n")
    files["clusters/c030.yaml"] = cluster("c.30", "a")  # '.' becomes '-': its objects clash with c-30's
    files["clusters/c031.yaml"] = cluster("c-30", "a")
    files["clusters/c040.yaml"] = cluster("c40", "a", extra="---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n"
                                                            "  name: shared\n  namespace: a\n")
    files["clusters/c041.yaml"] = cluster("c41", "a", extra="---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n"
                                                            "  name: shared\n  namespace: a\n")
    files["clusters/c050.yaml"] = cluster("c50", "a").replace("members: 2", "members: 2.0")  # a schema error
    files["clusters/c060.yaml"] = cluster("c60", "a").replace("kubedirector.hpe.com/v1beta1",
                                                              "kubedirector.bluedata.io/v1alpha1")
    files["clusters/c070.yaml"] = cluster("c70", "a", extra="  unknownField: 1\n")  # a warning
    files["clusters/c080.yaml"] = cluster("c80", "a").replace("cpu: \"1\"", "cpu: 010", 1)  # refused scalar
    root = kd.write(files)
    texts = _same_as_whole(root, monkeypatch)[0]
    rules = " ".join(texts)
    for expected in ("already defined in clusters/c005.yaml", "'nowhere' does not exist", "cannot connect to itself",
                     "the same as the", "has the same kind and name", "clusters/c050.yaml", "clusters/c080.yaml"):
        assert expected in rules


def test_apps_and_configs_in_cluster_files_join_the_catalog(kd, monkeypatch):
    files = {f"clusters/c{i:03d}.yaml": cluster(f"c{i}") for i in range(MANY)}
    files["clusters/zz-app.yaml"] = APP_YAML  # the only app, after the clusters that use it
    root = kd.write(files)
    whole = _same_as_whole(root, monkeypatch)
    assert whole[0] == [] and len(whole[3]) == MANY


def test_selections_are_checked_as_load_model_checks_them(kd, monkeypatch):
    files = {"catalog/web.yaml": APP_YAML, "catalog/other.yaml": APP_YAML.replace("name: web\n", "name: other\n")
             .replace("port: 80", "port: 0")}
    for i in range(MANY):
        files[f"clusters/c{i:03d}.yaml"] = cluster(f"c{i}")
    files["clusters/c003.yaml"] = cluster("c3", extra="  connections:\n    clusters: [c4]\n")
    files["clusters/c009.yaml"] = cluster("c9").replace("members: 2", "members: 2.0")
    files["clusters/c004.yaml"] = cluster("c4").replace("app: web", "app: other")
    root = kd.write(files)
    for selection in (["clusters/c001.yaml", "clusters/c002.yaml"], ["clusters/c003.yaml"],
                      ["clusters/c009.yaml", "clusters/c010.yaml"]):
        _same_as_whole(root, monkeypatch, selection)


def test_a_streaming_model_renders_the_same_bytes(kd, monkeypatch):
    files = {"catalog/web.yaml": APP_YAML}
    for i in range(MANY):
        files[f"clusters/c{i:03d}.yaml"] = cluster(f"c{i}", "a" if i % 2 else "b")
    files["clusters/c001.yaml"] = cluster("c1", "a", extra="  connections:\n    clusters: [c3]\n")
    root = kd.write(files)
    whole = bundle_files(render_model(validate_repo(load_repo(str(root)))[0]))
    monkeypatch.setattr(index, "KEEP", 0)
    model = load_model(str(root))
    assert isinstance(model.clusters, index.Clusters)
    for workers in (1, 2):
        assert dict(pair for chunk in stream.rendered(model, "files", workers=workers) for pair in chunk) == whole


@pytest.fixture(scope="module")
def fleet(tmp_path_factory) -> Path:
    """3,000 small cluster files and no kdrender.yaml: more values than a whole run could hold under
    the old per-run budget (200,000)."""
    root = tmp_path_factory.mktemp("fleet")
    (root / "catalog").mkdir()
    (root / "catalog" / "web.yaml").write_text(APP_YAML)
    (root / "clusters").mkdir()
    for i in range(3000):
        (root / "clusters" / f"c{i:04d}.yaml").write_text(cluster(f"c{i}", members=0).replace(
            "metadata:\n", "metadata:\n  labels: {" + ", ".join(f"l{j}: v" for j in range(60)) + "}\n"))
    return root


def test_3000_clusters_pass_with_default_settings(fleet, tmp_path):
    from kdrender.budget import Budget
    from kdrender.load import read_file

    budget = Budget()
    read_file(str(fleet), "clusters/c0000.yaml", budget)
    assert budget.used_nodes * 3000 > 200_000  # over the old budget of a whole run
    root = tmp_path / "r"
    shutil.copytree(fleet, root)
    result = run_cli("validate", str(root))
    assert result.exit_code == 0, result.stderr[-2000:]
    assert "3000 clusters: no problems" in result.stderr
    assert run_cli("build", str(root)).exit_code == 0
    assert len(list((root / "golden").iterdir())) == 1 and len(list((root / "golden" / "web").iterdir())) == 3000
    result = run_cli("check", str(root))
    assert result.exit_code == 0 and "up to date" in result.stderr


BOMB = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{n}: &{n} [{', '.join(['*' + p] * 10)}]\n" for p, n in zip("abcdefg", "bcdefgh"))


def test_a_hostile_file_fails_alone_among_many_good_ones(fleet, tmp_path):
    root = tmp_path / "r"
    shutil.copytree(fleet, root)
    (root / "clusters" / "c1500-bomb.yaml").write_text(BOMB)
    result = run_cli("validate", str(root))
    assert result.exit_code == 1
    assert result.stdout.splitlines() == [
        "clusters/c1500-bomb.yaml:1:32: over budget: more than 200000 values in this file, aliases expanded "
        "(limits.nodes in kdrender.yaml); not read"]
    assert "invalid YAML" not in result.stdout + result.stderr
    assert result.stderr.splitlines()[-1] == "kdrender: 1 problem found"


def test_texts_keep_each_path_as_given():
    from kdrender.index import Texts as Paths

    given = ["clusters/a.yaml", "clusters/ü/é.yaml", "clusters/x y\nz.yaml", "c.json"]
    paths = Paths(given)
    assert len(paths) == 4 and list(paths) == given and paths[1] == "clusters/ü/é.yaml"
    assert paths[-1] == "c.json" and paths[1:3] == given[1:3] and paths[::-2] == given[::-2]
    assert len(Paths([])) == 0 and list(Paths([])) == []
    with pytest.raises(IndexError):
        paths[4]


def test_a_worktree_forgets_hashed_files_but_not_their_ids(tmp_path, monkeypatch):
    from kdrender import incremental

    monkeypatch.setattr(incremental, "HASHED", 2)
    for n in range(5):
        (tmp_path / f"f{n}").write_text(f"{n}\n")
    tree = incremental.Worktree(str(tmp_path))
    want = [incremental.blob_id(f"{n}\n".encode()) for n in range(5)]
    assert [tree.blob(f"f{n}") for n in range(5)] == want == [tree.blob(f"f{n}") for n in range(5)]
    assert len(tree._hashed) <= 2 and tree.blob("missing") is None


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["a", "ns", "ü", "x\x00y"]),
                          st.one_of(st.text(max_size=6), st.integers(0, 3), st.none())), max_size=80),
       st.lists(st.tuples(st.sampled_from(["a", "zz"]), st.text(max_size=4)), max_size=10))
def test_keys_answer_as_a_dict_of_the_same_pairs(pairs, probes):
    from kdrender.index import Keys

    keys, plain = Keys(), {}
    for place, key in enumerate(pairs):
        assert keys.setdefault(key, place) == plain.setdefault(key, place)
    assert len(keys) == len(plain)
    for key in [*pairs, *probes, ("a", ["unhashable"]), "a/b", ("a",)]:
        try:
            want = plain.get(key)
        except TypeError:
            want = None
        assert keys.get(key) == want and (key in keys) == (want is not None)
        if want is None:
            with pytest.raises(KeyError):
                keys[key]
        else:
            assert keys[key] == want


def test_pairs_give_back_what_was_appended():
    from kdrender.index import Pairs

    given = [("a", "b"), ("", ""), ("ü\ud800", "x/y"), ("ns", "")]
    pairs = Pairs()
    assert [pairs.append(p) for p in given] == [0, 1, 2, 3]
    assert len(pairs) == 4 and [pairs[n] for n in range(4)] == given


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.text("a-z.", max_size=4), st.text("a-zé0", max_size=4)), max_size=30))
def test_pairs_sort_keys_sort_as_the_pairs(pairs):
    kept = index.Pairs()
    for pair in pairs:
        kept.append(pair)
    assert [kept[n] for n in sorted(range(len(pairs)), key=kept.sort_key)] == sorted(pairs)


def test_fingerprints_give_back_each_bucket_whole(monkeypatch):
    monkeypatch.setattr(index, "SPILL", 3)
    prints = index.Fingerprints()
    added = [(fp, ordinal) for ordinal in range(50) for fp in (ordinal * 7919 % 1000, 2 ** 32 - 1 - ordinal)]
    for fp, ordinal in added:
        prints.add([fp], ordinal)
    got = [sorted(divmod(entry, 2 ** 32) for entry in bucket) for bucket in prints.buckets()]
    assert len(got) == index.BUCKETS
    assert got == [sorted(e for e in added if e[0] % index.BUCKETS == b) for b in range(index.BUCKETS)]
    prints.close()
    assert all(len(bucket) == 0 for bucket in prints.buckets())
