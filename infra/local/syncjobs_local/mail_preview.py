"""Save a mail from the outbox as HTML and as a PNG screenshot (headless Chromium: Debian's `chromium`).

python -m syncjobs_local.mail_preview OUTBOX/some.eml docs/evidence/mail-finished-with-error
"""

from __future__ import annotations

import email
import email.policy
import shutil
import subprocess
import sys
from pathlib import Path


def save(eml: Path, stem: Path, width: int = 760, height: int = 1100) -> tuple[Path, Path]:
    message = email.message_from_bytes(eml.read_bytes(), policy=email.policy.default)
    part = message.get_body(preferencelist=("html",))
    if part is None:
        raise SystemExit(f"{eml}: no HTML part")
    stem.parent.mkdir(parents=True, exist_ok=True)
    html, png = stem.with_suffix(".html"), stem.with_suffix(".png")
    html.write_text(part.get_content(), encoding="utf-8")
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        raise SystemExit("chromium is not installed (Debian: apt-get install chromium)")
    subprocess.run(  # noqa: S603 - fixed argv
        [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            f"--window-size={width},{height}",
            f"--screenshot={png.resolve()}",
            html.resolve().as_uri(),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    return html, png


if __name__ == "__main__":
    print(*save(Path(sys.argv[1]), Path(sys.argv[2])), sep="\n")
