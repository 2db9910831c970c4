"""``scripts/test-failures``: CI's last word on a failed run names each failed test and why."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[3] / "scripts" / "test-failures"

REPORT = """<?xml version="1.0" encoding="utf-8"?>
<testsuites><testsuite name="pytest" errors="1" failures="1" skipped="0" tests="3" time="12.5">
<testcase classname="tests.integration.test_x" name="test_ok" time="0.1"/>
<testcase classname="tests.integration.test_x" name="test_bad" time="2.0">
<failure message="AssertionError: exit 1">line one
{many}
assert 1 == 0</failure></testcase>
<testcase classname="tests.unit.test_y" name="test_setup" time="0.0">
<error message="failed on setup with &quot;OSError: refused&quot;">E   OSError: refused</error>
</testcase></testsuite></testsuites>
"""


def run(report: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(SCRIPT), str(report), *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


def test_names_each_failure_with_its_message_and_last_lines(tmp_path):
    report = tmp_path / "junit.xml"
    report.write_text(REPORT.format(many="\n".join(f"filler {i}" for i in range(100))))
    proc = run(report, "--lines", "5")
    assert proc.returncode == 1
    out = proc.stdout
    assert "=== FAILURE: tests.integration.test_x::test_bad" in out
    assert "AssertionError: exit 1" in out
    assert "assert 1 == 0" in out
    assert "filler 99" in out and "filler 10\n" not in out
    assert "earlier lines cut" in out
    assert "=== ERROR: tests.unit.test_y::test_setup" in out
    assert "OSError: refused" in out
    assert "test_ok" not in out
    assert "3 tests, 1 failed, 1 errors" in out


def test_a_clean_report_exits_zero(tmp_path):
    report = tmp_path / "junit.xml"
    report.write_text(
        '<testsuites><testsuite name="pytest" errors="0" failures="0" skipped="0" tests="1" time="1">'
        '<testcase classname="t" name="ok" time="0.1"/></testsuite></testsuites>'
    )
    proc = run(report)
    assert proc.returncode == 0
    assert "FAILURE" not in proc.stdout


def test_a_missing_report_says_so(tmp_path):
    proc = run(tmp_path / "nothing.xml")
    assert proc.returncode == 1
    assert "no test report" in proc.stdout
