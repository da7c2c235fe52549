"""The documentation builds without warnings, and lists every public name.

The build test runs the fast build (``make -C doc html-noplot``): the gallery
examples are rendered but not executed. ``make -C doc html`` runs them too.
"""

import importlib.util
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import sknlis
import sknlis.datasets

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "doc"
DOC_TOOLS = ("sphinx", "numpydoc", "sphinx_gallery", "pydata_sphinx_theme")
# Written into the source tree by a build; never part of the sources.
BUILD_OUTPUT = ("_build", "generated", "auto_examples", "sg_execution_times.rst")


def _api_names():
    text = (DOC / "api.rst").read_text()
    return set(re.findall(r"^   ([A-Za-z_][\w.]*)$", text, flags=re.MULTILINE))


def test_api_reference_lists_every_public_name():
    documented = _api_names()
    expected = set(sknlis.__all__) | {"pipeline.Pipeline", "pipeline.make_pipeline"}
    expected |= {f"datasets.{name}" for name in sknlis.datasets.__all__}
    assert expected - documented == set(), "add these to doc/api.rst"
    assert documented - expected == set(), "not public: remove from doc/api.rst"


@pytest.mark.skipif(
    any(importlib.util.find_spec(tool) is None for tool in DOC_TOOLS),
    reason="the documentation tools are not installed: pip install '.[doc]'",
)
def test_docs_build_without_warnings(tmp_path):
    # Build a copy, so that the generated pages of this run stay out of doc/.
    source = tmp_path / "doc"
    shutil.copytree(DOC, source, ignore=shutil.ignore_patterns(*BUILD_OUTPUT))
    shutil.copytree(ROOT / "examples", tmp_path / "examples")
    command = [
        sys.executable,
        "-m",
        "sphinx",
        "-W",
        "--keep-going",
        "-D",
        "plot_gallery=0",
        "-b",
        "html",
        str(source),
        str(tmp_path / "html"),
    ]
    # conf.py puts the copy's parent on sys.path; the package is imported from
    # this checkout instead.
    path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    env = {**os.environ, "PYTHONPATH": path}
    result = subprocess.run(
        command, cwd=source, env=env, capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]
    html = tmp_path / "html"
    for page in ["index", "install", "user_guide", "reproduction", "api"]:
        assert (html / f"{page}.html").is_file()
    assert (html / "auto_examples" / "plot_adjoint_identity.html").is_file()
    for name in sknlis.__all__:
        assert (html / "generated" / f"sknlis.{name}.html").is_file()
    assert (html / "generated" / "sknlis.pipeline.Pipeline.html").is_file()
