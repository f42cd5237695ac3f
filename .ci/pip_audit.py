"""Audit requirements.lock for known vulnerabilities with pip-audit, honestly.

pip-audit asks a vulnerability service about each pinned package: PyPI's JSON API
(``/pypi/<name>/<version>/json``), else OSV. Where neither answers (a machine that
reaches only a package mirror), pip-audit skips every package with "Dependency not
found on PyPI and could not be audited" and still says "No known vulnerabilities found"
with exit status 0. That is not a pass, so this script reads pip-audit's JSON report:

- some package has a known vulnerability: print them, exit 1 (CI fails);
- packages were audited and none is vulnerable: pass (listing any it could not audit);
- nothing could be audited (every package skipped, or pip-audit could not run at all):
  say so loudly, exit 0. CI cannot fix the network; it must not pretend either.

Run from the repository root: ``.venv/bin/python .ci/pip_audit.py`` (``make audit``).
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LOCK = ROOT / "requirements.lock"
PIP_AUDIT = Path(sys.executable).parent / "pip-audit"
SERVICES = ("pypi", "osv")


def audit(service: str) -> tuple[dict | None, str]:
    """pip-audit's JSON report with ``service`` (None if it produced none) and its stderr."""
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "audit.json"
        result = subprocess.run(  # noqa: S603 (fixed arguments: our venv's pip-audit, no shell)
            [
                str(PIP_AUDIT),
                "--requirement",
                str(LOCK),
                "--no-deps",  # the lock pins every package already
                "--disable-pip",
                "--vulnerability-service",
                service,
                "--timeout",
                "20",
                "--progress-spinner",
                "off",
                "--format",
                "json",
                "--output",
                str(report),
            ],
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        try:
            return json.loads(report.read_text()), result.stderr
        except (OSError, ValueError):
            return None, result.stderr or result.stdout


def banner(lines: list[str]) -> None:
    rule = "!" * 78
    print(rule)
    for line in lines:
        print(f"!!  {line}")
    print(rule)


def main() -> int:
    tried = []
    for service in SERVICES:
        report, errors = audit(service)
        if report is None:
            last = (errors.strip().splitlines() or ["(no output)"])[-1]
            tried.append(f"{service}: pip-audit failed: {last[:200]}")
            continue
        dependencies = report.get("dependencies", [])
        skipped = [dep for dep in dependencies if "skip_reason" in dep]
        audited = [dep for dep in dependencies if "skip_reason" not in dep]
        vulnerable = [dep for dep in audited if dep.get("vulns")]
        if vulnerable:
            print(f"pip-audit ({service}): known vulnerabilities in requirements.lock:")
            for dep in vulnerable:
                for vuln in dep["vulns"]:
                    fixes = ", ".join(vuln.get("fix_versions") or []) or "no fixed version"
                    print(f"  {dep['name']} {dep['version']}: {vuln['id']} (fixed in {fixes})")
            return 1
        if audited:
            print(
                f"pip-audit ({service}): {len(audited)} packages audited, no known vulnerabilities."
            )
            if skipped:
                names = ", ".join(dep["name"] for dep in skipped)
                print(f"  Not audited ({len(skipped)}): {names}")
            return 0
        reason = skipped[0]["skip_reason"] if skipped else "no packages in the report"
        tried.append(f"{service}: none of {len(dependencies)} packages audited ({reason})")

    banner(
        [
            "pip-audit could NOT audit requirements.lock: no vulnerability service answered",
            "from this machine. This is NOT a clean audit; nothing was checked.",
            *tried,
            "Run `make audit` where pypi.org's JSON API or api.osv.dev is reachable.",
        ]
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
