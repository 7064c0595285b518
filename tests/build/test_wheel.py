"""The Motia wheel `motia build` packs for the image installs with pip and runs the
project by itself: no file of this checkout is needed once it is installed."""

from __future__ import annotations

import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

from _projects import build, example


def test_the_packed_wheel_installs_and_compiles_the_project(tmp_path: Path) -> None:
    # Given the wheel of a build, packed twice (byte for byte the same: no spurious change)
    root = example(tmp_path / "shop")
    deploy = build(root)
    (wheel,) = deploy.glob("motia-*-py3-none-any.whl")
    first = wheel.read_bytes()
    build(root, "--force")
    assert wheel.read_bytes() == first
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {"motia/cli.py", "motia/compiler/ir.py", "motia/runner/workers/node_worker.js",
            "motia/schema/motia.schema.json", "motia/build/templates/k8s/role.yaml.j2",
            "motia/runner/workbench/static/index.html"} <= names
    # When pip installs it into a folder of its own
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps",
                    "--no-index", "--target", str(target), str(wheel)],
                   check=True, capture_output=True, timeout=300)
    # Then `motia compile` runs from that install alone (-S: not this checkout's editable
    # install, nor the cwd; the dependencies come from this venv's site-packages, after it)
    env = {"PYTHONPATH": f"{target}:{sysconfig.get_paths()['purelib']}", "PATH": "/usr/bin:/bin"}
    found = subprocess.run(
        [sys.executable, "-S", "-c", "import motia.cli, sys; print(motia.cli.__file__); "
         "sys.argv = ['motia', 'compile', sys.argv[1]]; sys.exit(motia.cli.main())",
         str(root)], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
    assert found.returncode == 0, found.stdout + found.stderr
    assert found.stdout.splitlines()[0] == str(target / "motia" / "cli.py")
    assert (target / "motia-" f"{wheel.name.split('-')[1]}.dist-info" / "entry_points.txt"
            ).read_text() == "[console_scripts]\nmotia = motia.cli:main\n"
