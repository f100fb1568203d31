#!/usr/bin/env bash
# Create the repo-local virtualenv (.venv) and install the pinned OpenMMLab stack.
#
# Idempotent: a second run checks what is there and installs nothing new.
# The mmcv 2.1.0 wheel (compiled ops, ~6.5 min on 2 cores) is built once and
# cached outside the repo in $MMC2AM_CACHE (default ~/.cache/mmc2am), keyed by
# python, torch and CUDA, so later setups on the same machine take seconds.
set -Eeuo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${VENV:-$ROOT/.venv}"
CACHE="${MMC2AM_CACHE:-$HOME/.cache/mmc2am}"
PYTHON="${PYTHON:-python3}"
TORCH_VERSION=2.14.1
TORCHVISION_VERSION=0.29.1
MMCV_VERSION=2.1.0
# torch 2.14 wants setuptools>=77.0.3; mmengine's `mmseg::` config inheritance
# imports pkg_resources, which setuptools 81+ no longer ships.
SETUPTOOLS='setuptools==80.9.0'

STEP="start"
step() { STEP="$*"; echo "[setup] $*"; }
trap 'echo "[setup] FAILED at step: $STEP (line $LINENO, exit $?)" >&2' ERR

step "create virtualenv $VENV"
if [ ! -x "$VENV/bin/python" ]; then
  "$PYTHON" -m venv "$VENV"
fi
PY="$VENV/bin/python"
PIP=("$PY" -m pip --disable-pip-version-check)

step "install torch $TORCH_VERSION + torchvision $TORCHVISION_VERSION"
if ! "$PY" -c "import torch, torchvision, sys; sys.exit(not (torch.__version__.split('+')[0] == '$TORCH_VERSION' and torchvision.__version__.split('+')[0] == '$TORCHVISION_VERSION'))" 2>/dev/null; then
  "${PIP[@]}" install -q "torch==$TORCH_VERSION" "torchvision==$TORCHVISION_VERSION" "$SETUPTOOLS"
fi

step "mmcv $MMCV_VERSION with compiled ops"
have_mmcv_ops() { "$PY" -c "import mmcv, mmcv.ops, sys; sys.exit(mmcv.__version__ != '$MMCV_VERSION')" 2>/dev/null; }
if ! have_mmcv_ops; then
  # CUDA ops only where both a toolkit and a GPU exist; CPU ops otherwise.
  WITH_CUDA=0
  if command -v nvcc >/dev/null 2>&1 && "$PY" -c "import torch, sys; sys.exit(not torch.cuda.is_available())" 2>/dev/null; then
    WITH_CUDA=1
  fi
  KEY=$("$PY" -c "import sys, torch; print(f'py{sys.version_info[0]}{sys.version_info[1]}-torch{torch.__version__.split(\"+\")[0]}')")-cuda$WITH_CUDA
  WHEEL_DIR="$CACHE/mmcv-$MMCV_VERSION-$KEY"
  if ! ls "$WHEEL_DIR"/mmcv-*.whl >/dev/null 2>&1; then
    step "build mmcv $MMCV_VERSION wheel from source ($KEY; several minutes on 2 cores)"
    # mmcv 2.1.0's setup.py is only known to build with setuptools<70;
    # the runtime pin is restored with requirements.txt below.
    "${PIP[@]}" install -q 'setuptools<70' wheel ninja
    BUILD=$(mktemp -d)
    "${PIP[@]}" download -q --no-deps --no-build-isolation --no-binary :all: "mmcv==$MMCV_VERSION" -d "$BUILD"
    tar -xzf "$BUILD"/mmcv-$MMCV_VERSION.tar.gz -C "$BUILD"
    # torch 2.14's headers require C++20; mmcv 2.1.0 pins -std=c++17.
    sed -i 's/-std=c++17/-std=c++20/g' "$BUILD/mmcv-$MMCV_VERSION/setup.py"
    rm -rf "$WHEEL_DIR.tmp" && mkdir -p "$WHEEL_DIR.tmp"
    (cd "$BUILD/mmcv-$MMCV_VERSION" && MMCV_WITH_OPS=1 FORCE_CUDA=$WITH_CUDA MAX_JOBS="${MAX_JOBS:-$(nproc)}" \
      "${PIP[@]}" wheel -q --no-build-isolation --no-deps -w "$WHEEL_DIR.tmp" .)
    # rename makes the cache entry appear only once the wheel is complete
    rm -rf "$WHEEL_DIR" && mv "$WHEEL_DIR.tmp" "$WHEEL_DIR"
    rm -rf "$BUILD"
  fi
  step "install cached mmcv wheel from $WHEEL_DIR"
  "${PIP[@]}" install -q --no-deps --force-reinstall "$WHEEL_DIR"/mmcv-*.whl
fi

step "install mmengine, mmsegmentation, mmpretrain, pydensecrf2 and dev tools"
"${PIP[@]}" install -q -r "$ROOT/requirements.txt"

step "install mmc2am (editable)"
"${PIP[@]}" install -q --no-deps --no-build-isolation -e "$ROOT"

step "check imports"
"$PY" -c "import mmcv.ops, mmseg.models, mmseg.datasets, mmpretrain.models, pydensecrf.densecrf, mmc2am; print('[setup] ok: mmcv', mmcv.__version__)"
