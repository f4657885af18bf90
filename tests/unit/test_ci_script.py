"""`.ci/run` runs every step and reports them all before it fails: a failing step must not
hide the ones after it (an end-to-end failure once hid the whole fault suite)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

SCRIPT = Path(__file__).resolve().parents[2] / ".ci" / "run"


def test_the_script_parses() -> None:
    bash = shutil.which("bash")
    assert bash is not None
    done = subprocess.run([bash, "-n", str(SCRIPT)], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr


def test_every_step_and_check_is_run_through_check_and_summed_up() -> None:
    text = SCRIPT.read_text()
    body = text[text.index("check() {") :]
    for name in ("unit", "e2e"):
        assert re.search(rf"^\s*check {name} ", body, re.M), name
    # The steps run beside e2e are each collected into the summary, and fail the run too.
    for name in ("fault", "core"):
        assert re.search(rf"\bbeside {name} ", body), name
        assert re.search(rf"^\s*(\[.*\] \|\| )?collect {name} ", body, re.M), name
    core = body[body.index("core_checks() {") :]
    assert "core_unit " in core[: core.index("}")] and "core_demo " in core[: core.index("}")]
    # No bare command after the checks start: under `set -e` it would end the run there.
    bare = re.findall(r'^"\$(?:VENV|CORE)/bin/\S+.*$|^step \S+.*$', body, re.M)
    assert bare == []
    assert "printf '   %s\\n' \"${OUTCOMES[@]}\"" in body
    assert body.rstrip().endswith('echo "== every step passed" >&2')
