#!/usr/bin/env bash
# PyTorch's own "nccl" backend on mixccl's libnccl.so.2: DistributedDataParallel with 2 ranks on ONE GPU
# (NVIDIA's NCCL refuses two ranks on one device), compared with a single-process run of the same model
# and data. Passes when the two loss curves agree within fp32 tolerance.
#
# Run on the GPU machine from the repository root:   scripts/torch-nccl-ddp.sh [outdir]
# Environment: PYTHON (default: python3, which must have torch with CUDA), MIXCCL_BUILD_DIR (default:
# build; built here with cmake when its lib/libnccl.so.2 is missing), RANKS (default 2).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

PYTHON="${PYTHON:-python3}"
BUILD_DIR="${MIXCCL_BUILD_DIR:-build}"
RANKS="${RANKS:-2}"
OUT="${1:-${OUT:-/tmp/torch-nccl-ddp}}"
mkdir -p "${OUT}"
LIB="$(pwd)/${BUILD_DIR}/lib/libnccl.so.2"

if [ ! -e "${LIB}" ]; then
  echo "torch-nccl-ddp: building mixccl in ${BUILD_DIR}/ (no ${LIB})"
  generator=()
  command -v ninja >/dev/null && generator=(-G Ninja)
  cmake -S . -B "${BUILD_DIR}" "${generator[@]}" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMIXCCL_BUILD_TESTS=OFF
  cmake --build "${BUILD_DIR}" -j"$(nproc)" --target nccl_shim
fi

"${PYTHON}" - <<'PY'
import torch
assert torch.cuda.is_available(), "torch-nccl-ddp needs a CUDA GPU"
print(f"torch {torch.__version__}, CUDA {torch.version.cuda}, {torch.cuda.get_device_name(0)}, "
      f"torch's own NCCL {torch.cuda.nccl.version()}")
PY

echo "torch-nccl-ddp: single-process reference"
"${PYTHON}" scripts/torch_nccl_ddp.py --mode single --out "${OUT}/single.json"

echo "torch-nccl-ddp: ${RANKS} DDP ranks on cuda:0 with LD_PRELOAD=${LIB}"
# The ranks are started here (as torchrun would: RANK, WORLD_SIZE, MASTER_ADDR/PORT), loopback only,
# our library first; NCCL_DEBUG=INFO logs what mixccl chose (staging, transports) per rank.
port=$(( 20000 + RANDOM % 20000 ))
pids=()
for ((r = 0; r < RANKS; r++)); do
  LD_PRELOAD="${LIB}${LD_PRELOAD:+:${LD_PRELOAD}}" RANK=$r WORLD_SIZE="${RANKS}" LOCAL_RANK=$r \
  MASTER_ADDR=127.0.0.1 MASTER_PORT="${port}" \
  NCCL_SOCKET_IFNAME=lo MIXCCL_TIMEOUT="${MIXCCL_TIMEOUT:-120}" NCCL_DEBUG="${NCCL_DEBUG:-INFO}" \
  NCCL_DEBUG_FILE="${OUT}/mixccl.%h.%p.log" \
    timeout 540 "${PYTHON}" scripts/torch_nccl_ddp.py --mode ddp --out "${OUT}/ddp.json" --expect-lib "${LIB}" \
    > "${OUT}/rank$r.out" 2>&1 &
  pids+=($!)
done
failed=0
for ((r = 0; r < RANKS; r++)); do
  if ! wait "${pids[$r]}"; then echo "torch-nccl-ddp: rank $r FAILED:"; tail -30 "${OUT}/rank$r.out"; failed=1; fi
done
[ "${failed}" = 0 ] || exit 1

"${PYTHON}" - "${OUT}" <<'PY'
import json, math, sys
out = sys.argv[1]
single = json.load(open(f"{out}/single.json"))
ddp = json.load(open(f"{out}/ddp.json"))
print(f"device: {ddp['device']}; torch {ddp['torch']}; NCCL version PyTorch sees: {ddp['nccl_version']}")
print(f"libnccl mapped in the DDP ranks: {ddp['nccl_libraries']}")
worst = 0.0
print(f"{'step':>4} {'single':>12} {'ddp':>12} {'rel diff':>10}")
for i, (a, b) in enumerate(zip(single["losses"], ddp["losses"])):
    rel = abs(a - b) / max(abs(a), 1e-12)
    worst = max(worst, rel)
    print(f"{i:4d} {a:12.8f} {b:12.8f} {rel:10.2e}")
ok = len(single["losses"]) == len(ddp["losses"]) and worst <= 1e-4
print(f"worst relative difference {worst:.2e} (tolerance 1e-4): {'PASS' if ok else 'FAIL'}")
sys.exit(0 if ok else 1)
PY
