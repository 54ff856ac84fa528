"""Re-vendor the JavaScript libraries that `shufflecalc report` inlines into its page.

    python tools/vendor_js.py            # fetch the pinned versions below with `npm pack`, copy the files, record them
    python tools/vendor_js.py --check    # verify the vendored files against the record (no network): what a test does

The report page is one self-contained HTML file: it inlines these minified files, published as they are on the npm
registry, with their licenses beside them in shufflecalc/report/assets/vendor/. `VENDORED.json` there records, for
each package, its version, the registry's integrity hash of the tarball and the sha256 of every file copied from it.
To upgrade a library: change its version in PACKAGES, run this script (it needs `npm`), regenerate the screenshots
(`python docs/figures.py`) and run tests/report/test_page.py. Why these libraries: docs/report.md.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

VENDOR = Path(__file__).resolve().parent.parent / "shufflecalc" / "report" / "assets" / "vendor"
RECORD = VENDOR / "VENDORED.json"

# npm package, version, {file in the package's tarball: file name in vendor/}
PACKAGES: list[tuple[str, str, dict[str, str]]] = [
    ("echarts", "6.1.0", {
        "dist/echarts.min.js": "echarts.min.js",
        "LICENSE": "echarts.LICENSE",
        "NOTICE": "echarts.NOTICE",
        "licenses/LICENSE-d3": "echarts.LICENSE-d3",
    }),
    ("cytoscape", "3.35.0", {
        "dist/cytoscape.min.js": "cytoscape.min.js",
        "LICENSE": "cytoscape.LICENSE",
    }),
    ("cytoscape-dagre", "4.0.1", {
        "dist/cytoscape-dagre.min.js": "cytoscape-dagre.min.js",
        "LICENSE": "cytoscape-dagre.LICENSE",
    }),
    # cytoscape-dagre's minified file bundles @dagrejs/dagre 3.0.0 (and its graphlib): only their licenses come from it
    ("@dagrejs/dagre", "3.0.0", {
        "LICENSE": "dagre.LICENSE",
        "dist/dagre.min.js.LEGAL.txt": "dagre.LEGAL.txt",
    }),
]


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def vendor() -> None:
    record: dict[str, dict[str, object]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, version, files in PACKAGES:
            packed = subprocess.run(["npm", "pack", "--json", f"{name}@{version}"], cwd=tmp, check=True,
                                    capture_output=True, text=True)
            (info,) = json.loads(packed.stdout)
            copied: dict[str, str] = {}
            with tarfile.open(Path(tmp) / info["filename"]) as tar:
                for inside, target in files.items():
                    member = tar.extractfile(f"package/{inside}")
                    if member is None:
                        sys.exit(f"{name}@{version}: no file {inside}")
                    data = member.read()
                    if target.endswith(".js") and b"</script" in data.lower():
                        sys.exit(f"{name}@{version}: {inside} contains '</script' and cannot be inlined as it is")
                    (VENDOR / target).write_bytes(data)
                    copied[target] = sha256(data)
            record[name] = {"version": version, "integrity": info["integrity"], "files": copied}
            print(f"{name}@{version}: {', '.join(copied)}")
    RECORD.write_text(json.dumps(record, indent=2) + "\n")
    print(f"recorded in {RECORD}")


def check() -> list[str]:
    """Problems with the vendored files: a file missing, changed since vendoring, or not recorded."""
    record = json.loads(RECORD.read_text())
    problems = []
    wanted = {name: version for name, version, _ in PACKAGES}
    if {n: r["version"] for n, r in record.items()} != wanted:
        problems.append(f"VENDORED.json records other versions than PACKAGES: run {Path(__file__).name}")
    recorded = {"VENDORED.json"}
    for name, entry in record.items():
        for target, digest in entry["files"].items():
            recorded.add(target)
            path = VENDOR / target
            if not path.is_file():
                problems.append(f"{target} ({name}) is missing")
            elif sha256(path.read_bytes()) != digest:
                problems.append(f"{target} ({name}) differs from the published file")
    stray = sorted(p.name for p in VENDOR.iterdir() if p.name not in recorded)
    problems += [f"{n}: not vendored by this script" for n in stray]
    return problems


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--check", action="store_true", help="verify the vendored files against VENDORED.json")
    args = parser.parse_args()
    if args.check:
        problems = check()
        print("\n".join(problems) or "vendored files: ok")
        sys.exit(1 if problems else 0)
    VENDOR.mkdir(parents=True, exist_ok=True)
    vendor()


if __name__ == "__main__":
    main()
