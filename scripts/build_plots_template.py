"""Build plots/offline_template.html: DVC's plot page with vega, vega-lite and vega-embed inlined (no CDN).

    python scripts/build_plots_template.py        # needs npm and the npm registry, once; the result is committed
    dvc plots show --html-template plots/offline_template.html

DVC's default page loads these libraries from a CDN, so it renders blank offline.
"""

import subprocess
import tarfile
import tempfile
from pathlib import Path

PACKAGES = {"vega@5.33.1": "build/vega.min.js", "vega-lite@5.23.0": "build/vega-lite.min.js",
            "vega-embed@6.29.0": "build/vega-embed.min.js"}
OUT = Path(__file__).resolve().parents[1] / "plots" / "offline_template.html"


def main() -> None:
    scripts = []
    with tempfile.TemporaryDirectory() as tmp:
        for spec, member in PACKAGES.items():
            name = subprocess.run(["npm", "pack", spec, "--silent"], cwd=tmp, check=True, capture_output=True,
                                  text=True).stdout.strip().splitlines()[-1]
            with tarfile.open(Path(tmp) / name) as tar:
                code = tar.extractfile(f"package/{member}").read().decode("utf-8")
            scripts.append(f"<!-- {spec} (BSD-3-Clause, https://github.com/vega) -->\n<script>{code}</script>")
    page = (
        "<!DOCTYPE html>\n<html>\n<head>\n    {refresh_tag}\n    <meta charset=\"utf-8\">\n"
        "    <title>ru-selfalign plots</title>\n" + "\n".join(scripts) +
        "\n    <style>table { border-spacing: 15px; }</style>\n</head>\n<body>\n    {plot_divs}\n</body>\n</html>\n"
    )
    OUT.parent.mkdir(exist_ok=True)
    OUT.write_text(page, encoding="utf-8")
    print(f"wrote {OUT} ({OUT.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
