#!/bin/sh
# PID 1 in the guest: mount the usual filesystems, build perfsys from /qa/perfsys, run the
# selection named in /qa/selection, leave pytest's log, junit XML and exit status in /qa/out,
# power off.
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t tmpfs tmpfs /tmp
mount -t tmpfs tmpfs /run
mkdir -p /dev/pts /dev/shm && mount -t devpts devpts /dev/pts && mount -t tmpfs tmpfs /dev/shm
mount -t tracefs nodev /sys/kernel/tracing 2>/dev/null
mount -t debugfs nodev /sys/kernel/debug 2>/dev/null
hostname perfsys-guest
mkdir -p /qa/out

run() {
    T0=$(date +%s)
    step() { echo "=== [$(( $(date +%s) - T0 ))s] $*"; }
    step "guest: $(uname -srm), $(nproc) CPUs"
    dmesg | grep -E 'hw perfevents' || echo "(no PMU driver message)"
    echo "event sources: $(ls /sys/bus/event_source/devices | tr '\n' ' ')"
    step "build perfsys"
    cd /qa/perfsys || return 1
    python3 setup.py -q build_ext --inplace > /qa/out/build.log 2>&1 || { tail -30 /qa/out/build.log; return 1; }
    sel=$(cat /qa/selection)
    case $sel in
        all) set -- ;;
        hw) set -- -m hardware ;;
        kprobe) set -- -m kprobe ;;
        hw,kprobe | kprobe,hw) set -- -m "hardware or kprobe" ;;
        *) set -- -k "$sel" ;;
    esac
    step "pytest $*"
    { PYTHONPATH=src python3 -m pytest -p no:cacheprovider -v -rs --junitxml=/qa/out/junit.xml "$@" 2>&1
      echo $? > /qa/out/status; } | tee /qa/out/pytest.log
    step "pytest exit status $(cat /qa/out/status)"
}
run 2>&1 | tee /qa/out/guest.log
sync
umount /qa 2>/dev/null
/bin/busybox poweroff -f
