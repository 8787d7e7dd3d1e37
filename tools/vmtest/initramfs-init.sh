#!/bin/sh
# /init of the guest's initramfs: load the virtio and ext4 modules, mount the root disk
# (label perfsysroot) and the work disk (label perfsyswork, at /qa), run /qa/guest.sh.
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
for m in $(cat /modules.list); do insmod "/lib/modules/$m" || echo "initramfs: insmod $m failed"; done
i=0
until root=$(findfs LABEL=perfsysroot 2>/dev/null) && work=$(findfs LABEL=perfsyswork 2>/dev/null); do
    i=$((i + 1)); [ $i -gt 300 ] && { echo "initramfs: disks not found"; ls /dev; poweroff -f; }
    sleep 0.1
done
mount -t ext4 -o rw "$root" /newroot || { echo "initramfs: cannot mount $root"; poweroff -f; }
mkdir -p /newroot/qa
mount -t ext4 -o rw "$work" /newroot/qa || { echo "initramfs: cannot mount $work"; poweroff -f; }
umount /proc /sys
mount --move /dev /newroot/dev
exec switch_root /newroot /bin/sh /qa/guest.sh
