"""The docker backend's oracle image, built offline: no registry is needed or asked.

The root file system is this host's own Debian Python (`python3.11-minimal` and
`libpython3.11-stdlib` with their dependency closure, read with dpkg) plus a CPU torch
wheel and the wheels `import torch` needs, unpacked into Python's site folder. The tarball
lists every directory explicitly (mode 755): without the entries, the storage driver
creates parents only root may enter, and user 65534 cannot start Python. `docker import`
makes it an image (no build step, so no container runs while building), labelled with a
key over its contents and the harness version, so the backend can tell a stale image.

An online alternative stays in `Dockerfile` (python:3.11-slim + pip).
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.api.errors import HarnessError

ROOT_PACKAGES = ("python3.11-minimal", "libpython3.11-stdlib", "libstdc++6", "libgcc-s1")
# what `import torch` and the guest need beside torch (torch's own requirements; numpy quiets
# its start-up warning)
WHEELS = ("typing-extensions", "filelock", "sympy", "mpmath", "networkx", "jinja2", "markupsafe", "fsspec", "numpy")
SITE = "usr/local/lib/python3.11/dist-packages"
SKIPPED_PREFIXES = ("/usr/share/doc", "/usr/share/man", "/usr/share/locale", "/usr/share/lintian")
LABEL_KEY = "mtl-bench.image-key"
LABEL_HARNESS = "mtl-bench.harness"
BUILDER_VERSION = 2  # 2: file modes normalised (never setuid or writable by others)
TORCH_CPU_INDEX = "https://download.pytorch.org/whl/cpu"


@dataclass(frozen=True)
class ImagePlan:
    """What goes into the image; its key names the contents, so an unchanged plan is
    never built twice (the other wheels are pinned by the index pip is configured with)."""

    packages: dict[str, str]  # Debian package -> version
    torch_wheel: Path
    harness: str

    @property
    def key(self) -> str:
        content = {
            "builder": BUILDER_VERSION,
            "packages": self.packages,
            "torch": self.torch_wheel.name,
            "wheels": WHEELS,
            "harness": self.harness,
        }
        return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()[:16]


def _dpkg(*args: str) -> str:
    try:
        return subprocess.run(["dpkg-query", *args], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError) as exc:
        raise HarnessError(f"cannot read the Debian packages of this host (dpkg-query {args[-1]}): {exc}") from None


def dependency_closure(roots: tuple[str, ...] = ROOT_PACKAGES) -> dict[str, str]:
    """The installed packages `roots` need, with their versions (alternatives: the first
    installed one)."""
    status = {}
    for line in _dpkg("-W", "-f=${Package} ${Version} ${db:Status-Status}\n").splitlines():
        name, version, state = (line.split(" ") + ["", ""])[:3]
        if state == "installed":
            status[name] = version
    missing = [r for r in roots if r not in status]
    if missing:
        raise HarnessError(f"this host lacks {', '.join(missing)} (apt-get install {' '.join(missing)})")
    seen: dict[str, str] = {}
    todo = list(roots)
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen[name] = status[name]
        fields = _dpkg("-W", "-f=${Pre-Depends}, ${Depends}", name)
        for clause in fields.split(","):
            options = [o.strip().split(" ")[0].split(":")[0] for o in clause.split("|") if o.strip()]
            installed = [o for o in options if o in status]
            if installed and installed[0] not in seen:
                todo.append(installed[0])
    return dict(sorted(seen.items()))


MERGED_USR = ("bin", "sbin", "lib", "lib64")  # links into /usr on a merged-/usr Debian


def package_files(packages: dict[str, str]) -> list[str]:
    """Every regular file and link the packages installed, less documentation, each once
    under its real folder (`/lib/x/libc.so.6` is `/usr/lib/x/libc.so.6` with merged /usr)."""
    files: set[str] = set()
    for name in packages:
        for path in _dpkg("-L", name).splitlines():
            if not path.startswith("/") or path.startswith(SKIPPED_PREFIXES) or path.strip("/") in MERGED_USR:
                continue  # the merged-/usr links themselves are written once, by write_rootfs
            if os.path.islink(path) or os.path.isfile(path):
                folder, leaf = os.path.split(path)
                files.add(os.path.join(os.path.realpath(folder), leaf))
    return sorted(files)


def find_torch_wheel(explicit: Path | None = None) -> Path:
    """A CPU torch wheel for this Python: the one named, else one in pip's find-links folders
    (`pip config`), else downloaded from PyTorch's CPU index (the real path, online)."""
    if explicit is not None:
        if not explicit.is_file():
            raise HarnessError(f"torch wheel not found: {explicit}")
        return explicit
    tag = f"cp{sys.version_info.major}{sys.version_info.minor}"
    for folder in _find_links():
        for wheel in sorted(folder.glob(f"torch-*+cpu-{tag}-{tag}-*x86_64.whl"), reverse=True):
            return wheel
    target = Path(tempfile.mkdtemp(prefix="torch-cpu-"))
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:", "-d", str(target)]
    result = subprocess.run([*command, "--index-url", TORCH_CPU_INDEX, "torch"], capture_output=True, text=True)
    wheels = sorted(target.glob("torch-*.whl"))
    if result.returncode != 0 or not wheels:
        raise HarnessError(
            f"no CPU torch wheel for {tag} found locally and none could be downloaded from {TORCH_CPU_INDEX}; "
            "pass --torch-wheel FILE"
        )
    return wheels[0]


