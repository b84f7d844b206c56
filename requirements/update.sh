#!/bin/sh
# Regenerates the hashed pins the Dockerfile installs with `pip install --require-hashes`:
#   requirements/sidecar.txt  from sidecar.in  (the sidecar's runtime: what `kdrender generate` imports)
#   requirements/build.txt    from build.in    (the build stage's wheel builder)
# Run it with the Python minor version of the Dockerfile's base image (3.11), from any folder:
#   sh requirements/update.sh            (needs PyPI; upgrades every pin to the newest release)
# then commit the two .txt files.  pip-tools runs from a throw-away venv.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
python=${PYTHON:-python3.11}
command -v "$python" > /dev/null 2>&1 || python=python3
"$python" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' ||
    echo "warning: $("$python" --version) is not the image's Python 3.11; markers may resolve differently" >&2
tools=$(mktemp -d)
trap 'rm -rf "$tools"' EXIT
"$python" -m venv "$tools"
"$tools/bin/pip" install --quiet pip-tools
for name in sidecar build; do
    (cd "$here" && "$tools/bin/pip-compile" --quiet --upgrade --generate-hashes --allow-unsafe --strip-extras \
        --no-emit-index-url --no-emit-find-links --output-file "$name.txt" "$name.in")
done
