#!/usr/bin/env bash
# Release check for the Linux package: install the .deb on this machine, then, from outside any
# checkout and with no Python environment on the PATH, index and search a few documents with
# `hearth`, start `hearth-app` offscreen and take a screenshot, and finally remove the package
# and check that the user's data is untouched. Prints the bundle size, the installed size and
# the time to first window.
#
#     sudo packaging/smoke_test.sh [path/to/hearth_VERSION_ARCH.deb] [--keep]
#
# --keep leaves the package installed. Screenshots and logs go to packaging/build/smoke/.
# Not part of CI (it needs a built package, root, and a few minutes).
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
DEB=""
KEEP=0
for arg in "$@"; do
    case "$arg" in
        --keep) KEEP=1 ;;
        *.deb) DEB="$arg" ;;
        *) echo "usage: $0 [PACKAGE.deb] [--keep]" >&2; exit 2 ;;
    esac
done
if [ -z "$DEB" ]; then
    DEB="$(ls -t "$HERE"/dist/hearth_*.deb 2>/dev/null | head -n 1 || true)"
fi
[ -n "$DEB" ] && [ -f "$DEB" ] || { echo "no .deb found: build one with packaging/build.py all" >&2; exit 2; }
DEB="$(cd "$(dirname "$DEB")" && pwd)/$(basename "$DEB")"

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
ART="$HERE/build/smoke"
rm -rf "$ART" && mkdir -p "$ART"
WORK="$(mktemp -d /tmp/hearth-smoke.XXXXXX)"
DOCS="$WORK/docs"
USERHOME="$WORK/user"
mkdir -p "$DOCS" "$USERHOME"

step() { printf '\n== %s\n' "$*"; }
fail() { echo "SMOKE TEST FAILED: $*" >&2; exit 1; }
mib() { awk -v b="$1" 'BEGIN { printf "%.0f MiB", b / 1048576 }'; }
since() { awk -v a="$1" -v b="$(date +%s.%N)" 'BEGIN { printf "%.2f", b - a }'; }
diff_s() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }

# A clean environment: no checkout, no virtual environment, no PYTHONPATH, a fresh home.
clean() {
    env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
        HOME="$USERHOME" HEARTH_HOME="$USERHOME/hearth-data" LANG=C.UTF-8 \
        XDG_RUNTIME_DIR="$WORK/run" "$@"
}
mkdir -p "$WORK/run" && chmod 700 "$WORK/run"

step "install $(basename "$DEB") ($(mib "$(stat -c %s "$DEB")"))"
t0=$(date +%s.%N)
$SUDO dpkg -i "$DEB"
echo "installed in $(since "$t0") s"
PKG="$(dpkg-deb -f "$DEB" Package)"
for f in /usr/bin/hearth /usr/bin/hearth-app /opt/hearth/hearth /opt/hearth/hearth-app \
         /usr/share/applications/hearth.desktop /usr/share/metainfo/io.hearth.Hearth.metainfo.xml \
         /usr/share/mime/packages/hearth.xml /usr/share/icons/hicolor/256x256/apps/hearth.png; do
    [ -e "$f" ] || fail "$f is missing after install"
done
grep -q 'application/x-gguf' /usr/share/mime/globs2 2>/dev/null \
    && echo ".gguf registered as application/x-gguf" \
    || echo "note: the MIME database was not updated (update-mime-database missing?)"
if command -v desktop-file-validate >/dev/null; then desktop-file-validate /usr/share/applications/hearth.desktop; fi
if command -v appstreamcli >/dev/null; then
    appstreamcli validate --no-net /usr/share/metainfo/io.hearth.Hearth.metainfo.xml | tail -n 1
fi

