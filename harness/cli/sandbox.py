"""`sandbox build-image`: the docker backend's oracle image, built offline."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(commands: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = commands.add_parser(
        "sandbox",
        help="set up a sandbox backend (build-image: the docker backend's oracle image)",
        description="build-image: the docker backend's image, made offline from this host's Debian Python and "
        "a CPU torch wheel (no registry is asked); skipped when an image of the same contents exists. The "
        "engine is the one the docker SDK finds ($DOCKER_HOST, else the default socket).",
    )
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    build = actions.add_parser("build-image", help="build the docker backend's oracle image offline")
    build.add_argument(
        "--torch-wheel",
        type=Path,
        help="a CPU torch wheel for this Python (default: one in pip's find-links folders, else PyTorch's CPU index)",
    )
    build.add_argument("--image", help="image name (default: $MTL_ORACLE_IMAGE or mtl-bench-oracle:latest)")
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> int:
    import sys

    from harness.api.errors import HarnessError
    from harness.oracle.backends.docker import image_name
    from harness.oracle.backends.docker_image import build_image
    from harness.version import HARNESS_VERSION

    try:
        import docker
    except ImportError:
        raise HarnessError("the docker Python package is not installed (pip install docker)") from None
    try:
        client = docker.from_env(timeout=600)
        client.ping()
    except Exception as exc:
        raise HarnessError(
            f"no Docker engine answers ({type(exc).__name__}): start dockerd (scripts/docker-engine.sh start DIR "
            "starts a private one) and set DOCKER_HOST"
        ) from None
    image = args.image or image_name()
    key = build_image(client, image, HARNESS_VERSION, args.torch_wheel, log=lambda line: print(line, file=sys.stderr))
    print(f"{image} ready (key {key}); use it with --sandbox docker")
    return 0
