"""The harness as a user installs it: built as a wheel, installed (not editable) into a fresh
virtual environment, run from another folder; then an outside plugin package installed
next to it, and a broken plugin that must break nothing else.

No network: both wheels are built without build isolation from copies of the sources, and
the fresh environment reuses this environment's installed packages (torch, pydantic, ...)
through a `.pth` line naming their folder. A plain path line is not itself processed for
`.pth` files, so this checkout's editable-install hook stays out: the harness is imported
from the wheel (checked below).

Submissions run in the `process` sandbox: `bwrap` binds only the interpreter's own prefix,
and the packages borrowed through the `.pth` line (torch) live outside it. The tiny preset
keeps each run short; the plugin task trains in about a second per job.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sysconfig
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.helpers import PYTHON, REPO, records

pytestmark = pytest.mark.slow  # builds wheels and a fresh venv; quick: tests/unit/test_registry.py

PLUGIN_SOURCE = REPO / "examples" / "plugin-task"
PLUGIN_SUBMISSION = PLUGIN_SOURCE / "submission.py"
PLUGIN_TASK, PLUGIN_METHOD, PLUGIN_DIST = "three-heads", "inverse-loss", "mtl-bench-three-heads"
PLUGIN_LOSSES = ("pattern", "side", "brightness")
SANDBOX = ("--sandbox", "process")
PIP_OFFLINE = ("--no-deps", "--no-index", "--disable-pip-version-check", "--quiet")
UNCERTAINTY_NOTE = "note: baseline left out on three-heads: uncertainty handles at most 2 task losses, this task has 3"


@dataclass(frozen=True)
class Venv:
    root: Path
    site_packages: Path
    env: dict[str, str]
    plugin_wheel: Path  # installed by the `with_plugin` fixture

    @property
    def python(self) -> Path:
        return self.root / "bin" / "python"

    @property
    def mtl_bench(self) -> Path:
        return self.root / "bin" / "mtl-bench"

    def run(self, *args: str | Path, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess:
        """The venv's `mtl-bench` console script, run in `cwd`."""
        return subprocess.run(
            [str(self.mtl_bench), *map(str, args)],
            cwd=cwd,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def python_code(self, code: str, cwd: Path) -> str:
        done = subprocess.run(
            [str(self.python), "-c", code], cwd=cwd, env=self.env, capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    def pip_install(self, wheel: Path) -> None:
        """Install with this environment's pip acting on the venv (`pip --python`): the venv
        needs no pip of its own, and only its own packages are seen while installing."""
        done = subprocess.run(
            [PYTHON, "-m", "pip", "--python", str(self.python), "install", *PIP_OFFLINE, str(wheel)],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, done.stderr


def _copy_sources(source: Path, target: Path, names: list[str]) -> Path:
    """The files a wheel is built from, copied so that the build's `build/` and
    `*.egg-info` folders land in the copy, not in the checkout."""
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "build", "*.egg-info")
    target.mkdir(parents=True)
    for name in names:
        path = source / name
        if path.is_dir():
            shutil.copytree(path, target / name, ignore=ignore)
        elif path.is_file():
            shutil.copy2(path, target / name)
    return target


def _build_wheel(source: Path, out: Path) -> Path:
    done = subprocess.run(
        [PYTHON, "-m", "pip", "wheel", *PIP_OFFLINE, "--no-build-isolation", "-w", str(out), str(source)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    built = list(out.glob("*.whl"))
    assert len(built) == 1, built
    return built[0]


def _clean_env() -> dict[str, str]:
    """This environment without what would point the fresh venv back at the checkout."""
    dropped = ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "VIRTUAL_ENV", "MTL_DATA_ROOT")
    env = {key: value for key, value in os.environ.items() if key not in dropped}
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory) -> Venv:
    """A fresh venv with the harness's wheel installed and torch etc. borrowed from here."""
    base = tmp_path_factory.mktemp("packaging")
    wheels = base / "wheels"
    project = _copy_sources(
        REPO, base / "src" / "mtl-loss-bench", ["pyproject.toml", "README.md", "harness", "tasks", "baselines"]
    )
    harness_wheel = _build_wheel(project, wheels / "harness")
    names = [
        p.name for p in PLUGIN_SOURCE.iterdir() if p.name not in ("build", "__pycache__") and p.suffix != ".egg-info"
    ]
    plugin_wheel = _build_wheel(_copy_sources(PLUGIN_SOURCE, base / "src" / "plugin", names), wheels / "plugin")

    root = base / "venv"
    subprocess.run([PYTHON, "-m", "venv", "--without-pip", str(root)], check=True, timeout=120)
    env = _clean_env()
    site = Path(
        subprocess.run(
            [str(root / "bin" / "python"), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
            env=env,
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        ).stdout.strip()
    )
    made = Venv(root, site, env, plugin_wheel)
    made.pip_install(harness_wheel)
    borrowed = dict.fromkeys(sysconfig.get_path(kind) for kind in ("purelib", "platlib"))
    (site / "zz_borrowed_packages.pth").write_text("".join(f"{path}\n" for path in borrowed))
    return made


@pytest.fixture(scope="module")
def with_plugin(venv: Venv) -> Venv:
    venv.pip_install(venv.plugin_wheel)
    return venv


def _rows(listing: str) -> dict[str, list[str]]:
    """`plugins` output: name -> the cells of its table row."""
    rows = {}
    for line in listing.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if line.startswith("|") and len(cells) == 4 and not set(cells[0]) <= {":", "-"}:
            rows[cells[0]] = cells
    return rows


def test_the_installed_copy_is_the_wheel_not_the_checkout(venv: Venv, tmp_path: Path) -> None:
    out = venv.python_code(
        "import importlib.metadata, importlib.util, json, harness\n"
        "dist = importlib.metadata.distribution('mtl-loss-bench')\n"
        "files = [harness.__file__, *(importlib.util.find_spec(name).origin for name in ('tasks', 'baselines'))]\n"
        "print(json.dumps({'files': files, 'dist': str(dist._path), 'origin': dist.read_text('direct_url.json')}))",
        cwd=tmp_path,
    )
    found = json.loads(out)
    for path in found["files"]:
        assert Path(path).is_relative_to(venv.site_packages), path
    assert Path(found["dist"]).is_relative_to(venv.site_packages)
    origin = json.loads(found["origin"])  # an editable install says {"dir_info": {"editable": true}, ...}
    assert "dir_info" not in origin and origin["url"].endswith(".whl"), origin


def test_help_and_the_console_script_work(venv: Venv, tmp_path: Path) -> None:
    module = subprocess.run(
        [str(venv.python), "-m", "harness", "--help"],
        cwd=tmp_path,
        env=venv.env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert module.returncode == 0, module.stderr
    assert "usage: mtl-bench" in module.stdout and "submit" in module.stdout
    script = venv.run("--help", cwd=tmp_path)
    assert script.returncode == 0, script.stderr
    assert script.stdout == module.stdout


def test_submit_from_another_folder(venv: Venv, tmp_path: Path) -> None:
    """Workers start as `python -m harness worker` with the venv's interpreter; nothing is
    written to the working folder."""
    cwd, results, data = tmp_path / "elsewhere", tmp_path / "results", tmp_path / "data"
    cwd.mkdir()
    done = venv.run(
        "submit",
        REPO / "submissions" / "example_loss.py",
        "--no-baselines",
        "--preset",
        "tiny",
        "--tasks",
        "cifar100-mtl",
        "--results",
        results,
        "--data-root",
        data,
        *SANDBOX,
        cwd=cwd,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    saved = records(results)
    assert [(r["method"]["name"], r["status"]) for r in saved] == [("example_loss", "ok")]
    assert len(saved[0]["epochs"]) == 2
    assert saved[0]["environment"]["git_commit"] == "unknown"  # an installed copy has no checkout
    assert "| example_loss | submission |" in done.stdout
    assert (results / "leaderboard-tiny.md").is_file()
    assert list(cwd.iterdir()) == []


def test_plugins_lists_the_built_ins_and_the_plugin_with_their_distributions(with_plugin: Venv, tmp_path: Path) -> None:
    done = with_plugin.run("plugins", cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "BROKEN" not in done.stdout
    rows = _rows(done.stdout)
    for name in ("cifar100-mtl", "face-age-gender", "equal", "uncertainty", "dwa", "pcgrad", "bwrap", "process"):
        assert rows[name][1] == "mtl-loss-bench", rows.get(name)  # not "mtl-loss-bench (checkout)"
    assert rows[PLUGIN_TASK][1:3] == [PLUGIN_DIST, "mtl_bench_three_heads.task:ThreeHeads"]
    assert "losses pattern, side, brightness" in rows[PLUGIN_TASK][3]
    assert rows[PLUGIN_METHOD][1:3] == [PLUGIN_DIST, "mtl_bench_three_heads.method:METHOD"]


def test_submit_runs_the_plugin_task_with_the_seed_baselines(with_plugin: Venv, tmp_path: Path) -> None:
    results = tmp_path / "results"
    done = with_plugin.run(
        "submit",
        PLUGIN_SUBMISSION,
        "--tasks",
        PLUGIN_TASK,
        "--preset",
        "tiny",
        "--results",
        results,
        "--data-root",
        tmp_path / "data",
        *SANDBOX,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert UNCERTAINTY_NOTE in done.stdout
    saved = {r["method"]["name"]: r for r in records(results)}
    assert set(saved) == {"equal", "dwa", "pcgrad", "submission"}
    for name, record in saved.items():
        assert record["status"] == "ok", (name, record["error"])
        assert record["job"]["task"] == PLUGIN_TASK and len(record["epochs"]) == 2
        for epoch in record["epochs"]:
            assert tuple(epoch["task_weights"]) == PLUGIN_LOSSES
            assert {"pattern_acc", "side_acc", "brightness_mae"} <= set(epoch["test_metrics"])
    # the submission anneals the two auxiliary weights from 1 to 0.5 over the two epochs
    assert saved["submission"]["epochs"][1]["task_weights"] == pytest.approx(
        {"pattern": 1.0, "side": 0.5, "brightness": 0.5}
    )
    assert "| submission | submission |" in done.stdout


def test_baselines_runs_the_plugin_method_with_the_task_option(with_plugin: Venv, tmp_path: Path) -> None:
    results = tmp_path / "results"
    done = with_plugin.run(
        "baselines",
        "--only",
        PLUGIN_METHOD,
        "equal",
        "--tasks",
        PLUGIN_TASK,
        "--preset",
        "tiny",
        "--three-heads-noisy",
        "--results",
        results,
        "--data-root",
        tmp_path / "data",
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    saved = {r["method"]["name"]: r for r in records(results)}
    assert set(saved) == {PLUGIN_METHOD, "equal"}
    for record in saved.values():
        assert record["status"] == "ok", record["error"]
        assert record["job"]["config"]["options"] == {"noise": 0.9}  # the plugin's own option
    method = saved[PLUGIN_METHOD]
    assert method["method"]["kind"] == "loss_combiner"  # a trusted loss-level combiner
    assert method["method"]["source_path"] == "mtl_bench_three_heads/method.py"
    for epoch in method["epochs"]:
        weights = epoch["task_weights"]
        assert tuple(weights) == PLUGIN_LOSSES and sum(weights.values()) == pytest.approx(3.0)


def test_a_method_for_at_most_two_tasks_is_refused_on_three(with_plugin: Venv, tmp_path: Path) -> None:
    done = with_plugin.run(
        "baselines",
        "--only",
        "uncertainty",
        "--tasks",
        PLUGIN_TASK,
        "--preset",
        "tiny",
        "--results",
        tmp_path / "results",
        "--data-root",
        tmp_path / "data",
        cwd=tmp_path,
    )
    assert done.returncode == 2, done.stdout + done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "at most 2" in lines[0], done.stderr
    assert not (tmp_path / "results" / "runs").exists()


BROKEN_DIST = "broken-example-plugins"
BROKEN_MODULE = "mtl_bench_broken_example"


@pytest.fixture
def broken_plugins(with_plugin: Venv) -> Iterator[Venv]:
    """A distribution registering a task whose module does not exist and a method that
    is not a MethodInfo; removed again afterwards."""
    dist_info = with_plugin.site_packages / "broken_example_plugins-0.1.dist-info"
    module = with_plugin.site_packages / f"{BROKEN_MODULE}.py"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {BROKEN_DIST}\nVersion: 0.1\n")
    (dist_info / "entry_points.txt").write_text(
        "[mtl_bench.tasks]\nbroken-task = no_such_module:Thing\n\n"
        f"[mtl_bench.methods]\nwrong-type = {BROKEN_MODULE}:METHOD\n"
    )
    module.write_text('METHOD = {"name": "wrong-type"}  # a dict, not a harness.api.MethodInfo\n')
    try:
        yield with_plugin
    finally:
        shutil.rmtree(dist_info)
        module.unlink()


def test_a_broken_plugin_breaks_only_itself(broken_plugins: Venv, tmp_path: Path) -> None:
    listing = broken_plugins.run("plugins", cwd=tmp_path)
    assert listing.returncode == 1, listing.stdout + listing.stderr
    rows = _rows(listing.stdout)
    task, method = rows["broken-task"], rows["wrong-type"]
    assert task[1] == BROKEN_DIST and task[3].startswith("BROKEN: ")
    assert "No module named 'no_such_module'" in task[3]
    assert method[1] == BROKEN_DIST and method[3].startswith("BROKEN: ")
    assert "is not a harness.api.MethodInfo" in method[3]
    for name in (PLUGIN_TASK, PLUGIN_METHOD, "cifar100-mtl", "equal"):
        assert not rows[name][3].startswith("BROKEN"), rows[name]

    checked = broken_plugins.run(
        "validate", PLUGIN_SUBMISSION, "--task", PLUGIN_TASK, "--epochs", "2", "--steps", "3", *SANDBOX, cwd=tmp_path
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "w brightness" in checked.stdout and "no problems found" in checked.stdout

    done = broken_plugins.run(
        "submit", PLUGIN_SUBMISSION, "--tasks", "broken-task", "--preset", "tiny", "--results", tmp_path, cwd=tmp_path
    )
    assert done.returncode == 2, done.stdout + done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), done.stderr
    assert "plugin 'broken-task'" in lines[0] and f"from {BROKEN_DIST}" in lines[0], lines[0]
