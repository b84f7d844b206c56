#
# The kdrender Argo CD CMP sidecar image: Python, kdrender with what `kdrender generate` imports,
# and plugin.yaml, nothing else.
#
#   docker build -t registry.example.com/kdrender-cmp:0.1.0 .
#   docker push registry.example.com/kdrender-cmp:0.1.0
#
# Then add the sidecar to argocd-repo-server: deploy/argocd/ (kubectl apply -k).
#
# Rules (hadolint-style; tests/test_deploy.py checks them and replays the install steps in a venv):
# - DL3006/DL3007: the base image is pinned to a full version tag, never `latest` (both stages use
#   the same one). For byte-for-byte reproducible builds also pin its digest:
#   FROM python:3.11.13-slim-bookworm@sha256:<digest>.
# - No `# syntax=` line: BuildKit would pull a frontend image at build time.
# - Two stages. `build` turns the source into a wheel and installs it, with the pinned runtime
#   dependencies, into the venv /opt/kdrender; the runtime stage copies only that venv and
#   plugin.yaml: no source, no wheel, no pip or setuptools in any layer of the runtime image.
# - Dependencies are pinned with hashes (pip install --require-hashes): requirements/sidecar.txt
#   holds exactly what `kdrender generate` imports (PyYAML; jsonschema and its dependencies for
#   inputs the schema cache does not know), requirements/build.txt the wheel builder. kdrender
#   itself is installed with --no-deps, so other runtime dependencies of the CLI (click) stay out.
#   Regenerate both files with `sh requirements/update.sh`.
# - DL3042: pip keeps no cache (--no-cache-dir, PIP_NO_CACHE_DIR). --only-binary=:all: installs
#   wheels only: nothing is compiled, so no compiler is installed (the slim image has none).
# - No apt-get: the slim image has everything kdrender needs (PyYAML's wheel bundles libyaml).
# - Byte-compiled ahead (issue 12): Argo CD runs the sidecar with a read-only root and uid 999,
#   and PYTHONDONTWRITEBYTECODE=1, so a module without a usable .pyc would be compiled again on
#   every `generate`. The slim image ships the standard library without .pyc files: the runtime
#   stage compiles it and the venv with unchecked-hash .pycs, which stay valid whatever mtimes
#   the image layers end up with (the files never change in an image).
# - CMD is the CMP server, /var/run/argocd/argocd-cmp-server, which Argo CD's init container
#   copies into the shared /var/run/argocd volume (it is not part of this image); the container
#   spec in deploy/argocd/repo-server-kdrender-sidecar.yaml names it too. Nothing is inherited
#   from the base image's CMD (python3).
# - DL3002: the last USER is 999, the uid Argo CD requires for CMP sidecars; nothing runs as root at
#   runtime, and the installed files are owned by root, so the plugin cannot modify itself.
# - Only requirements/, pyproject.toml, README.md, kdrender/ and plugin.yaml are copied
#   (.dockerignore allows nothing else into the build context): no tests, no cluster repo, no .git.
FROM python:3.11.13-slim-bookworm AS build

ENV PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VIRTUAL_ENV=/opt/kdrender

WORKDIR /src
COPY requirements/sidecar.txt requirements/build.txt ./requirements/
COPY pyproject.toml README.md ./
COPY kdrender/ ./kdrender/
# /opt/build: pip and the hashed setuptools, to build kdrender's wheel. /opt/kdrender: the runtime
# venv, made without pip; the build venv's pip installs into it (--python), hashed pins first,
# then the wheel without dependencies. The console script's shebang points at the venv's python.
RUN python -m venv /opt/build \
 && /opt/build/bin/pip install --no-cache-dir --only-binary=:all: --require-hashes --no-deps -r requirements/build.txt \
 && /opt/build/bin/pip wheel --no-cache-dir --only-binary=:all: --no-deps --no-build-isolation -w /src/dist /src \
 && python -m venv --without-pip /opt/kdrender \
 && /opt/build/bin/pip --python /opt/kdrender/bin/python install --no-cache-dir --only-binary=:all: --require-hashes --no-deps -r requirements/sidecar.txt \
 && /opt/build/bin/pip --python /opt/kdrender/bin/python install --no-cache-dir --only-binary=:all: --no-deps /src/dist/kdrender-*.whl \
 && /opt/kdrender/bin/kdrender --version

FROM python:3.11.13-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    VIRTUAL_ENV=/opt/kdrender \
    PATH=/opt/kdrender/bin:$PATH

COPY --from=build /opt/kdrender /opt/kdrender
# The CMP server reads its config here (baked in, so no ConfigMap and no repo-server restart on change).
COPY plugin.yaml /home/argocd/cmp-server/config/plugin.yaml

# Argo CD runs the sidecar as uid 999 ("argocd" in Argo CD's own image): give it a name and a home.
# pip, setuptools and wheel of the base image go (nothing at runtime installs anything); the
# standard library and the venv get their .pyc files (see above); kdrender must still start.
RUN groupadd --gid 999 argocd \
 && useradd --uid 999 --gid 999 --no-log-init --home-dir /home/argocd --shell /usr/sbin/nologin argocd \
 && chown 999:999 /home/argocd \
 && rm -rf /usr/local/bin/pip /usr/local/bin/pip3* /usr/local/bin/wheel \
      /usr/local/lib/python3.11/site-packages/pip /usr/local/lib/python3.11/site-packages/pip-* \
      /usr/local/lib/python3.11/site-packages/setuptools /usr/local/lib/python3.11/site-packages/setuptools-* \
      /usr/local/lib/python3.11/site-packages/pkg_resources /usr/local/lib/python3.11/site-packages/_distutils_hack \
      /usr/local/lib/python3.11/site-packages/distutils-precedence.pth \
      /usr/local/lib/python3.11/site-packages/wheel /usr/local/lib/python3.11/site-packages/wheel-* \
 && python -m compileall -q -j 0 -f --invalidation-mode unchecked-hash \
      -x '/(test|tests|idlelib|tkinter|turtledemo|lib2to3)/' /usr/local/lib/python3.11 /opt/kdrender \
 && /opt/kdrender/bin/kdrender --version

WORKDIR /home/argocd
USER 999
CMD ["/var/run/argocd/argocd-cmp-server"]
