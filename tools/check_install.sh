#!/usr/bin/env bash
# The ways ann-mlp gets installed, each in a fresh virtual environment, each failing loudly
# (CI runs this; runnable by hand from anywhere):
#   1. no C compiler (none on PATH, CC unset): the install succeeds, says in one line that the
#      C core was not built and why, and `ann train` trains one epoch on the built-in sample;
#   2. a compiler that fails (CC=/bin/false): the same, with "the C compiler failed", and
#      the advice to reinstall names `pip install .` in the checkout (not the index's name);
#      2b. the same in a checkout whose build/ holds a core from an earlier install: the old
#      core must not be reused;
#   3. ANN_REQUIRE_C=1 with no compiler: the install fails, naming the reason;
#   4. the release files (tools/release.sh): the sdist holds every file git tracks, the wheel
#      is cp39-abi3 and auditwheel has made it manylinux, linking only libc/libm/libpthread;
#   5. the repaired wheel installed, and the whole test suite run from the unpacked sdist;
#   6. that same wheel on Python 3.9 and 3.13 (where this machine has them): it trains.
# ANN_DATA (or ../shared/mnist beside the checkout) must hold full MNIST for step 5.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
unset ANN_REQUIRE_C ANN_BACKEND
cd "$work"          # never beside a source tree: `python -c` would import that instead
pass() { echo "check_install: ok: $*"; }
fail() { echo "check_install: FAILED: $*" >&2; exit 1; }

# A PATH with every command of /usr/bin and /bin except C/C++ compilers and their drivers.
nocc="$work/nocc"
mkdir -p "$nocc"
for f in /usr/local/bin/* /usr/bin/* /bin/*; do
    b="$(basename "$f")"
    case "$b" in
        *gcc* | cc | c++ | *g++* | clang* | cpp | *-cpp* | c89* | c99* | tcc | *-w64-* | *-linux-gnu-*) continue ;;
    esac
    [ -d "$f" ] || [ -L "$nocc/$b" ] || ln -s "$f" "$nocc/$b"
done
PATH="$nocc" command -v gcc cc > /dev/null 2>&1 && fail "the compiler-free PATH still finds a compiler"

fresh_venv() { python3 -m venv "$1"; }

# The installs build from a clean copy of the tree: pip builds in place, and a build/ folder
# left by an earlier `pip install .` holds a compiled core that setuptools would reuse
# instead of compiling (so a missing compiler would go unnoticed).
clean_copy() {
    mkdir -p "$1"
    tar -C "$root" --exclude=./build --exclude=./dist --exclude='./*.egg-info' --exclude=./.git \
        --exclude='*.so' --exclude='*.pyd' --exclude=ann/_build_status.json -cf - . |
        tar -C "$1" -xf -
    echo "$1"
}
# pip hides a successful build's output; setup.py writes its one line to the terminal, so the
# install runs under `script`, which gives it one, and the line is looked for in what it shows
on_a_terminal() {
    local log="$1"; shift
    if command -v script > /dev/null; then
        script -qec "$(printf '%q ' "$@")" /dev/null > "$log" 2>&1
    else
        "$@" > "$log" 2>&1
    fi
}

echo "== 1. install with no C compiler, then train one epoch on the built-in sample"
fresh_venv "$work/v1"
on_a_terminal "$work/1.log" env -u CC PATH="$work/v1/bin:$nocc" \
    "$work/v1/bin/pip" install --no-cache-dir "$(clean_copy "$work/src1")" || { cat "$work/1.log"; fail "install without a compiler"; }
grep -q "the C core was NOT built (no C compiler: '.*' was not found)" "$work/1.log" ||
    { cat "$work/1.log"; fail "the install did not say the C core was not built"; }
grep "the C core was NOT built" "$work/1.log" | head -n 1 | tr -d '\r'
mkdir -p "$work/home"
env -u ANN_DATA HOME="$work/home" PATH="$work/v1/bin:$nocc" \
    "$work/v1/bin/ann" train --epochs 1 --no-download --quiet > "$work/1-train.log" 2>&1 ||
    { cat "$work/1-train.log"; fail "ann train on the pure-Python backend"; }
grep -q "^ann: backend: pure Python: the C core was not built" "$work/1-train.log" ||
    { cat "$work/1-train.log"; fail "ann train did not say which backend runs and why"; }
grep -q "built-in sample" "$work/1-train.log" || fail "ann train did not use the built-in sample"
grep "^test:" "$work/1-train.log" || { cat "$work/1-train.log"; fail "no test result"; }
pass "no-compiler install trains on the pure-Python backend"

echo "== 2. install with a compiler that fails (CC=/bin/false)"
fresh_venv "$work/v2"
CC=/bin/false "$work/v2/bin/pip" install --no-cache-dir "$(clean_copy "$work/src2")" > "$work/2.log" 2>&1 ||
    { cat "$work/2.log"; fail "install with a failing compiler"; }
status="$("$work/v2/bin/python" -c 'import ann, sys; i = ann.backend_info(); print(i["backend"], "|", i["reason"])')"
echo "$status"
case "$status" in
    "python | the C core was not built when ann-mlp was installed (the C compiler '/bin/false' failed"*) ;;
    *) fail "backend_info does not explain the failed compile" ;;
esac
case "$status" in
    *"run \`pip install .\` in $work/src2"*) ;;
    *) fail "the advice does not say \`pip install .\` in the checkout it was installed from" ;;
esac
pass "a failing compiler gives a working pure-Python install"

echo "== 2b. CC=/bin/false in a checkout whose build/ holds the core of an earlier install"
fresh_venv "$work/v2b"
src2b="$(clean_copy "$work/src2b")"
"$work/v2b/bin/pip" install -q --no-cache-dir "$src2b" > "$work/2b.log" 2>&1 ||
    { cat "$work/2b.log"; fail "the first install (with the compiler)"; }
ls "$src2b"/build/lib*/ann/_core.* > /dev/null 2>&1 || fail "the first install left no core in build/"
CC=/bin/false "$work/v2b/bin/pip" install --no-cache-dir "$src2b" >> "$work/2b.log" 2>&1 ||
    { cat "$work/2b.log"; fail "the second install (CC=/bin/false)"; }
