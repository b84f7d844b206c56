# syntax=docker/dockerfile:1
#
# The kdrender Argo CD CMP sidecar image: Python, kdrender and plugin.yaml, nothing else.
#
#   docker build -t registry.example.com/kdrender-cmp:0.1.0 .
#   docker push registry.example.com/kdrender-cmp:0.1.0
#
# Then add the sidecar to argocd-repo-server: deploy/argocd/ (kubectl apply -k).
#
# Rules (hadolint-style; tests/test_deploy.py checks them and replays the install steps in a venv):
# - DL3006/DL3007: the base image is pinned to a full version tag, never `latest`. For byte-for-byte
#   reproducible builds also pin its digest: FROM python:3.11.13-slim-bookworm@sha256:<digest>.
# - DL3002: the last USER is 999, the uid Argo CD requires for CMP sidecars; nothing runs as root at
#   runtime, and the installed files are owned by root, so the plugin cannot modify itself.
# - DL3042: pip keeps no cache (--no-cache-dir, PIP_NO_CACHE_DIR). --only-binary=:all: installs wheels
#   only: nothing is compiled, so no compiler is installed (the slim image has none) or left behind.
# - DL3013: pip installs only this project; its dependencies resolve within pyproject.toml's ranges
#   (add `-c constraints.txt` to the pip command to pin them too).
# - No apt-get: the slim image has everything kdrender needs (PyYAML's wheel bundles libyaml).
# - No ENTRYPOINT or CMD: the sidecar's command is /var/run/argocd/argocd-cmp-server, which Argo CD
#   copies into the shared /var/run/argocd volume (it is not part of this image); the container spec
#   in deploy/argocd/repo-server-kdrender-sidecar.yaml sets it.
# - Only pyproject.toml, README.md, kdrender/ and plugin.yaml are copied (.dockerignore allows nothing
#   else into the build context): no tests, no cluster repo, no .git.
FROM python:3.11.13-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VIRTUAL_ENV=/opt/kdrender \
    PATH=/opt/kdrender/bin:$PATH

# Argo CD runs the sidecar as uid 999 ("argocd" in Argo CD's own image): give it a name and a home.
RUN groupadd --gid 999 argocd \
 && useradd --uid 999 --gid 999 --no-log-init --create-home --home-dir /home/argocd \
      --shell /usr/sbin/nologin argocd

WORKDIR /src
COPY pyproject.toml README.md ./
COPY kdrender/ ./kdrender/
# A venv that the console script's shebang points into (no shim: Python starts in ~0.1 s); pip
# byte-compiles the package here, since uid 999 cannot write .pyc files at runtime.
RUN python -m venv /opt/kdrender \
 && /opt/kdrender/bin/pip install --no-cache-dir --only-binary=:all: /src \
 && /opt/kdrender/bin/kdrender --version \
 && rm -rf /src

# The CMP server reads its config here (baked in, so no ConfigMap and no repo-server restart on change).
COPY plugin.yaml /home/argocd/cmp-server/config/plugin.yaml

WORKDIR /home/argocd
USER 999
