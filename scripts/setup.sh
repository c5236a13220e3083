#!/usr/bin/env bash
# Create .venv with the pinned torch/torchvision and the project's dependencies.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v bwrap >/dev/null 2>&1; then
  # bubblewrap is the default sandbox of submissions; install it where we may
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "setup: installing bubblewrap" >&2
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bubblewrap) >/dev/null \
      || echo "setup: could not install bubblewrap; submissions will run in the weaker process sandbox" >&2
  else
    echo "setup: bubblewrap (bwrap) is missing; install it (apt-get install bubblewrap) for the default sandbox" >&2
  fi
fi
python=${PYTHON:-}
if [ -z "$python" ]; then
  python=$(command -v python3.11 || command -v python3)
fi
if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv with $python" >&2
  "$python" -m venv .venv
fi
# --no-compile: byte-compiling all of torch takes longer than the install; the modules
# the harness imports are compiled below
pip=(.venv/bin/python -m pip install --quiet --disable-pip-version-check --no-compile)
quiet_pip() {  # drop the warnings about this machine's absent local package folders
  "${pip[@]}" "$@" 2> >(grep -v "is ignored: it is neither a file nor a directory" >&2)
}
packages=(torch==2.14.1 torchvision==0.29.1 -e ".[test]")
echo "setup: installing torch==2.14.1 torchvision==0.29.1 and the project (about half a minute the first time)" >&2
# uv unpacks torch's 3 GB of wheels in parallel: 31 s against pip's 81 s on 2 cores. It reads
# pip's package sources (index, extra indexes, find-links, constraints: `pip config list`,
# PIP_* variables included) and hard-links from its cache (~/.cache/uv) where it can, so the
# 5 GB are not held twice; where uv cannot be had or fails, pip installs the same pins.
uv_sources() {
  .venv/bin/python -m pip config list 2>/dev/null | sed -n "s/^[^.]*\.\([a-z-]*\)='\(.*\)'$/\1 \2/p" |
    while read -r key values; do
      for value in $values; do
        case $key in
          index-url) echo "--index-url=$value" ;;
          extra-index-url) echo "--extra-index-url=$value" ;;
          find-links) echo "--find-links=$value" ;;
          constraint) echo "--constraint=$value" ;;
        esac
      done
    done
}
installed_by_uv() {
  [ -z "${SETUP_NO_UV:-}" ] || return 1
  [ -x .venv/bin/uv ] || quiet_pip uv >/dev/null 2>&1 || return 1
  local sources
  mapfile -t sources < <(uv_sources)
  .venv/bin/uv pip install --quiet --python .venv/bin/python "${sources[@]}" "${packages[@]}"
}
if ! installed_by_uv; then
  [ -n "${SETUP_NO_UV:-}" ] || echo "setup: uv unavailable or failed; installing with pip" >&2
  quiet_pip "${packages[@]}"
fi
# byte-compile just what the harness imports (even where PYTHONDONTWRITEBYTECODE is set): a module
# without its .pyc is compiled again in every process that imports it (torchvision pulls in
# torch._dynamo: ~10 s each time). torchvision (face jobs), submitit (Slurm) and TensorBoard's
# writer are imported only where used, so they are named here.
env -u PYTHONDONTWRITEBYTECODE .venv/bin/python -c "
import importlib
for name in ('harness.commands.planning', 'harness.queue.worker', 'harness.oracle.guest.server', 'harness.methods.validate',
             'harness.report.html', 'harness.queue.slurm', 'tasks.face_age_gender', 'matplotlib.pyplot', 'pytest',
             'torchvision', 'torchvision.io', 'submitit', 'torch.utils.tensorboard'):
    try:
        importlib.import_module(name)
    except ImportError:
        pass  # an optional extra that is not installed
"
env -u PYTHONDONTWRITEBYTECODE .venv/bin/python -m compileall -q harness tasks baselines \
  "$(.venv/bin/python -c 'import os, submitit; print(os.path.dirname(submitit.__file__))')"
echo "setup: done" >&2
