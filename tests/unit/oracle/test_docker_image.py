"""The offline image's root file system, without an engine: every parent directory listed
(user nobody must be able to enter them), no path twice, the merged-/usr links, Python."""

from __future__ import annotations

import shutil
import tarfile
import zipfile
from pathlib import Path

import pytest

from harness.oracle.backends.docker_image import SITE, dependency_closure, package_files, write_rootfs

pytestmark = pytest.mark.skipif(shutil.which("dpkg-query") is None, reason="not a Debian host")


def test_the_closure_reaches_the_c_library() -> None:
    packages = dependency_closure(("libstdc++6",))
    assert {"libstdc++6", "libgcc-s1", "libc6"} <= set(packages)
    assert all(version for version in packages.values())


def test_the_tarball_lists_every_folder_once_and_nobody_can_enter_them(tmp_path: Path) -> None:
    wheel = tmp_path / "tiny-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        archive.writestr("tiny/__init__.py", "VALUE = 1\n")
        archive.writestr("tiny/deep/_native.so", b"\x7fELF")
    files = package_files(dependency_closure(("libgcc-s1",)))
    assert files and all(not f.startswith(("/lib/", "/bin/")) for f in files)  # under /usr, merged
    tar_path = tmp_path / "rootfs.tar"
    write_rootfs(tar_path, files, [wheel])
    members = tarfile.open(tar_path).getmembers()
    names = [m.name for m in members]
    assert len(names) == len(set(names))
    folders = {m.name: m for m in members if m.isdir()}
    for name in names:
        parent = name.rsplit("/", 1)[0] if "/" in name else None
        if parent is not None and parent not in ("lib", "bin", "sbin", "lib64"):
            assert parent in folders, f"{name} has no entry for {parent}"
    assert all(m.mode & 0o005 == 0o005 for m in folders.values())  # others may enter and list
    assert folders["tmp"].mode == 0o1777
    by_name = {m.name: m for m in members}
    assert by_name[f"{SITE}/tiny/__init__.py"].isreg() and by_name[f"{SITE}/tiny/deep/_native.so"].mode == 0o755
    assert by_name["usr/bin/python"].issym() and by_name["usr/bin/python"].linkname == "python3.11"