step "documents (outside any checkout: $DOCS)"
cp /opt/hearth/_internal/resources/samples/* "$DOCS"/ 2>/dev/null || true
cat > "$DOCS/boiler.md" <<'EOF'
# Boiler maintenance

## Resetting the boiler

Hold the red reset button for five seconds until the display shows a flashing flame.
The pump restarts after ninety seconds.
EOF
cat > "$DOCS/garden.html" <<'EOF'
<html><head><title>Garden notes</title></head><body>
<h1>Tomatoes</h1><p>Water the tomato plants every morning and pinch out the side shoots weekly.</p>
</body></html>
EOF
cat > "$DOCS/invoice.eml" <<'EOF'
From: Ann <ann@example.org>
To: Bob <bob@example.org>
Subject: Invoice for the roof repair
Date: Mon, 3 Mar 2025 10:00:00 +0000
Content-Type: text/plain; charset=utf-8

The roof repair invoice comes to 1,240 euros, payable within thirty days.
EOF
# A minimal Word document, written as the zip of XML parts it is.
mkdir -p "$WORK/docx/_rels" "$WORK/docx/word"
cat > "$WORK/docx/[Content_Types].xml" <<'EOF'
<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>
EOF
cat > "$WORK/docx/_rels/.rels" <<'EOF'
<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="word/document.xml"/></Relationships>
EOF
cat > "$WORK/docx/word/document.xml" <<'EOF'
<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body><w:p><w:r><w:t>Bicycle service schedule</w:t></w:r></w:p><w:p><w:r><w:t>Oil the bicycle chain every two hundred kilometres and check the brake pads monthly.</w:t></w:r></w:p></w:body></w:document>
EOF
if command -v zip >/dev/null; then
    (cd "$WORK/docx" && zip -q -X -r "$DOCS/bicycle.docx" '[Content_Types].xml' _rels word)
fi
ls -l "$DOCS"

cd "$WORK"  # nowhere near a checkout
step "hearth ingest"
t0=$(date +%s.%N)
clean hearth ingest "$DOCS" --collection smoke 2>&1 | tee "$ART/ingest.log" | tail -n 5
echo "ingest took $(since "$t0") s (this includes loading torch and the embedding model)"
clean hearth status --collection smoke 2>&1 | tee "$ART/status.log" | tail -n 12

step "hearth search"
check_search() {  # QUERY EXPECTED-FILE
    clean hearth search "$1" --collection smoke --json > "$ART/search.json" 2> "$ART/search.err" \
        || { cat "$ART/search.err" >&2; fail "hearth search '$1' failed"; }
    if grep -q "$2" "$ART/search.json"; then
        echo "ok: '$1' finds $2"
    else
        head -c 600 "$ART/search.json" >&2; fail "'$1' did not find $2"
    fi
}
check_search "how do I reset the boiler" boiler.md
check_search "when should the tomato plants be watered" garden.html
check_search "how much is the roof repair invoice" invoice.eml
[ -f "$DOCS/bicycle.docx" ] && check_search "how often to oil the bicycle chain" bicycle.docx

step "trainer process from the bundle (hearth train --help)"
clean hearth train --help > "$ART/train-help.log" 2>&1 || fail "the trainer does not start (see $ART/train-help.log)"
head -n 3 "$ART/train-help.log"

step "hearth-app, offscreen, screenshot"
for run in 1 2; do
    shot="$ART/hearth-app-$run.png"
    t0=$(date +%s.%N)
    clean QT_QPA_PLATFORM=offscreen HEARTH_SCREENSHOT="$shot" timeout 180 hearth-app \
        > "$ART/app-$run.log" 2>&1 || { tail -n 30 "$ART/app-$run.log" >&2; fail "hearth-app did not start"; }
    [ -s "$shot" ] && [ -s "$shot.json" ] || fail "no screenshot from hearth-app"
    shown=$(sed -E 's/.*"window_shown": *([0-9.]+).*/\1/' "$shot.json")
    torch=$(sed -E 's/.*"torch_loaded_at_window": *(true|false).*/\1/' "$shot.json")
    FIRST_WINDOW[$run]=$(diff_s "$t0" "$shown")
    echo "run $run: window shown ${FIRST_WINDOW[$run]} s after start (torch loaded by then: $torch) -> $shot"
done

step "sizes"
BUNDLE="$HERE/dist/cpu/hearth"
[ "$PKG" = "hearth-cuda" ] && BUNDLE="$HERE/dist/cuda/hearth"
[ -d "$BUNDLE" ] && echo "bundle:    $(du -sh "$BUNDLE" | cut -f1)  ($BUNDLE)"
echo "package:   $(mib "$(stat -c %s "$DEB")")  ($(basename "$DEB"))"
echo "installed: $(du -sh /opt/hearth | cut -f1) under /opt/hearth (Installed-Size $(dpkg-query -W -f='${Installed-Size}' "$PKG") KiB)"
echo "largest parts of the installed program:"
du -s /opt/hearth/_internal/* /opt/hearth/_internal/torch/* /opt/hearth/_internal/PySide6/* 2>/dev/null \
    | sort -rn | head -n 10 | awk '{ printf "  %7.0f MiB  %s\n", $1 / 1024, $2 }'

if [ "$KEEP" -eq 1 ]; then
    step "kept installed (--keep)"
else
    step "remove and purge: the user's data stays"
    before="$(cd "$USERHOME" && find . -type f -exec sha256sum {} + | sort)"
    $SUDO dpkg --purge "$PKG"
    after="$(cd "$USERHOME" && find . -type f -exec sha256sum {} + | sort)"
    [ "$before" = "$after" ] || fail "the user's data changed when the package was removed"
    [ ! -e /opt/hearth ] && [ ! -e /usr/bin/hearth ] || fail "files left behind after purge"
    echo "purged; $(echo "$before" | wc -l) files of user data untouched"
fi

step "summary"
echo "time to first window: ${FIRST_WINDOW[1]} s (first start), ${FIRST_WINDOW[2]} s (second start)"
echo "artifacts: $ART"
rm -rf "$WORK"
echo "SMOKE TEST PASSED"
