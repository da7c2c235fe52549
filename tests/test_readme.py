import pathlib
import re
import warnings

import pytest

README = pathlib.Path(__file__).parents[1] / "README.md"


def test_readme_python_examples_run():
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
    assert len(blocks) >= 3
    namespace = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # small default fits may warn
        for block in blocks:
            exec(compile(block, str(README), "exec"), namespace)
    assert namespace["grid"].best_score_ > 0.9
    assert namespace["suspects"].mean() == pytest.approx(0.01, abs=0.002)
    assert namespace["rows"].shape == namespace["weights"].shape


def test_readme_commands_exist():
    text = README.read_text()
    for marker in ("main-command", "test-command"):
        assert f"<!-- {marker} -->" in text and f"<!-- /{marker} -->" in text
