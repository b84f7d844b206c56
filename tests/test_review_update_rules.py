"""KubeDirector's update-time admission rules between a Git revision and the working tree
(`kdrender validate --base REF`), each with KubeDirector's message (spec section 4)."""

from __future__ import annotations

import json

import pytest

from conftest import edit
from review_helpers import APP, CLUSTER, commit, git_repo, run, write

from kdrender.review.update_rules import RULES

OTHER_APP = APP.replace("  name: web\n", "  name: other\n", 1)
RESTORING = "kubedirector.hpe.com/restoring"
KEY = "0123456789abcdef0123456789abcdef"


def validate_base(root, ref="HEAD") -> tuple[int, list]:
    result = run("validate", str(root), "--base", ref, "--format", "json")
    return result.exit_code, json.loads(result.stdout)


def messages(problems: list) -> list:
    return [(p["file"], p["line"], p["path"], p["message"], p["rule"]) for p in problems]


@pytest.fixture
def repo(tmp_path):
    return git_repo(tmp_path / "repo", {"catalog/other.yaml": OTHER_APP})


def test_no_change_no_problem(repo):
    assert validate_base(repo) == (0, [])


def test_members_may_change(repo):
    write(repo, {"clusters/web1.yaml": edit(CLUSTER, ("members: 2 ", "members: 5 "))})
    assert validate_base(repo) == (0, [])


def test_app_is_read_only(repo):
    write(repo, {"clusters/web1.yaml": edit(CLUSTER, ("app: web", "app: other"))})
    code, problems = validate_base(repo)
    assert code == 1
    assert messages(problems) == [("clusters/web1.yaml", 8, "spec.app", "The app property is read-only.", "update-app")]


def test_app_catalog_is_read_only(repo):
    write(repo, {"clusters/web1.yaml": edit(CLUSTER, ("app: web\n", "app: web\n  appCatalog: system\n"))})
    code, problems = validate_base(repo)
    assert ("clusters/web1.yaml", 9, "spec.appCatalog", "The appCatalog property is read-only.",
            "update-app") in messages(problems)
    assert code == 1


def test_role_with_members_may_change_only_members(repo):
    write(repo, {"clusters/web1.yaml": edit(CLUSTER, ('      limits: {cpu: "1", memory: 1Gi}\n    storage',
                                                       '      limits: {cpu: "2", memory: 1Gi}\n    storage'))})
    code, problems = validate_base(repo)
    assert code == 1
    assert messages(problems) == [(
        "clusters/web1.yaml", 19, "spec.roles[1].resources.limits.cpu",
        "Role(worker) properties other than the members count cannot be modified while role members exist.",
        "update-roles")]


def test_role_without_members_may_change(tmp_path):
    repo = git_repo(tmp_path / "repo", {"clusters/web1.yaml": edit(CLUSTER, ("members: 2 ", "members: 0 "))})
    write(repo, {"clusters/web1.yaml": edit(CLUSTER, ("members: 2 ", "members: 1 "), ("size: 10Gi", "size: 20Gi"))})
    assert validate_base(repo) == (0, [])


def test_default_storage_class_counts_as_written(tmp_path):
    config = "defaultStorageClassName: standard\n"
    repo = git_repo(tmp_path / "repo", {"kdrender.yaml": config})
    write(repo, {"clusters/web1.yaml": edit(CLUSTER, ("size: 10Gi", "size: 10Gi\n      storageClassName: standard"))})
    assert validate_base(repo) == (0, [])
    write(repo, {"clusters/web1.yaml": edit(CLUSTER, ("size: 10Gi", "size: 10Gi\n      storageClassName: fast"))})
    assert validate_base(repo)[1][0]["rule"] == "update-roles"


def test_naming_scheme_is_fixed(repo):
    write(repo, {"clusters/web1.yaml": edit(CLUSTER, ("app: web\n", "app: web\n  namingScheme: UID\n"))})
    code, problems = validate_base(repo)
    assert code == 1
    assert messages(problems) == [(
        "clusters/web1.yaml", 9, "spec.namingScheme",
        "The namingScheme property cannot change from CrNameRole to UID while the cluster exists: every object and "
        "PVC of the cluster would be renamed (deleted and re-created).", "update-naming-scheme")]


def test_no_spec_change_while_restoring(tmp_path):
    labelled = edit(CLUSTER, ("  namespace: web\n", f"  namespace: web\n  labels:\n    {RESTORING}: \"\"\n"))
    repo = git_repo(tmp_path / "repo", {"clusters/web1.yaml": labelled})
    write(repo, {"clusters/web1.yaml": edit(labelled, ("members: 2 ", "members: 3 "))})
    code, problems = validate_base(repo)
    assert code == 1
    assert messages(problems) == [("clusters/web1.yaml", 19, "spec.roles[1].members",
                                   f"spec changes not allowed while {RESTORING} label exists", "update-restoring")]
    # removing the label in the same change is allowed (KubeDirector then validates in full)
    write(repo, {"clusters/web1.yaml": edit(CLUSTER, ("members: 2 ", "members: 3 "))})
    assert validate_base(repo) == (0, [])


