#!/usr/bin/env bash
# Build an emulated aarch64 (ARM64) environment for the runtime: Debian's qemu-user-static from
# bookworm-backports, Debian's arm64 Python 3.11 unpacked into a sysroot, and the base install's
# aarch64 wheels (onnxruntime, tokenizers, numpy) plus this project, installed with --target.
#
#   scripts/arm64_env.sh            # build or refresh; done steps are skipped
#   scripts/arm64_env.sh --print    # print the command that runs Python under emulation
#
# Everything lands in ${MBE_ARM64_CACHE:-$HOME/.cache/mobilebert-edge/arm64}, outside the repository:
#   sysroot/       Debian arm64 packages (python3.11, libpython3.11-stdlib and their libraries)
#   site/          aarch64 wheels of the base install's dependencies
#   project/       this project, from a wheel built from the working tree (refreshed on every run)
#   env.sh         shell variables: MBE_ARM64_QEMU, MBE_ARM64_SYSROOT, MBE_ARM64_PYTHONPATH
# Run a command on the emulated Cortex-A72 (the Raspberry Pi 4's core) with
#   . "$MBE_ARM64_CACHE/env.sh"
#   PYTHONPATH="$MBE_ARM64_PYTHONPATH" "$MBE_ARM64_QEMU" -cpu cortex-a72 -L "$MBE_ARM64_SYSROOT" \
#       "$MBE_ARM64_SYSROOT/usr/bin/python3.11" -m mobilebert_edge check BUNDLE
#
# Needs Debian bookworm (or newer) and root for apt (adding the backports source and the arm64
# architecture, installing qemu-user-static); without root, a step that needs it stops with a message.
# A shell script rather than Python: every step is a system tool (apt-get, dpkg, pip) that runs once on
# a CI runner, before and outside the project's own Python environment.
set -euo pipefail
export PIP_ROOT_USER_ACTION=ignore PIP_DISABLE_PIP_VERSION_CHECK=1

REPO="$(cd "$(dirname "$0")/.." && pwd)"
CACHE="${MBE_ARM64_CACHE:-$HOME/.cache/mobilebert-edge/arm64}"
SYSROOT="$CACHE/sysroot"
SITE="$CACHE/site"
PROJECT="$CACHE/project"
# The versions this machine's Python has (so x86 and emulated ARM64 results compare like with like),
# else the newest; MBE_ARM64_PIP_SPECS overrides, e.g. "onnxruntime==1.32.0 tokenizers numpy".
host_specs() {
    python3 - <<'PY' 2>/dev/null || echo "onnxruntime tokenizers numpy"
from importlib.metadata import PackageNotFoundError, version
specs = []
for name in ("onnxruntime", "tokenizers", "numpy"):
    try:
        specs.append(f"{name}=={version(name)}")
    except PackageNotFoundError:
        specs.append(name)
print(" ".join(specs))
PY
}
PIP_SPECS="${MBE_ARM64_PIP_SPECS:-$(host_specs)}"
# Wheel tags the sysroot's glibc (2.36, Debian bookworm's, as on Raspberry Pi OS bookworm) accepts,
# listed one by one (older pips do not expand a manylinux_2_X tag downwards): onnxruntime's aarch64
# wheels are manylinux_2_27/2_28, so manylinux2014 alone would fall back to onnxruntime 1.16.
WHEEL_PLATFORMS="manylinux_2_28_aarch64 manylinux_2_27_aarch64 manylinux_2_17_aarch64 manylinux2014_aarch64"
QEMU_MIN_MAJOR=10   # bookworm's qemu 7.2 crashes when onnxruntime >= 1.28 is imported
# Debian arm64 packages unpacked into the sysroot: the interpreter, its standard library, and the
# shared libraries they and the manylinux wheels load (libstdc++/libgcc_s for onnxruntime).
DEBS=(python3.11 python3.11-minimal libpython3.11-minimal libpython3.11-stdlib libc6 libgcc-s1 libstdc++6
      zlib1g libexpat1 libffi8 libssl3 libbz2-1.0 liblzma5 libsqlite3-0 libuuid1 libcrypt1 libncursesw6
      libtinfo6 libreadline8 libdb5.3 libnsl2 libtirpc3 libgssapi-krb5-2 libkrb5-3 libk5crypto3
      libkrb5support0 libcom-err2 libkeyutils1)

say() { echo "arm64_env: $*" >&2; }
fail() { echo "arm64_env: error: $*" >&2; exit 1; }

find_qemu() {
    local candidate
    for candidate in qemu-aarch64-static qemu-aarch64; do
        if command -v "$candidate" >/dev/null 2>&1; then
            command -v "$candidate"
            return 0
        fi
    done
    return 1
}

qemu_major() { "$1" --version | sed -n 's/.*version \([0-9]*\)\..*/\1/p' | head -n1; }

as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        sudo "$@"
    else
        fail "this step needs root: $* (run the script as root, or do it by hand and rerun)"
    fi
}

