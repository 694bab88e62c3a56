#!/usr/bin/env bash
# Wrap Hearth.app in a disk image with a shortcut to /Applications (macOS only).
#
#     python packaging/build.py bundle          # -> packaging/dist/cpu/Hearth.app
#     packaging/macos/make_dmg.sh [VERSION]     # -> packaging/dist/hearth-VERSION-macos-ARCH.dmg
#
# PyInstaller signs the app ad hoc. For distribution outside your own machines set
# CODESIGN_IDENTITY ("Developer ID Application: ...") to sign with hardened runtime; notarize
# the .dmg afterwards with `xcrun notarytool submit --wait` and `xcrun stapler staple`.
# The user's data lives in ~/Library/Application Support/Hearth and is not part of the app:
# dragging Hearth.app to the Bin leaves it untouched.
set -euo pipefail

HERE="$(cd "$(dirname "$0")/.." && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
VERSION="${1:-$(sed -nE 's/^__version__ = "([^"]+)"/\1/p' "$ROOT/engine/__init__.py")}"
VARIANT="${HEARTH_VARIANT:-cpu}"
APP="$HERE/dist/$VARIANT/Hearth.app"
ARCH="$(uname -m)"
OUT="$HERE/dist/hearth-$VERSION-macos-$ARCH.dmg"

[ "$(uname -s)" = "Darwin" ] || { echo "make_dmg.sh runs on macOS" >&2; exit 2; }
[ -d "$APP" ] || { echo "no $APP: run python packaging/build.py bundle first" >&2; exit 2; }

if [ -n "${CODESIGN_IDENTITY:-}" ]; then
    codesign --force --deep --options runtime --timestamp \
        --entitlements "$HERE/macos/entitlements.plist" --sign "$CODESIGN_IDENTITY" "$APP"
fi
codesign --verify --deep --strict "$APP"

STAGE="$(mktemp -d)"
trap 'rm -rf "$STAGE"' EXIT
cp -R "$APP" "$STAGE/"
ln -s /Applications "$STAGE/Applications"
rm -f "$OUT"
hdiutil create -volname "Hearth $VERSION" -srcfolder "$STAGE" -fs HFS+ -format UDZO -ov "$OUT"
echo "$OUT: $(du -h "$OUT" | cut -f1)"