def _find_links() -> list[Path]:
    folders = [Path(p) for p in os.environ.get("PIP_FIND_LINKS", "").split() if p]
    try:
        listing = subprocess.run(
            [sys.executable, "-m", "pip", "config", "list"], capture_output=True, text=True, timeout=30
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        listing = ""
    for line in listing.splitlines():
        key, _, value = line.partition("=")
        if key.endswith("find-links"):
            folders += [Path(p) for p in value.strip("'\"").split() if p]
    return [f for f in folders if f.is_dir()]


def fetch_wheels(folder: Path) -> list[Path]:
    """The wheels `import torch` needs, from pip's configured index (offline where it is local)."""
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:", "-q", "-d", str(folder)]
    result = subprocess.run([*command, *WHEELS], capture_output=True, text=True)
    if result.returncode != 0:
        last = (result.stderr.strip().splitlines() or ["pip failed"])[-1]
        raise HarnessError(f"cannot fetch the image's Python wheels ({', '.join(WHEELS)}): {last}")
    return sorted(folder.glob("*.whl"))


def _directories(path: str) -> Iterator[str]:
    parts = path.strip("/").split("/")[:-1]
    for end in range(1, len(parts) + 1):
        yield "/".join(parts[:end])


def write_rootfs(tar_path: Path, files: list[str], wheels: list[Path]) -> int:
    """The image's root file system as a tarball; returns its size in bytes."""
    directories: set[str] = {"tmp", "usr/bin", *_directories(f"/{SITE}/x")}
    with tarfile.open(tar_path, "w") as tar:

        def add_directory(name: str) -> None:
            info = tarfile.TarInfo(name)
            info.type, info.mode = tarfile.DIRTYPE, 0o1777 if name == "tmp" else 0o755
            tar.addfile(info)

        for path in files:
            directories.update(_directories(path))
        directories -= {top for top in MERGED_USR if os.path.islink(f"/{top}")}
        for wheel in wheels:
            with zipfile.ZipFile(wheel) as archive:
                for member in archive.infolist():
                    if not member.is_dir():
                        directories.update(_directories(f"/{SITE}/{member.filename}"))
        for name in sorted(directories):
            add_directory(name)
        for path in files:
            info = tar.gettarinfo(path, arcname=path.lstrip("/"))
            info.uid = info.gid = 0
            info.uname = info.gname = "root"
            if info.isreg():  # root's file, readable by all; never setuid, setgid or writable by others
                info.mode = 0o755 if info.mode & 0o111 else 0o644
                with open(path, "rb") as handle:
                    tar.addfile(info, handle)
            else:
                tar.addfile(info)
        for wheel in wheels:
            with zipfile.ZipFile(wheel) as archive:
                for member in archive.infolist():
                    if member.is_dir():
                        continue
                    info = tarfile.TarInfo(f"{SITE}/{member.filename}")
                    info.size, info.mode = member.file_size, 0o755 if member.filename.endswith(".so") else 0o644
                    with archive.open(member) as stream:
                        tar.addfile(info, stream)
        links = {"usr/bin/python": "python3.11"} if "/usr/bin/python" not in files else {}
        links.update({top: f"usr/{top}" for top in MERGED_USR if os.path.islink(f"/{top}")})
        for name, target in links.items():
            link = tarfile.TarInfo(name)
            link.type, link.linkname = tarfile.SYMTYPE, target
            tar.addfile(link)
    return tar_path.stat().st_size


def build_image(
    client: Any, image: str, harness: str, torch_wheel: Path | None = None, log: Callable[[str], None] = print
) -> str:
    """Build `image` offline unless an image of the same key exists; returns the key."""
    plan = ImagePlan(dependency_closure(), find_torch_wheel(torch_wheel), harness)
    previous = None
    try:
        existing = client.images.get(image)
        if (existing.labels or {}).get(LABEL_KEY) == plan.key:
            log(f"{image} is up to date (key {plan.key})")
            return plan.key
        previous = existing.id if LABEL_KEY in (existing.labels or {}) else None  # ours: replaced below
    except Exception:  # docker.errors.ImageNotFound: not built yet
        pass
    with tempfile.TemporaryDirectory(prefix="oracle-image-") as folder:
        wheels = [plan.torch_wheel, *fetch_wheels(Path(folder) / "wheels")]
        packages = plan.packages
        files = package_files(packages)
        log(f"writing the root file system: {len(packages)} Debian packages, {len(files)} files, {len(wheels)} wheels")
        tar_path = Path(folder) / "rootfs.tar"
        size = write_rootfs(tar_path, files, wheels)
        log(f"importing {size / 2**20:.0f} MiB as {image}")
        repository, _, tag = image.rpartition(":") if ":" in image.split("/")[-1] else (image, "", "latest")
        changes = [
            "USER 65534:65534",
            "WORKDIR /tmp",
            'ENV PATH="/usr/local/bin:/usr/bin:/bin"',
            f'LABEL {LABEL_KEY}="{plan.key}" {LABEL_HARNESS}="{harness}"',
        ]
        client.api.import_image_from_file(str(tar_path), repository=repository, tag=tag, changes=changes)
    if previous is not None:
        try:
            client.images.remove(previous)
        except Exception:  # still used by a container: the engine keeps it
            pass
    return plan.key


def image_labels(client: Any, image: str) -> dict[str, str]:
    return dict(client.images.get(image).labels or {})
