#!/usr/bin/env bash
# Create the repo-local virtualenv (.venv) and install the pinned OpenMMLab stack.
#
# Idempotent: a second run checks what is there and installs nothing new.
# mmcv 2.1.0 has no wheel for torch 2.14, so its compiled ops are built from
# source once (the slow step: about 5 min on 2 cores) and the wheel is cached outside the repo in $MMC2AM_CACHE (default
# ~/.cache/mmc2am), keyed by python, torch, CUDA and the compiler flags, so
# later setups on the same machine take seconds. The build runs in the
# background while the other packages install.
#
# Environment knobs: VENV, PYTHON, MMC2AM_CACHE, MAX_JOBS (parallel compile
# jobs, default: all cores), MMCV_BUILD_FLAGS (compiler flags of the mmcv ops).
set -Eeuo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${VENV:-$ROOT/.venv}"
CACHE="${MMC2AM_CACHE:-$HOME/.cache/mmc2am}"
PYTHON="${PYTHON:-python3}"
TORCH_VERSION=2.14.1
TORCHVISION_VERSION=0.29.1
MMCV_VERSION=2.1.0
# torch 2.14 wants setuptools>=77.0.3; mmengine's `mmseg::` config inheritance
# and mmcv's setup.py import pkg_resources, which setuptools 81+ no longer
# ships. One version for the build and the runtime: no downgrade, so pip's
# resolver has nothing to complain about.
SETUPTOOLS='setuptools==80.9.0'
NINJA='ninja==1.13.2'
# Put after Python's own CFLAGS (-DNDEBUG -g -fwrapv -O3 -Wall ...), so these
# win. No debug info (-g0) and -O1: a typical op source compiles in about half
# the time of -g -O3, pybind.cpp in half (numbers in the README). The CPU ops
# are not used at run time here; CUDA kernels are compiled by nvcc, which these
# flags do not touch.
MMCV_BUILD_FLAGS="${MMCV_BUILD_FLAGS:--g0 -O1}"

N=7
STEP="start"
step() { STEP="step $1/$N: $2"; echo "[setup] $STEP"; }
BUILD=""
BUILD_PID=""
PCH_PID=""
cleanup() {
  # a failed or interrupted setup must not leave the mmcv build compiling
  if [ -n "$PCH_PID" ]; then kill "$PCH_PID" 2>/dev/null || true; fi
  if [ -n "$BUILD_PID" ] && kill -0 "$BUILD_PID" 2>/dev/null; then
    kill -- "-$BUILD_PID" 2>/dev/null || kill "$BUILD_PID" 2>/dev/null || true
  fi
  if [ -n "$BUILD" ]; then rm -rf "$BUILD"; fi
}
trap 'echo "[setup] FAILED at $STEP (line $LINENO, exit $?)" >&2' ERR
trap cleanup EXIT
trap 'exit 130' INT TERM

# pip, without the one warning per package that a pip config naming a missing
# local index (file://...) prints; everything else, errors included, passes.
pip_() {
  local rc=0 last="${!:-}"
  "${PIP[@]}" "$@" 2> >(grep --line-buffered -v -F 'is ignored: it is neither a file nor a directory' >&2 || true) || rc=$?
  # let the filter print pip's last lines before a FAILED line or the next step
  if [ "${!:-}" != "$last" ]; then wait "$!" 2>/dev/null || true; fi
  return "$rc"
}

step 1 "create virtualenv $VENV"
if [ ! -x "$VENV/bin/python" ]; then
  "$PYTHON" -m venv "$VENV"
fi
PY="$VENV/bin/python"
PIP=("$PY" -m pip --disable-pip-version-check)

step 2 "install torch $TORCH_VERSION + torchvision $TORCHVISION_VERSION (about 1-4 min, mostly download)"
if ! "$PY" -c "import torch, torchvision, sys; sys.exit(not (torch.__version__.split('+')[0] == '$TORCH_VERSION' and torchvision.__version__.split('+')[0] == '$TORCHVISION_VERSION'))" 2>/dev/null; then
  # ninja: parallel compile of the mmcv ops (torch falls back to one file at a time without it)
  pip_ install -q "torch==$TORCH_VERSION" "torchvision==$TORCHVISION_VERSION" "$SETUPTOOLS" "$NINJA"
fi

