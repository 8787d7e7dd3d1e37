#!/usr/bin/env bash
# Runs perfsys's tests in an emulated arm64 Linux machine whose PMU QEMU emulates
# (PMUv3: cycles; instructions too, deterministically, under -icount), so that the
# hardware-counter half (PERF_TYPE_HARDWARE, SelfCounter's user-space read) and the
# kprobe PMU run on machines that have neither.
#
#   tools/vmtest.sh [SELECTION]
#
# SELECTION: hw (tests marked `hardware`), kprobe (marked `kprobe`), hw,kprobe (both),
# all (the whole suite), or anything else: a pytest -k expression. Default: hw,kprobe.
# `prepare` only builds the cache.
#
# From nothing it installs what it needs with apt (QEMU, qemu-user, debootstrap), builds
# a Debian arm64 root filesystem (debootstrap; its second stage runs under qemu-user and
# is the slow part, 5-15 minutes), fetches a Debian arm64 kernel and makes a small
# initramfs. These are cached in $PERFSYS_VMTEST_CACHE (default /var/cache/perfsys-vmtest),
# keyed by their inputs; a missing or stale cache is rebuilt. Each run copies the
# checkout's tracked files (as they are in the working tree) onto a fresh work disk, boots
# the guest (-cpu max, -icount shift=0), builds perfsys there and runs the selection.
# The guest's log, the pytest log and junit XML come back to $PERFSYS_VMTEST_OUT (default
# build/vmtest/), and the script exits with pytest's exit status (1 if the guest never
# reported one).
#
# Env: PERFSYS_VMTEST_CACHE, PERFSYS_VMTEST_OUT, PERFSYS_VMTEST_KERNEL (6.12 or 6.1),
#      PERFSYS_VMTEST_TIMEOUT (seconds for the guest, default 3600), PERFSYS_VMTEST_SMP (2),
#      PERFSYS_VMTEST_MEM (3G), PERFSYS_VMTEST_CPU (QEMU's CPU model: max, whose PMUv3p5 has
#      64-bit event counters, or e.g. cortex-a57, a PMUv3 with 32-bit ones).
# Needs root (debootstrap, chroot, binfmt_misc).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
HERE=$ROOT/tools/vmtest
SELECTION=${1:-hw,kprobe}
CACHE=${PERFSYS_VMTEST_CACHE:-/var/cache/perfsys-vmtest}
OUT=${PERFSYS_VMTEST_OUT:-$ROOT/build/vmtest}
KERNEL=${PERFSYS_VMTEST_KERNEL:-6.12}
GUEST_TIMEOUT=${PERFSYS_VMTEST_TIMEOUT:-3600}
SMP=${PERFSYS_VMTEST_SMP:-2}
MEM=${PERFSYS_VMTEST_MEM:-3G}
CPU=${PERFSYS_VMTEST_CPU:-max}

# The root filesystem's inputs; the cache key is their hash.
SUITE=bookworm
PACKAGES=python3,python3-dev,gcc,libc6-dev,linux-perf,busybox-static,kmod,procps
WHEELS=(pytest==9.0.3 hypothesis==6.155.2 setuptools==84.2.1 wheel==0.48.0)
ROOTFS_REV=1  # bump when the way the image is made changes
KEY=$(printf '%s\n' "$SUITE" "$PACKAGES" "${WHEELS[@]}" "$ROOTFS_REV" | sha256sum | cut -c1-16)

START=$SECONDS
log() { echo "[vmtest +$((SECONDS - START))s] $*" >&2; }
NICE=(nice -n 10)

