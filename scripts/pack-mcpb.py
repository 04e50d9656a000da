#!/usr/bin/env python3
"""Packs the Claude Desktop extension: integrations/claude-desktop/manifest.json and a brain
binary into dist/brain-<platform>.mcpb (a zip, as `mcpb pack` makes), which Desktop installs by
opening it (Settings > Extensions), asking for the brain repo's folder.

Usage: python3 scripts/pack-mcpb.py [--binary PATH] [--out FILE]
  --binary  the brain program to ship (default: builds target/release/brain for this machine;
            give target/x86_64-pc-windows-gnu/release/brain.exe for Windows)
"""

import json
import os
import subprocess
import sys
import zipfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def arg(name, default=None):
    return sys.argv[sys.argv.index(name) + 1] if name in sys.argv else default


def main():
    binary = arg("--binary")
    if binary is None:
        subprocess.run(["cargo", "build", "--release", "--locked", "-p", "brain"], cwd=ROOT, check=True)
        binary = os.path.join(ROOT, "target", "release", "brain")
    if not os.path.isfile(binary):
        sys.exit(f"pack-mcpb: {binary} does not exist")
    windows = binary.endswith(".exe")
    manifest_path = os.path.join(ROOT, "integrations", "claude-desktop", "manifest.json")
    manifest = json.load(open(manifest_path))
    platform = "win32" if windows else sys.platform
    out = arg("--out", os.path.join(ROOT, "dist", f"brain-{platform}.mcpb"))
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("manifest.json", json.dumps(manifest, indent=2) + "\n")
        info = zipfile.ZipInfo("server/brain.exe" if windows else "server/brain")
        info.external_attr = 0o755 << 16  # executable when unpacked
        info.compress_type = zipfile.ZIP_DEFLATED
        z.writestr(info, open(binary, "rb").read())
    print(out)


if __name__ == "__main__":
    main()