have_mmcv_ops() { "$PY" -c "import mmcv, mmcv.ops, sys; sys.exit(mmcv.__version__ != '$MMCV_VERSION')" 2>/dev/null; }
# CUDA ops only where both a toolkit and a GPU exist; CPU ops otherwise.
WITH_CUDA=0
if command -v nvcc >/dev/null 2>&1 && "$PY" -c "import torch, sys; sys.exit(not torch.cuda.is_available())" 2>/dev/null; then
  WITH_CUDA=1
fi
FLAGS_KEY=$(printf '%s' "$MMCV_BUILD_FLAGS" | tr -d ' -' | tr -c 'A-Za-z0-9=.+' '_')
KEY=$("$PY" -c "import sys, torch; print(f'py{sys.version_info[0]}{sys.version_info[1]}-torch{torch.__version__.split(\"+\")[0]}')")-cuda$WITH_CUDA-$FLAGS_KEY
WHEEL_DIR="$CACHE/mmcv-$MMCV_VERSION-$KEY"
LOG="$CACHE/mmcv-$MMCV_VERSION-$KEY.build.log"
NEED_MMCV=0
have_mmcv_ops || NEED_MMCV=1

if [ "$NEED_MMCV" = 1 ] && ! ls "$WHEEL_DIR"/mmcv-*.whl >/dev/null 2>&1; then
  step 3 "start the mmcv $MMCV_VERSION build ($KEY) in the background: usually about 5 min on 2 cores, log: $LOG"
  mkdir -p "$CACHE"
  # a venv set up by an older version of this script may lack ninja
  if ! PATH="$VENV/bin:$PATH" ninja --version >/dev/null 2>&1; then pip_ install -q "$NINJA"; fi
  BUILD=$(mktemp -d)
  SRC="$BUILD/mmcv-$MMCV_VERSION"
  # Every op source includes torch/types.h (through pytorch_cpp_helper.hpp),
  # and parsing it is ~7 of the ~10 s each of the 77 sources takes: it is
  # precompiled once (~25 s, beside the download), with the flags the build
  # uses, and force-included. Where the .gch does not match, gcc reads the
  # plain header instead, so a failed or unusable PCH only costs time.
  PCH_H="$BUILD/pch/mmcv_pch.h"
  mkdir -p "$BUILD/pch" && printf '#include <torch/types.h>\n#include <vector>\n' >"$PCH_H"
  # setuptools' distutils puts $CFLAGS in place of Python's CFLAGS (older
  # ones appended it): pass both, so -DNDEBUG, -fwrapv stay as in a plain build.
  CXX_FLAGS="$("$PY" -c "import sysconfig; print(sysconfig.get_config_var('CFLAGS') or '')") $MMCV_BUILD_FLAGS"
  CXX_FLAGS="$CXX_FLAGS" "$PY" - "$PCH_H" >"$LOG.pch" 2>&1 <<'PYEOF' &
import os, shlex, sys, sysconfig
from torch.utils.cpp_extension import include_paths
# the compile command of torch's BuildExtension: $CFLAGS, -fPIC, the torch
# includes, then mmcv's -std and torch's two defines
h = sys.argv[1]
cmd = ([os.environ.get('CXX', 'c++')] + os.environ['CXX_FLAGS'].split()
       + sysconfig.get_config_var('CCSHARED').split()
       + ['-I' + p for p in include_paths()]
       + ['-std=c++20', '-DTORCH_API_INCLUDE_EXTENSION_H', '-DTORCH_EXTENSION_NAME=_ext',
          '-x', 'c++-header', h, '-o', h + '.gch'])
