#!/usr/bin/env python3
"""Writes a small initramfs (newc cpio, gzip) for a Debian arm64 kernel booted under QEMU.

It holds a static busybox, the modules that mounting ext4 on virtio-blk needs (each
module's dependencies read from its own .modinfo, so no depmod), and /init.

usage: mkinitramfs.py KERNEL_TREE BUSYBOX INIT_SCRIPT OUT
  KERNEL_TREE: a linux-image-*.deb extracted with dpkg-deb -x (has lib/modules/<version>/)
"""

from __future__ import annotations

import gzip
import lzma
import os
import stat
import sys

WANTED = ["virtio_pci", "virtio_mmio", "virtio_blk", "crc32c_generic", "ext4"]


def depends(data: bytes) -> list[str]:
    i = data.find(b"\0depends=")
    if i < 0:
        return []
    j = data.index(b"\0", i + 1)
    return [d.replace("-", "_") for d in data[i + 9 : j].decode().split(",") if d]


def newc(ino: int, path: str, mode: int, data: bytes) -> bytes:
    name = path.encode() + b"\0"
    fields = (ino, mode, 0, 0, 1, 0, len(data), 0, 0, 0, 0, len(name), 0)
    buf = ("070701" + "".join(f"{v:08x}" for v in fields)).encode() + name
    buf += b"\0" * (-len(buf) % 4) + data
    return buf + b"\0" * (-len(buf) % 4)


def main() -> None:
    tree, busybox, init, out = sys.argv[1:5]
    (version,) = os.listdir(os.path.join(tree, "lib/modules"))
    files: dict[str, str] = {}
    for d, _, names in os.walk(os.path.join(tree, "lib/modules", version)):
        for n in names:
            if n.endswith((".ko", ".ko.xz")):
                files[n.split(".ko")[0].replace("-", "_")] = os.path.join(d, n)

    def load(name: str) -> bytes:
        with open(files[name], "rb") as f:
            data = f.read()
        return lzma.decompress(data) if files[name].endswith(".xz") else data

    order: list[str] = []

    def visit(name: str) -> None:
        if name not in order:
            for dep in depends(load(name)):
                visit(dep)
            order.append(name)

    for w in WANTED:
        if w in files:
            visit(w)

    entries: list[tuple[str, int, bytes]] = [
        (d, stat.S_IFDIR | 0o755, b"")
        for d in ("bin", "dev", "proc", "sys", "newroot", "lib", "lib/modules")
    ]
    with open(busybox, "rb") as f:
        entries.append(("bin/busybox", stat.S_IFREG | 0o755, f.read()))
    entries.append(("bin/sh", stat.S_IFLNK | 0o777, b"busybox"))
    with open(init, "rb") as f:
        entries.append(("init", stat.S_IFREG | 0o755, f.read()))
    for name in order:
        entries.append((f"lib/modules/{name}.ko", stat.S_IFREG | 0o644, load(name)))
    listing = "".join(f"{n}.ko\n" for n in order).encode()
    entries.append(("modules.list", stat.S_IFREG | 0o644, listing))
    blob = b"".join(newc(i + 1, p, m, d) for i, (p, m, d) in enumerate(entries))
    with gzip.open(out, "wb", compresslevel=6) as f:
        f.write(blob + newc(0, "TRAILER!!!", 0, b""))


if __name__ == "__main__":
    main()