def test_no_delete_while_restoring(tmp_path):
    labelled = edit(CLUSTER, ("  namespace: web\n", f"  namespace: web\n  labels:\n    {RESTORING}: \"\"\n"))
    repo = git_repo(tmp_path / "repo", {"clusters/web1.yaml": labelled})
    write(repo, {"clusters/web1.yaml": None})
    code, problems = validate_base(repo)
    assert code == 1
    assert messages(problems) == [(
        "clusters/web1.yaml", 8, f'metadata.labels["{RESTORING}"]',
        f"delete not allowed while {RESTORING} label exists, unless "
        "kubedirector.hpe.com/allow-delete-while-restoring label also exists", "update-restoring")]
    # a cluster that is still there but invalid is not deleted: only its own problems are reported
    write(repo, {"clusters/web1.yaml": edit(labelled, ("members: 1", "members: 0"))})
    code, problems = validate_base(repo)
    assert code == 1 and [p["rule"] for p in problems] == ["cardinality"]
    allowed = edit(labelled, (f"    {RESTORING}: \"\"\n",
                              f"    {RESTORING}: \"\"\n    kubedirector.hpe.com/allow-delete-while-restoring: \"\"\n"))
    commit(repo, "allow delete", {"clusters/web1.yaml": allowed})
    write(repo, {"clusters/web1.yaml": None})
    assert validate_base(repo) == (0, [])


def test_status_is_read_only(tmp_path):
    exported = CLUSTER + "status:\n  state: configured\n  lastNodeID: 3\n"
    repo = git_repo(tmp_path / "repo", {"clusters/web1.yaml": exported})
    write(repo, {"clusters/web1.yaml": edit(exported, ("lastNodeID: 3", "lastNodeID: 2"))})
    code, problems = validate_base(repo)
    assert code == 1
    assert messages(problems) == [("clusters/web1.yaml", 24, "status.lastNodeID",
                                   "KubeDirector-related status properties are read-only", "update-status")]


def test_encrypted_value_may_not_be_set(repo):
    write(repo, {"clusters/web1.yaml": edit(CLUSTER, ("    storage:\n", "    secretKeys:\n    - name: token\n"
                                                                      "      encryptedValue: 'AAAA'\n    storage:\n"))})
    code, problems = validate_base(repo)
    # a cluster file without status is new to KubeDirector: the create-time rule reports it
    assert ("clusters/web1.yaml", 22, "spec.roles[1].secretKeys[0].encryptedValue",
            "manually setting secret key (token) encrypted value is forbidden (a new cluster, without the status of "
            "an exported one: KubeDirector encrypts the values itself)", "encrypted-secret-keys") in messages(problems)
    assert code == 1


def test_app_in_use_may_not_change(repo):
    write(repo, {"catalog/web.yaml": edit(APP, ('version: "1.0"', 'version: "1.1"'))})
    code, problems = validate_base(repo)
    assert code == 1
    assert messages(problems) == [(
        "catalog/web.yaml", 9, "spec.version",
        "KubeDirectorApp resource cannot be deleted or modified while referenced by the following "
        "KubeDirectorCluster resources: web/web1", "update-app-in-use")]
    # an app no cluster uses may change
    write(repo, {"catalog/web.yaml": APP, "catalog/other.yaml": edit(OTHER_APP, ('version: "1.0"', 'version: "2"'))})
    assert validate_base(repo) == (0, [])


def test_master_key_is_fixed_while_clusters_exist(tmp_path):
    repo = git_repo(tmp_path / "repo", {"kdrender.yaml": f"masterEncryptionKey: {KEY}\n"})
    write(repo, {"kdrender.yaml": f"masterEncryptionKey: {KEY[::-1]}\n"})
    code, problems = validate_base(repo)
    assert code == 1
    assert messages(problems) == [("kdrender.yaml", 1, "masterEncryptionKey",
                                   "masterEncryptionKey value cannot be changed while kdclusters exist",
                                   "update-master-key")]


def test_config_may_not_be_deleted_while_clusters_exist(tmp_path):
    config = ("apiVersion: kubedirector.hpe.com/v1beta1\nkind: KubeDirectorConfig\nmetadata:\n  name: kd-global-config\n"
              "spec:\n  defaultServiceType: ClusterIP\n")
    repo = git_repo(tmp_path / "repo", {"catalog/kd-global-config.yaml": config})
    write(repo, {"catalog/kd-global-config.yaml": None})
    code, problems = validate_base(repo)
    assert code == 1
    assert messages(problems) == [("catalog/kd-global-config.yaml", 5, "spec",
                                   "kd-global-config cannot be deleted while kdclusters exist", "update-config-delete")]


def test_text_and_github_formats(repo):
    write(repo, {"clusters/web1.yaml": edit(CLUSTER, ("app: web", "app: other"))})
    text = run("validate", str(repo), "--base", "HEAD")
    assert text.exit_code == 1
    assert text.stdout == "clusters/web1.yaml:8:3: spec.app: The app property is read-only.\n"
    github = run("validate", str(repo), "--base", "HEAD", "--format", "github")
    assert github.stdout.startswith("::error file=clusters/web1.yaml,line=8,col=3,title=update-app::")


def test_default_base_is_the_merge_base(repo):
    from review_helpers import git

    git(repo, "checkout", "-q", "-b", "feature")
    commit(repo, "other app", {"clusters/web1.yaml": edit(CLUSTER, ("app: web", "app: other"))})
    result = run("validate", str(repo), "--base")
    assert result.exit_code == 1 and "The app property is read-only." in result.stdout


def test_bad_ref_is_a_usage_error(repo):
    result = run("validate", str(repo), "--base", "HEAD;touch x")
    assert result.exit_code == 2 and "cannot read the base revision" in result.stderr


def test_every_rule_is_documented():
    listed = run("rules").stdout
    for rule in RULES:
        assert rule.ID.startswith("update-") and rule.TARGET in ("cluster", "app", "config")
        assert len((rule.__doc__ or "").strip()) > 40
        assert f"{rule.ID} ({rule.TARGET}, validate --base)\n    {rule.__doc__.strip().splitlines()[0]}" in listed
