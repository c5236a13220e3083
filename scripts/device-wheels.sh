#!/usr/bin/env bash
# Wheels for a lent GPU (benchmarks/device_check.py): the Python packages the harness needs
# that the device image lacks, for its Python, at the versions this .venv holds. The image
# (/work/.library/device/KINDS.md) has torch, torchvision, numpy, scipy, pandas, jinja2,
# filelock, tabulate, matplotlib, cloudpickle, requests and setuptools; it reaches no package
# index, so these travel in the device call's `carry` (64 MiB in all, the working tree
# included). Prints the folder's total size and fails above 64 MiB.
#
#   bash scripts/device-wheels.sh [FOLDER=.whl] [PYTHON_VERSION=3.12]
#   echo /.whl/ >> .git/info/exclude     # once: the folder travels by `carry`, not as a file of the tree
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-.whl}
pyver=${2:-3.12}
packages=(pydantic pydantic_core annotated_types typing_inspection typing_extensions docker submitit)
mkdir -p "$out"
for name in "${packages[@]}"; do
    version=$(.venv/bin/python -c 'import importlib.metadata as m, sys; print(m.version(sys.argv[1]))' "$name")
    .venv/bin/python -m pip download --quiet --disable-pip-version-check --no-deps --only-binary=:all: \
        --python-version "$pyver" --implementation cp --platform manylinux_2_28_x86_64 \
        --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 --platform any \
        -d "$out" "$name==$version" 2> >(grep -v "is ignored: it is neither a file nor a directory" >&2)
done
total=$(cat "$out"/*.whl | wc -c)
echo "$out: $(ls "$out"/*.whl | wc -l) wheels, $((total / 1024)) KiB (torch and the image's packages excluded)"
if [ "$total" -ge $((64 * 1024 * 1024)) ]; then
    echo "over the 64 MiB a device call carries" >&2
    exit 1
fi