step_qemu() {
    local qemu
    if qemu="$(find_qemu)" && [ "$(qemu_major "$qemu")" -ge "$QEMU_MIN_MAJOR" ]; then
        say "qemu: $("$qemu" --version | head -n1) ($qemu), skipped"
        return
    fi
    command -v apt-get >/dev/null 2>&1 || fail "qemu-user-static >= $QEMU_MIN_MAJOR is needed and apt-get is not available; install it by hand"
    if ! grep -rqs "bookworm-backports" /etc/apt/sources.list /etc/apt/sources.list.d/; then
        say "adding the bookworm-backports apt source"
        printf 'Types: deb\nURIs: http://deb.debian.org/debian\nSuites: bookworm-backports\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
            | as_root tee /etc/apt/sources.list.d/bookworm-backports.sources >/dev/null
    fi
    as_root apt-get update -qq || fail "apt-get update failed (no network to deb.debian.org?)"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -t bookworm-backports qemu-user-static >/dev/null \
        || fail "cannot install qemu-user-static from bookworm-backports"
    qemu="$(find_qemu)" || fail "qemu-user-static installed but no qemu-aarch64 binary found"
    [ "$(qemu_major "$qemu")" -ge "$QEMU_MIN_MAJOR" ] \
        || fail "$qemu is $("$qemu" --version | head -n1); version $QEMU_MIN_MAJOR or newer is needed (onnxruntime >= 1.28 crashes under 7.2)"
    say "qemu: $("$qemu" --version | head -n1)"
}

step_sysroot() {
    if [ -x "$SYSROOT/usr/bin/python3.11" ] && [ -f "$SYSROOT/.complete" ]; then
        say "sysroot: $SYSROOT, skipped"
        return
    fi
    if ! dpkg --print-foreign-architectures | grep -qx arm64; then
        say "adding the arm64 architecture to dpkg (for apt-get download)"
        as_root dpkg --add-architecture arm64
    fi
    as_root apt-get update -qq || fail "apt-get update failed (no network to deb.debian.org?)"
    local debs="$CACHE/debs"
    mkdir -p "$debs"
    local packages=("${DEBS[@]/%/:arm64}")
    say "downloading ${#packages[@]} arm64 packages into $debs"
    (cd "$debs" && apt-get download -qq "${packages[@]}") || fail "apt-get download failed (is the arm64 architecture in the apt lists? run apt-get update)"
    rm -rf "$SYSROOT.tmp" && mkdir -p "$SYSROOT.tmp"
    local deb
    for deb in "$debs"/*.deb; do
        dpkg -x "$deb" "$SYSROOT.tmp"
    done
    [ -x "$SYSROOT.tmp/usr/bin/python3.11" ] || fail "the unpacked packages hold no usr/bin/python3.11"
    touch "$SYSROOT.tmp/.complete"
    rm -rf "$SYSROOT" && mv "$SYSROOT.tmp" "$SYSROOT"
    say "sysroot: $SYSROOT"
}

step_wheels() {
    local stamp="$SITE/.specs"
    if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$PIP_SPECS $WHEEL_PLATFORMS" ]; then
        say "wheels: $SITE ($PIP_SPECS), skipped"
        return
    fi
    rm -rf "$SITE.tmp"
    # shellcheck disable=SC2086  # PIP_SPECS is a list of requirement specifiers
    python3 -m pip install --quiet --target "$SITE.tmp" $(printf -- '--platform %s ' $WHEEL_PLATFORMS)--only-binary=:all: \
        --python-version 3.11 --implementation cp --no-warn-conflicts $PIP_SPECS \
        || fail "pip could not fetch aarch64 wheels for: $PIP_SPECS"
    echo "$PIP_SPECS $WHEEL_PLATFORMS" > "$SITE.tmp/.specs"
    rm -rf "$SITE" && mv "$SITE.tmp" "$SITE"
    say "wheels: $SITE"
}

step_project() {
    # Always refreshed: the project is the code under test, and building it takes seconds.
    local wheels="$CACHE/project-wheel"
    rm -rf "$wheels" "$PROJECT.tmp"
    python3 -m pip wheel --quiet --no-deps -w "$wheels" "$REPO" >/dev/null \
        || fail "cannot build a wheel of $REPO"
    python3 -m pip install --quiet --no-deps --target "$PROJECT.tmp" "$wheels"/*.whl \
        || fail "cannot install the project wheel into $PROJECT"
    rm -rf "$PROJECT" && mv "$PROJECT.tmp" "$PROJECT"
    say "project: $PROJECT"
}

step_smoke() {
    local qemu out
    qemu="$(find_qemu)"
    out="$(PYTHONNOUSERSITE=1 PYTHONPATH="$PROJECT:$SITE" "$qemu" -cpu cortex-a72 -L "$SYSROOT" "$SYSROOT/usr/bin/python3.11" -c \
        'import platform, onnxruntime, tokenizers, numpy, edge_runtime; print(platform.machine(), "onnxruntime", onnxruntime.__version__, "tokenizers", tokenizers.__version__, "numpy", numpy.__version__)')" \
        || fail "the emulated Python cannot import the runtime (see the messages above)"
    say "emulated: $out"
    {
        echo "MBE_ARM64_QEMU=$(printf %q "$qemu")"
        echo "MBE_ARM64_SYSROOT=$(printf %q "$SYSROOT")"
        echo "MBE_ARM64_PYTHONPATH=$(printf %q "$PROJECT:$SITE")"
    } > "$CACHE/env.sh.tmp"
    mv "$CACHE/env.sh.tmp" "$CACHE/env.sh"
}

if [ "${1:-}" = "--print" ]; then
    [ -f "$CACHE/env.sh" ] || fail "not built yet: run $0"
    . "$CACHE/env.sh"
    echo "PYTHONNOUSERSITE=1 PYTHONPATH=$MBE_ARM64_PYTHONPATH $MBE_ARM64_QEMU -cpu cortex-a72 -L $MBE_ARM64_SYSROOT $MBE_ARM64_SYSROOT/usr/bin/python3.11"
    exit 0
elif [ $# -gt 0 ]; then
    fail "unknown argument $1 (usage: $0 [--print])"
fi

mkdir -p "$CACHE"
step_qemu
step_sysroot
step_wheels
step_project
step_smoke
say "ready: $CACHE (run '$0 --print' for the command line)"
