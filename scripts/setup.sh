#!/usr/bin/env bash
# Installs what building and testing mixccl needs on Debian 12 (bookworm). Idempotent: packages that
# are already installed are left alone, and apt-get update runs only when something is missing.
set -euo pipefail

PACKAGES=(
  build-essential cmake ninja-build pkg-config git
  libgtest-dev libgmock-dev libbenchmark-dev
  libtbb-dev libhwloc-dev
  nlohmann-json3-dev libcli11-dev
  libopenmpi-dev openmpi-bin
  python3 python3-pytest python3-numpy
  python3-matplotlib python3-torch
  libtorch-dev pybind11-dev python3-pybind11 python3-dev
  iproute2 procps
  libucx-dev ucx-utils libfabric-dev libfabric-bin iperf3  # ucx/ofi transports, namespace tests (docs/transports.md)
  hipcc libamdhip64-dev  # the HIP backend is compiled (no AMD GPU needed; see docs/devices.md)
)

missing=()
for p in "${PACKAGES[@]}"; do
  # "install ok installed" only: a package that was removed but left its config files is missing.
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: all ${#PACKAGES[@]} packages are installed"
  exit 0
fi

SUDO=()
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then
    SUDO=(sudo)
  else
    echo "setup: these packages are missing: ${missing[*]}" >&2
    echo "setup: installing them needs root, and sudo is not available; run this script as root" >&2
    exit 1
  fi
fi

echo "setup: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" apt-get update -q
"${SUDO[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
echo "setup: done"