print(shlex.join(cmd), flush=True)
os.execvp(cmd[0], cmd)  # the compiler in this process: cleanup's kill reaches it
PYEOF
  PCH_PID=$!
  pip_ download -q --no-deps --no-build-isolation --no-binary :all: "mmcv==$MMCV_VERSION" -d "$BUILD"
  tar -xzf "$BUILD/mmcv-$MMCV_VERSION.tar.gz" -C "$BUILD"
  # torch 2.14's headers require C++20; mmcv 2.1.0 pins -std=c++17.
  sed -i 's/-std=c++17/-std=c++20/g' "$SRC/setup.py"
  rm -rf "$WHEEL_DIR.tmp" && mkdir -p "$WHEEL_DIR.tmp"
  if wait "$PCH_PID"; then
    CXX_FLAGS="$CXX_FLAGS -Winvalid-pch -include $PCH_H"
  else
    echo "[setup]   (no precompiled header, see $LOG.pch; the build takes longer)"
  fi
  PCH_PID=""
  # Own process group (setsid), so that cleanup stops the compilers too.
  # The venv's bin/ on PATH: torch looks for `ninja` there.
  SETSID=()
  if command -v setsid >/dev/null 2>&1; then SETSID=(setsid); fi
  (cd "$SRC" && PATH="$VENV/bin:$PATH" MMCV_WITH_OPS=1 FORCE_CUDA=$WITH_CUDA \
    MAX_JOBS="${MAX_JOBS:-$(nproc)}" CFLAGS="$CXX_FLAGS" CXXFLAGS="$CXX_FLAGS" \
    exec "${SETSID[@]}" "${PIP[@]}" wheel -v --use-pep517 --no-build-isolation --no-deps \
      -w "$WHEEL_DIR.tmp" . >"$LOG" 2>&1) &
  BUILD_PID=$!
  # Install nothing else until setup.py has imported torch and setuptools and
  # handed the compiling to ninja (build.ninja written): the packages that
  # install meanwhile then cannot be seen half-written by the build.
  for _ in $(seq 600); do
    if [ -n "$(find "$SRC/build" -name build.ninja -print -quit 2>/dev/null)" ] || ! kill -0 "$BUILD_PID" 2>/dev/null; then break; fi
    sleep 1
  done
  if ! kill -0 "$BUILD_PID" 2>/dev/null && ! ls "$WHEEL_DIR.tmp"/mmcv-*.whl >/dev/null 2>&1; then
    wait "$BUILD_PID" || true
    BUILD_PID=""
    STEP="step 3/$N: mmcv build (setup.py failed before compiling)"
    echo "[setup] FAILED at $STEP; last lines of $LOG:" >&2
    tail -n 30 "$LOG" >&2
    exit 1
  fi
elif [ "$NEED_MMCV" = 1 ]; then
  step 3 "mmcv $MMCV_VERSION: cached wheel in $WHEEL_DIR"
else
  step 3 "mmcv $MMCV_VERSION with compiled ops: already installed"
fi

step 4 "install mmengine, mmsegmentation, mmpretrain, pydensecrf2 and dev tools (about 1-3 min)"
pip_ install -q -r "$ROOT/requirements.txt"

if [ -n "$BUILD_PID" ]; then
  step 5 "wait for the mmcv build, then install it (log: $LOG)"
  START=$(date +%s)
  TOTAL=$(grep -c ': compile ' "$(find "$SRC/build" -name build.ninja -print -quit)" || true)
  TICK=0
  while kill -0 "$BUILD_PID" 2>/dev/null; do
    sleep 2
    TICK=$((TICK + 1))
    if [ $((TICK % 60)) = 0 ]; then  # a progress line every 2 min
      DONE=$(find "$SRC/build" -name '*.o' 2>/dev/null | wc -l)
      echo "[setup]   mmcv: $DONE/$TOTAL files compiled, $(( ($(date +%s) - START) / 60 )) min waited"
    fi
  done
  if ! wait "$BUILD_PID"; then
    BUILD_PID=""
    echo "[setup] FAILED at $STEP: the mmcv build failed; last lines of $LOG:" >&2
    tail -n 40 "$LOG" >&2
    exit 1
  fi
  BUILD_PID=""
  # rename makes the cache entry appear only once the wheel is complete
  rm -rf "$WHEEL_DIR" && mv "$WHEEL_DIR.tmp" "$WHEEL_DIR"
elif [ "$NEED_MMCV" = 1 ]; then
  step 5 "install mmcv $MMCV_VERSION from $WHEEL_DIR"
else
  step 5 "mmcv $MMCV_VERSION: nothing to install"
fi
if [ "$NEED_MMCV" = 1 ]; then
  pip_ install -q --no-deps --force-reinstall "$WHEEL_DIR"/mmcv-*.whl
fi

step 6 "install mmc2am (editable)"
pip_ install -q --no-deps --no-build-isolation -e "$ROOT"

step 7 "check imports"
"$PY" -c "import mmcv.ops, mmseg.models, mmseg.datasets, mmpretrain.models, pydensecrf.densecrf, mmc2am; print('[setup] ok: mmcv', mmcv.__version__)"
