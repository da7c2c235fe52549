"""Sphinx configuration of the sknlis documentation.

Build with ``make -C doc html`` (warnings are errors). The build needs no
network: intersphinx is not used, and the examples use bundled data only.
"""

import os
import re
import sys

# Document the package of this checkout, installed or not.
sys.path.insert(0, os.path.abspath(".."))

import sknlis  # noqa: E402

project = "sknlis"
author = "The sknlis developers"
copyright = "The sknlis developers, BSD-3-Clause"
release = sknlis.__version__
version = ".".join(release.split(".")[:2])

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
]

templates_path = ["_templates"]
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store"]
root_doc = "index"
default_role = "literal"

# -- API reference ----------------------------------------------------------
autosummary_generate = True
autodoc_default_options = {"members": True}
autodoc_typehints = "none"
# Methods are listed by the autosummary class template, not by numpydoc.
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False


def _skip_metadata_routing(app, what, name, obj, skip, options):
    """Leave out the metadata-routing methods scikit-learn adds to estimators.

    ``get_metadata_routing`` and ``set_{method}_request`` are scikit-learn's,
    documented there, and their docstrings refer to its glossary.
    """
    if name == "get_metadata_routing" or re.fullmatch(r"set_\w+_request", name):
        return True
    return None


def setup(app):
    app.connect("autodoc-skip-member", _skip_metadata_routing)


# -- Examples gallery -------------------------------------------------------
# The examples draw with matplotlib: never open a window while building.
os.environ.setdefault("MPLBACKEND", "Agg")

sphinx_gallery_conf = {
    "examples_dirs": "../examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",
    "image_scrapers": ("matplotlib",),
    "matplotlib_animations": False,
    "doc_module": ("sknlis",),
    "backreferences_dir": os.path.join("generated", "backreferences"),
    "remove_config_comments": True,
    "within_subsection_order": "FileNameSortKey",
    # An example that raises fails the build (sphinx-gallery's default).
    "only_warn_on_example_error": False,
}

# -- HTML ---------------------------------------------------------------------
html_theme = "pydata_sphinx_theme"
html_title = f"sknlis {release}"
html_theme_options = {
    "navbar_align": "left",
    "show_toc_level": 2,
    "navigation_with_keys": False,
    "footer_start": ["copyright"],
    "footer_end": ["sphinx-version", "theme-version"],
    "secondary_sidebar_items": ["page-toc", "sourcelink"],
}
# No left column on pages without subpages (it would be empty), nor on the
# examples, whose code needs the width.
html_sidebars = {
    page: []
    for page in (
        "index",
        "install",
        "user_guide",
        "larger_than_memory",
        "reproduction",
        "auto_examples/*",
    )
}
html_show_sourcelink = True