status="$("$work/v2b/bin/python" -c 'import ann; i = ann.backend_info(); print(i["backend"], "|", i["reason"])')"
echo "$status"
case "$status" in
    "python | the C core was not built when ann-mlp was installed (the C compiler '/bin/false' failed"*) ;;
    *) fail "CC=/bin/false reused the core left in build/ by the earlier install" ;;
esac
pass "a stale build/ is rebuilt when the compiler changes"

echo "== 3. ANN_REQUIRE_C=1 with no compiler must fail the install"
fresh_venv "$work/v3"
if env -u CC ANN_REQUIRE_C=1 PATH="$work/v3/bin:$nocc" \
    "$work/v3/bin/pip" install --no-cache-dir "$(clean_copy "$work/src3")" > "$work/3.log" 2>&1; then
    fail "ANN_REQUIRE_C=1 install succeeded without a compiler"
fi
grep -o "ann-mlp: the C core could not be built.*stopping" "$work/3.log" | head -n 1 ||
    { cat "$work/3.log"; fail "the failed install does not say why"; }
pass "ANN_REQUIRE_C=1 turns a missing compiler into a failed install"

echo "== 4. release files: sdist + repaired wheel"
bash "$root/tools/release.sh" "$work/dist" | tee "$work/4.log"
sdist="$(ls "$work"/dist/ann_mlp-*.tar.gz)"
wheel="$(ls "$work"/dist/ann_mlp-*-cp39-abi3-manylinux_*_x86_64.whl "$work"/dist/ann_mlp-*-cp39-abi3-manylinux_*_aarch64.whl 2> /dev/null | head -n 1 || true)"
[ -n "$wheel" ] || fail "no cp39-abi3 manylinux wheel in $(ls "$work/dist")"
grep -q 'consistent with' "$work/4.log" || fail "auditwheel show did not vouch for the wheel"
needed="$(unzip -p "$wheel" 'ann/_core.abi3.so' > "$work/core.so" && readelf -d "$work/core.so" | sed -n 's/.*Shared library: \[\(.*\)\]/\1/p' | sort | tr '\n' ' ')"
echo "the core needs: $needed"
for lib in $needed; do
    case "$lib" in libc.so.* | libm.so.* | libpthread.so.*) ;; *) fail "the core links $lib" ;; esac
done
if git -C "$root" rev-parse --git-dir > /dev/null 2>&1; then
    tar tzf "$sdist" > "$work/sdist-list"
    top="$(sed -n '1s|/.*||p' "$work/sdist-list")"
    sed "s|^$top/||" "$work/sdist-list" | sort > "$work/in-sdist"
    git -C "$root" ls-files | sort > "$work/tracked"
    missing="$(comm -23 "$work/tracked" "$work/in-sdist" | grep -v '^\.gitignore$' || true)"
    [ -z "$missing" ] || fail "files tracked by git but missing from the sdist: $missing"
fi
pass "$(basename "$wheel") and $(basename "$sdist")"

echo "== 5. the repaired wheel installed; the whole suite from the unpacked sdist"
fresh_venv "$work/v5"
"$work/v5/bin/pip" install -q "$wheel[test]"
mkdir -p "$work/sdist"
tar xzf "$sdist" -C "$work/sdist"
src="$(ls -d "$work"/sdist/*/)"
data="${ANN_DATA:-$root/../shared/mnist}"
data="$(cd "$data" && pwd)"
(cd "$src" && ANN_DATA="$data" ANN_REQUIRE_C=1 PATH="$work/v5/bin:$PATH" pytest -q -p no:cacheprovider) |
    tee "$work/5.log" | tail -n 1      # pipefail: a failing suite stops the script here
"$work/v5/bin/python" -c 'import ann; i = ann.backend_info(); assert i["c_core"], i; print("wheel backend:", i["kernel"])'
pass "the suite passes from the sdist against the repaired wheel"
echo "== 6. the same abi3 wheel on the oldest and newest CPython this machine has"
for version in 3.9 3.13; do
    py=""
    if command -v pyenv > /dev/null; then      # pyenv's shims exist for versions not enabled
        found="$(pyenv versions --bare | grep -E "^$version(\.[0-9]+)?$" | tail -n 1 || true)"
        [ -z "$found" ] || py="$(pyenv root)/versions/$found/bin/python$version"
    fi
    [ -n "$py" ] || py="$(command -v "python$version" || true)"
    if [ -z "$py" ] || ! "$py" -c pass > /dev/null 2>&1; then
        echo "  (no python$version here: skipped)"
        continue
    fi
    "$py" -m venv "$work/v6-$version"
    "$work/v6-$version/bin/pip" install -q "$wheel"
    env -u ANN_DATA HOME="$work/home" "$work/v6-$version/bin/ann" train --epochs 1 --no-download \
        --quiet > "$work/6.log" 2>&1 || { cat "$work/6.log"; fail "ann train on Python $version"; }
    "$work/v6-$version/bin/python" -c 'import ann, platform; i = ann.backend_info(); assert i["c_core"], i; print("  Python", platform.python_version(), "C core", i["kernel"], end=": ")'
    grep "^test:" "$work/6.log"
done
pass "one wheel serves every CPython from 3.9 on"
echo "check_install: all passed"
