"""The schemas ship inside the wheel: a plain (non-editable) install must find them."""

import subprocess
import sys
import zipfile

from tests.conftest import REPO


def test_wheel_contains_the_schemas_and_py_typed(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                    "-w", str(tmp_path), str(REPO)], check=True, capture_output=True)
    (wheel,) = tmp_path.glob("*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    for schema in ("manifest", "lineage-row", "config", "state"):
        assert f"lineage_as_code/schemas/{schema}.schema.json" in names
    assert "lineage_as_code/py.typed" in names
