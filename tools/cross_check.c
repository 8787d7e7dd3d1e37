/* Compiled by tools/cross_check.py for every target it cross-compiles
   src/_perfsys.c to: the numbers the extension hands the kernel must be the
   target kernel's own, as the target's UAPI headers (shipped by zig) define them.

   - the ioctl requests: _perfsys_abi.h builds them with <linux/ioctl.h>, whose
     encoding differs between architectures (powerpc, mips, sparc);
   - the perf_event_open system call number, from the C library's <sys/syscall.h>
     (musl keeps a table of its own; glibc takes the kernel's <asm/unistd.h>).

   The extension never includes <linux/perf_event.h>, and its header defines the
   same names, so this file saves the extension's values first, then undefines
   every macro _perfsys_abi.h defines (cross_check.py lists them in
   perfsys_abi_undef.h), then includes the kernel's header and compares. */

#include <features.h> /* __GLIBC__, on glibc */
#include <sys/syscall.h>

#include "_perfsys_abi.h"

/* Enumeration constants are ints: keep each request as two 16-bit halves. */
#define SAVE(name) saved_lo_##name = (name) & 0xffff, saved_hi_##name = ((name) >> 16) & 0xffff,
enum { PERFSYS_ABI_IOCTLS(SAVE) saved_nr_perf_event_open = __NR_perf_event_open };

#include "perfsys_abi_undef.h"
#undef PERFSYS_ABI_H

#include <linux/perf_event.h>

#define CHECK(name)                                                            \
    _Static_assert(((name) & 0xffff) == saved_lo_##name &&                     \
                       (((name) >> 16) & 0xffff) == saved_hi_##name,           \
                   #name ": _perfsys_abi.h and the kernel's header disagree");
PERFSYS_ABI_IOCTLS(CHECK)

#ifndef __GLIBC__
/* musl's own number, against the kernel's table. */
#  undef __NR_perf_event_open
#  pragma GCC diagnostic push
#  pragma GCC diagnostic ignored "-Wmacro-redefined"
#  include <asm/unistd.h>
#  pragma GCC diagnostic pop
#endif
_Static_assert(saved_nr_perf_event_open == __NR_perf_event_open,
               "__NR_perf_event_open: the C library and the kernel's <asm/unistd.h> disagree");
