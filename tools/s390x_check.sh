#!/usr/bin/env bash
# Runs the byte-order-sensitive tests (constants, record decoding, the memfd ring)
# on big-endian s390x, under qemu-user in a Debian chroot, against the s390x wheel
# that tools/build_wheels.py cross-builds. perf_event_open returns ENOSYS under
# qemu-user: the tests that need the kernel skip and say so.
#
#   tools/s390x_check.sh [PYTEST ARGS...]   build what is missing, then run the tests
#   tools/s390x_check.sh --rootfs           only build the chroot (the slow part)
#
# Needs root (debootstrap, chroot, binfmt_misc) and Debian's apt. The chroot
# (~10 min to build: its second stage runs under emulation) is cached in
# $PERFSYS_CACHE/s390x-bookworm (default ~/.cache/perfsys); delete it at will.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-python3}
CACHE=${PERFSYS_CACHE:-$HOME/.cache/perfsys}
ROOT=$CACHE/s390x-bookworm
SUITE=bookworm
MIRROR=${DEBIAN_MIRROR:-}  # debootstrap's default unless set
# gcc builds the layout probe of tests/test_constants.py natively.
PACKAGES=python3,gcc,libc6-dev
# The tests of what byte order touches: the tables and layouts, the C module's ABI
# numbers, record decoding, and the ring buffer over memfd pages.
TESTS=(test_constants.py test_abi.py test_decode*.py test_ring_basic.py)

log() { printf '%s [s390x] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
timed() {  # timed NAME LOGFILE COMMAND...: run it, its output into LOGFILE, and say how long it took
    local name=$1 out=$2 start=$SECONDS
    shift 2
    "$@" > "$out" 2>&1 || { tail -20 "$out" >&2; log "$name: failed, see $out"; return 1; }
    log "$name: $((SECONDS - start)) s"
}

[ "$(id -u)" = 0 ] || { echo "tools/s390x_check.sh: needs root (chroot, binfmt_misc)" >&2; exit 2; }

need=()
command -v qemu-s390x-static >/dev/null || need+=(qemu-user-static)
command -v debootstrap >/dev/null || need+=(debootstrap)
command -v update-binfmts >/dev/null || need+=(binfmt-support)
if [ ${#need[@]} -gt 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# Machines without systemd-binfmt (containers, some VMs) have binfmt_misc unmounted,
# and update-binfmts then reports qemu-s390x "disabled" until it is mounted.
[ -e /proc/sys/fs/binfmt_misc/register ] ||
    mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
[ -e /proc/sys/fs/binfmt_misc/qemu-s390x ] || update-binfmts --enable qemu-s390x
grep -q enabled /proc/sys/fs/binfmt_misc/qemu-s390x

build_rootfs() {
    umount "$ROOT/proc" 2>/dev/null || true
    rm -rf --one-file-system "$ROOT"
    mkdir -p "$CACHE"
    timed "debootstrap, first stage" "$CACHE/s390x-debootstrap1.log" debootstrap --arch=s390x \
        --foreign --variant=minbase --include="$PACKAGES" "$SUITE" "$ROOT" ${MIRROR:+"$MIRROR"}
    timed "debootstrap, second stage (emulated)" "$CACHE/s390x-debootstrap2.log" \
        nice chroot "$ROOT" /debootstrap/debootstrap --second-stage
    # The test requirements are pure Python: fetched here, installed into the chroot.
    mapfile -t reqs < <("$PY" -c 'import tomllib
print(*tomllib.load(open("pyproject.toml", "rb"))["project"]["optional-dependencies"]["test"], sep="\n")')
    timed "test requirements" "$CACHE/s390x-pip.log" "$PY" -m pip install -q --disable-pip-version-check \
        --target "$ROOT/usr/local/lib/python3.11/dist-packages" \
        --python-version 3.11 --platform manylinux2014_s390x --only-binary=:all: "${reqs[@]}"
    echo "$SUITE $PACKAGES" > "$ROOT/.perfsys-ready"
}

[ "$(cat "$ROOT/.perfsys-ready" 2>/dev/null)" = "$SUITE $PACKAGES" ] || build_rootfs
[ "${1:-}" = --rootfs ] && exit 0

# The s390x wheel, as a release builds it (tools/build_wheels.py checks it).
WHEELS=$CACHE/s390x-wheelhouse
rm -rf "$WHEELS"
timed "s390x wheel" "$CACHE/s390x-wheel.log" "$PY" tools/build_wheels.py -o "$WHEELS" \
    --only 'cp311-abi3-manylinux_2_17_s390x'
wheel=$(echo "$WHEELS"/*.whl)

# Into the chroot: the wheel unpacked as an installed package, a copy of tests/ (no
# source tree beside it), and the pinned kernel headers that made the tables, for the
# layout probe (the ziglang wheel carries them for every architecture).
CHECK=/perfsys-check
rm -rf "${ROOT:?}$CHECK"
mkdir -p "$ROOT$CHECK/site"
"$PY" -m zipfile -e "$wheel" "$ROOT$CHECK/site"
cp -r tests "$ROOT$CHECK/tests"
zinc=$("$PY" -c 'import ziglang, pathlib; print(pathlib.Path(ziglang.__file__).parent / "lib/libc/include")')
mkdir -p "$ROOT$CHECK/include"
cp -r "$zinc/any-linux-any" "$zinc/s390x-linux-any" "$ROOT$CHECK/include/"

mountpoint -q "$ROOT/proc" || mount -t proc proc "$ROOT/proc"
trap 'umount "$ROOT/proc" 2>/dev/null || true' EXIT
cd "$ROOT$CHECK/tests"
start=$SECONDS
set +e
chroot "$ROOT" /usr/bin/env -i PATH=/usr/local/bin:/usr/bin:/bin HOME=/root LANG=C.UTF-8 \
    PYTHONPATH="$CHECK/site" PERFSYS_PROBE_HEADERS="$CHECK/include" \
    sh -c "cd $CHECK && python3 -c 'import sys, platform; print(platform.machine(), sys.byteorder)' && python3 -m pytest -p no:cacheprovider -ra $(printf 'tests/%s ' ${TESTS[*]}) $*"
rc=$?
log "pytest under qemu-s390x: $((SECONDS - start)) s, exit status $rc"
exit $rc