host_packages() {
    local need=()
    command -v qemu-system-aarch64 >/dev/null || need+=(qemu-system-arm)
    command -v qemu-aarch64-static >/dev/null || need+=(qemu-user-static)
    command -v debootstrap >/dev/null || need+=(debootstrap)
    command -v update-binfmts >/dev/null || need+=(binfmt-support)
    command -v mkfs.ext4 >/dev/null || need+=(e2fsprogs)
    command -v git >/dev/null || need+=(git)
    if [ ${#need[@]} -gt 0 ]; then
        log "installing ${need[*]}"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -o DPkg::Lock::Timeout=900 \
            --no-install-recommends "${need[@]}" >/dev/null
    fi
}

binfmt() {  # the chroot's second stage runs arm64 binaries through qemu-user
    [ -e /proc/sys/fs/binfmt_misc/register ] ||
        mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
    [ -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ] || update-binfmts --enable qemu-aarch64
    grep -q enabled /proc/sys/fs/binfmt_misc/qemu-aarch64
}

# ---- root filesystem: $CACHE/rootfs-$KEY.img and the static busybox the initramfs uses
IMG=$CACHE/rootfs-$KEY.img
BUSYBOX=$CACHE/busybox-$KEY
rootfs() {
    if [ -e "$IMG" ] && [ -e "$BUSYBOX" ]; then log "root filesystem cached ($IMG)"; return; fi
    binfmt
    local b=$CACHE/build-$KEY
    rm -rf "$b"
    mkdir -p "$b"
    log "debootstrap $SUITE arm64, first stage"
    "${NICE[@]}" debootstrap --arch=arm64 --foreign --variant=minbase --include="$PACKAGES" \
        "$SUITE" "$b/root" > "$b/debootstrap1.log" 2>&1 || { tail -20 "$b/debootstrap1.log"; exit 1; }
    log "debootstrap second stage (under qemu-user: slow)"
    "${NICE[@]}" chroot "$b/root" /debootstrap/debootstrap --second-stage \
        > "$b/debootstrap2.log" 2>&1 || { tail -20 "$b/debootstrap2.log"; exit 1; }
    # bookworm's pytest, hypothesis and setuptools are older than the project needs: pure-Python
    # wheels from PyPI, installed for the guest's Python 3.11 from here.
    log "wheels: ${WHEELS[*]}"
    python3 -m pip download -q -q --disable-pip-version-check --only-binary=:all: \
        --python-version 3.11 --platform any --dest "$b/wheels" "${WHEELS[@]}"
    python3 -m pip install -q -q --disable-pip-version-check --no-index --find-links "$b/wheels" \
        --python-version 3.11 --only-binary=:all: --no-compile \
        --target "$b/root/usr/local/lib/python3.11/dist-packages" "${WHEELS[@]}"
    rm -rf "$b/root/var/cache/apt/archives/"*.deb
    mkdir -p "$b/root/qa"
    local mb=$(( $(du -sm "$b/root" | cut -f1) + 768 ))
    mkfs.ext4 -q -F -L perfsysroot -d "$b/root" "$b/rootfs.img" "${mb}M" >/dev/null
    cp "$b/root/bin/busybox" "$BUSYBOX.tmp"
    mv "$b/rootfs.img" "$IMG"
    mv "$BUSYBOX.tmp" "$BUSYBOX"
    rm -rf "$b"
    log "root filesystem built ($IMG)"
}

# ---- kernel: a Debian arm64 kernel package through an apt of our own (host dpkg untouched)
APTDIR=$CACHE/apt-arm64
apt_arm64() {
    local tool=$1
    shift
    "$tool" -o Dir::State::Lists="$APTDIR/lists" -o Dir::Cache="$APTDIR/cache" \
        -o Dir::Etc::SourceList=/dev/null -o Dir::Etc::SourceParts="$APTDIR/sources" \
        -o Dir::Etc::PreferencesParts="$APTDIR/prefs" -o Dir::State::status="$APTDIR/status" \
        -o APT::Architecture=arm64 -o APT::Architectures::=arm64 "$@"
}
kernel() {
    local meta pkg deb tree
    tree=$(ls -d "$CACHE"/kernel/linux-image-"$KERNEL".*-arm64_* 2>/dev/null | head -1 || true)
    if [ -z "$tree" ]; then
        log "fetching a Debian arm64 $KERNEL kernel"
        mkdir -p "$APTDIR"/{lists/partial,cache/archives/partial,sources,prefs} "$CACHE/kernel"
        touch "$APTDIR/status"
        # the host's Debian sources, arm64 only, plus backports
        local src
        for src in /etc/apt/sources.list.d/*.sources; do
            [ -e "$src" ] || continue
            sed -e 's/^\(Suites: .*\) \([a-z]*\)-updates$/\1 \2-updates \2-backports/' \
                -e 's/^Types: deb$/Types: deb\nArchitectures: arm64/' \
                "$src" > "$APTDIR/sources/$(basename "$src")"
        done
        if [ -z "$(ls "$APTDIR/sources")" ]; then  # one-line sources.list style
            sed -n 's/^deb \(http[^ ]*\) \([a-z]*\) \(.*\)$/deb [arch=arm64] \1 \2 \3\ndeb [arch=arm64] \1 \2-backports \3/p' \
                /etc/apt/sources.list > "$APTDIR/sources/debian.list"
        fi
        apt_arm64 apt-get -qq update
        case $KERNEL in
            6.1) meta="linux-image-arm64=$(apt_arm64 apt-cache policy linux-image-arm64 |
                        awk '/^ +[0-9]/ && $1 ~ /^6\.1\./ {print $1; exit}')" ;;
            *) meta="linux-image-$KERNEL-arm64" ;;
        esac
        pkg=$(apt_arm64 apt-cache depends "$meta" | awk '/Depends: linux-image-[0-9]/{print $2}' |
              grep -v unsigned | head -1)
        (cd "$CACHE/kernel" && apt_arm64 apt-get -qq download "$pkg" 2>/dev/null)
        deb=$(ls "$CACHE/kernel/${pkg}"_*.deb | head -1)
        tree=${deb%.deb}
        dpkg-deb -x "$deb" "$tree.tmp"
        mv "$tree.tmp" "$tree"
        rm -f "$deb"
    fi
    VMLINUZ=$(ls "$tree"/boot/vmlinuz-*)
    KVER=${VMLINUZ##*/vmlinuz-}
    INITRD=$CACHE/initrd-$KVER-$KEY.gz
    if [ ! -e "$INITRD" ]; then
        python3 "$HERE/mkinitramfs.py" "$tree" "$BUSYBOX" "$HERE/initramfs-init.sh" "$INITRD.tmp"
        mv "$INITRD.tmp" "$INITRD"
    fi
    log "kernel $KVER"
}

# ---- the work disk: the checkout's tracked files, the guest script, the selection
work_disk() {
    local w
    w=$(mktemp -d)
    mkdir -p "$w/perfsys" "$w/out"
    git -C "$ROOT" ls-files -z | tar -C "$ROOT" --null -T - -cf - | tar -C "$w/perfsys" -xf -
    cp "$HERE/guest.sh" "$w/"
    printf '%s\n' "$SELECTION" > "$w/selection"
    WORKIMG=$(mktemp --suffix=.img)
    trap 'rm -f "$WORKIMG"' EXIT
    mkfs.ext4 -q -F -L perfsyswork -d "$w" "$WORKIMG" 768M
    rm -rf "$w"
}

boot() {
    mkdir -p "$OUT"
    rm -rf "${OUT:?}"/*
    log "booting ($KVER, -cpu $CPU, selection: $SELECTION); console: $OUT/console.log"
    local rc=0 cpu=$CPU
    [ "$CPU" = max ] && cpu=max,pauth-impdef=on  # pointer authentication QEMU does faster
    # -icount shift=0: instructions count (INST_RETIRED), deterministically; the root disk is
    # a snapshot, so the cached image stays as it was.
    "${NICE[@]}" timeout "$GUEST_TIMEOUT" qemu-system-aarch64 \
        -M virt,gic-version=3 -cpu "$cpu" -smp "$SMP" -m "$MEM" -icount shift=0 \
        -display none -monitor none -serial "file:$OUT/console.log" -no-reboot -nic none \
        -kernel "$VMLINUZ" -initrd "$INITRD" -append "console=ttyAMA0 panic=-1 loglevel=6" \
        -drive if=none,id=root,file="$IMG",format=raw,snapshot=on \
        -device virtio-blk-pci,drive=root \
        -drive if=none,id=work,file="$WORKIMG",format=raw \
        -device virtio-blk-pci,drive=work || rc=$?
    [ $rc = 0 ] || log "qemu exit status $rc"
    debugfs -R "rdump /out $OUT" "$WORKIMG" >/dev/null 2>&1 || true
    rm -f "$WORKIMG"
    if [ -d "$OUT/out" ]; then
        mv "$OUT"/out/* "$OUT"/ 2>/dev/null || true
        rmdir "$OUT/out"
    fi
}

mkdir -p "$CACHE"
exec 9>"$CACHE/lock"
flock 9  # one build of the cache at a time
host_packages
rootfs
kernel
flock -u 9
[ "$SELECTION" = prepare ] && { log "cache ready in $CACHE"; exit 0; }
work_disk
boot
log "guest done; results in $OUT"
[ -e "$OUT/pytest.log" ] &&
    grep -E '^(FAILED|ERROR|SKIPPED)|^=+ .* in [0-9.]+s' "$OUT/pytest.log" >&2
if [ -e "$OUT/status" ]; then
    status=$(cat "$OUT/status")
    log "pytest exit status $status"
    exit "$status"
fi
log "the guest reported no exit status (see $OUT/console.log)"
tail -n 30 "$OUT/console.log" >&2 || true
exit 1
