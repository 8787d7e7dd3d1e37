/*
 * perfsys._perfsys: direct, unsafe bindings to Linux's perf_event_open(2).
 *
 * One C file, C API only. Layout of this file:
 *
 *   1. includes and compatibility shims
 *   2. kernel ABI numbers this file relies on (checked by tests against the
 *      generated layouts in perfsys.constants, through the `_abi` dict)
 *   3. per-section state, the module state that holds them, and the interfaces
 *      between sections
 *   4. section "core":   perf_event_open, the ioctls, counter reads, errors
 *   5. section "decode": record decoding
 *   6. section "ring":   RingBuffer (the mmap'ed ring buffer)
 *   7. module definition: multi-phase init, traverse/clear/free
 *
 * The file never includes <linux/perf_event.h>: the build machine's copy may be
 * years older than the ABI this file speaks (manylinux images carry 3.10 headers).
 */

/* ------------------------------------------------------------------------- */
/* 1. includes and compatibility shims                                        */
/* ------------------------------------------------------------------------- */

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <errno.h>
#include <poll.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>
#include <linux/ioctl.h>

#ifndef __NR_perf_event_open
#  error "this platform's <sys/syscall.h> has no perf_event_open"
#endif

/* Critical sections exist only where the GIL may be disabled (3.13t+), and are
   not part of the limited API. Elsewhere the GIL serialises object state. */
#if defined(Py_GIL_DISABLED) && !defined(Py_LIMITED_API)
#  define PERFSYS_BEGIN_CRITICAL(op) Py_BEGIN_CRITICAL_SECTION(op)
#  define PERFSYS_END_CRITICAL() Py_END_CRITICAL_SECTION()
#else
#  define PERFSYS_BEGIN_CRITICAL(op) {
#  define PERFSYS_END_CRITICAL() }
#endif

/* ------------------------------------------------------------------------- */
/* 2. kernel ABI numbers                                                      */
/* ------------------------------------------------------------------------- */
/* Each number here is a fact of the kernel's ABI. Every one of them is listed
   in `abi_table` below and compared by tests/test_abi.py with the generated
   perfsys.constants, so a typo here cannot go unnoticed. Sections add the
   numbers they need here (and to abi_table). */

#define PERF_ATTR_SIZE_VER0 64u
#define PERF_ATTR_OFFSET_SIZE 4u          /* offsetof(perf_event_attr, size) */

/* section "core" */
#define PERF_ATTR_OFFSET_TYPE 0u          /* offsetof(perf_event_attr, type) */
#define PERF_ATTR_OFFSET_CONFIG 8u        /* offsetof(perf_event_attr, config) */
#define PERF_ATTR_OFFSET_SAMPLE_TYPE 24u  /* offsetof(perf_event_attr, sample_type) */
#define PERF_ATTR_OFFSET_READ_FORMAT 32u  /* offsetof(perf_event_attr, read_format) */
#define PERF_ATTR_OFFSET_FLAGS 40u        /* the u64 holding disabled, inherit, ... */
#define PERF_ATTR_BIT_EXCLUDE_KERNEL 5u   /* exclude_kernel's bit in that u64 */
#define PERF_TYPE_HARDWARE 0u
#define PERF_TYPE_TRACEPOINT 2u
#define PERF_TYPE_HW_CACHE 3u
#define PERF_SAMPLE_RAW (1u << 10)
#define PERF_FORMAT_TOTAL_TIME_ENABLED (1u << 0)
#define PERF_FORMAT_TOTAL_TIME_RUNNING (1u << 1)
#define PERF_FORMAT_ID (1u << 2)
#define PERF_FORMAT_GROUP (1u << 3)
#define PERF_FORMAT_LOST (1u << 4)
#define PERF_IOC_FLAG_GROUP (1u << 0)
#define PERF_MMAP_OFFSET_LOCK 8u          /* offsetof(perf_event_mmap_page, lock) */
#define PERF_MMAP_OFFSET_INDEX 12u
#define PERF_MMAP_OFFSET_OFFSET 16u
#define PERF_MMAP_OFFSET_TIME_ENABLED 24u
#define PERF_MMAP_OFFSET_TIME_RUNNING 32u
#define PERF_MMAP_OFFSET_CAPABILITIES 40u
#define PERF_MMAP_OFFSET_PMC_WIDTH 48u
#define PERF_MMAP_OFFSET_TIME_SHIFT 50u
#define PERF_MMAP_OFFSET_TIME_MULT 52u
#define PERF_MMAP_OFFSET_TIME_OFFSET 56u
#define PERF_MMAP_OFFSET_TIME_CYCLES 80u
#define PERF_MMAP_OFFSET_TIME_MASK 88u
#define PERF_MMAP_CAP_USER_RDPMC (1u << 2)      /* cap_user_rdpmc's bit in capabilities */
#define PERF_MMAP_CAP_USER_TIME (1u << 3)
#define PERF_MMAP_CAP_USER_TIME_SHORT (1u << 5)

/* ------------------------------------------------------------------------- */
/* 3. section state, module state, interfaces between sections                */
/* ------------------------------------------------------------------------- */

/* section "core" */
typedef struct {
    PyTypeObject *counter_value_type;  /* CounterValue(value, time_enabled, time_running, id, lost) */
    PyTypeObject *group_member_type;   /* GroupMember(value, id, lost) */
    PyTypeObject *group_values_type;   /* GroupValues(time_enabled, time_running, values) */
    PyTypeObject *self_counter_type;   /* SelfCounter */
    PyObject *str_rdpmc;               /* "rdpmc", "read": SelfCounter.read()'s paths */
    PyObject *str_read;
} core_state;

/* section "decode" */
typedef struct {
    PyTypeObject *raw_record_type;   /* RawRecord(type, misc, data): shared by ring and decode */
} decode_state;

/* section "ring" */
typedef struct {
    int unused_;
} ring_state;

typedef struct {
    core_state core;
    decode_state decode;
    ring_state ring;
} perfsys_state;

static inline perfsys_state *
get_state(PyObject *module)
{
    return (perfsys_state *)PyModule_GetState(module);
}

/* Interfaces between sections: each is defined in the section named. They are
   marked unused so a section may be built before its callers exist. */
#define PERFSYS_INTERFACE static __attribute__((unused))

/* core: set an OSError for `err` from the named call ("perf_event_open",
   "ioctl(PERF_EVENT_IOC_ENABLE)", "mmap", ...) and return NULL. */
PERFSYS_INTERFACE PyObject *perfsys_set_oserror(int err, const char *call);

/* core: decode one read(2)-format value block laid out by `read_format`
   (PERF_FORMAT_*) from buf[0:len] into the same Python object that the counter
   read functions return for that read_format. Stores the bytes used in
   *used. Returns NULL with an exception set (ValueError) if `len` is too
   short; never reads past buf+len. Used by "decode" for PERF_SAMPLE_READ and
   PERF_RECORD_READ. */
PERFSYS_INTERFACE PyObject *core_decode_read_format(perfsys_state *st, uint64_t read_format,
                                         const unsigned char *buf, size_t len,
                                         size_t *used);

/* decode: a RawRecord(type, misc, data) for one record; `rec` points at its
   perf_event_header, `size` is the whole record's size, header included. */
PERFSYS_INTERFACE PyObject *decode_raw_record(perfsys_state *st, const unsigned char *rec,
                                   size_t size);

/* decode: is `obj` a Decoder? */
PERFSYS_INTERFACE int decode_is_decoder(perfsys_state *st, PyObject *obj);

/* decode: decode one whole record with `decoder` (a Decoder). `rec` points at
   its perf_event_header and `size` is header.size, which the caller has
   already checked is >= 8 and fits in its buffer. Returns a new reference or
   NULL with an exception set. */
PERFSYS_INTERFACE PyObject *decode_record(PyObject *decoder, const unsigned char *rec,
                               size_t size);

/* Per-section hooks called by the module definition (section 7). */
static int core_exec(PyObject *m, perfsys_state *st);
static int core_traverse(core_state *s, visitproc visit, void *arg);
static void core_clear(core_state *s);
static int decode_exec(PyObject *m, perfsys_state *st);
static int decode_traverse(decode_state *s, visitproc visit, void *arg);
static void decode_clear(decode_state *s);
static int ring_exec(PyObject *m, perfsys_state *st);
static int ring_traverse(ring_state *s, visitproc visit, void *arg);
static void ring_clear(ring_state *s);

/* ------------------------------------------------------------------------- */
/* 4. section "core"                                                          */
/* ------------------------------------------------------------------------- */

#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

/* ---- 4.0 ioctl request numbers ------------------------------------------ */

/* The ioctl request numbers, built by this compiler for this architecture the
   way the UAPI header builds them (the encoding differs on powerpc, mips,
   sparc). The last three take the size of a pointer type, as the header does;
   the structs are only named, never defined, here. */
struct perf_event_attr;
struct perf_event_query_bpf;

#define PERFSYS_IOC_ENABLE _IO('$', 0)
#define PERFSYS_IOC_DISABLE _IO('$', 1)
#define PERFSYS_IOC_REFRESH _IO('$', 2)
#define PERFSYS_IOC_RESET _IO('$', 3)
#define PERFSYS_IOC_PERIOD _IOW('$', 4, uint64_t)
#define PERFSYS_IOC_SET_OUTPUT _IO('$', 5)
#define PERFSYS_IOC_SET_FILTER _IOW('$', 6, char *)
#define PERFSYS_IOC_ID _IOR('$', 7, uint64_t *)
#define PERFSYS_IOC_SET_BPF _IOW('$', 8, uint32_t)
#define PERFSYS_IOC_PAUSE_OUTPUT _IOW('$', 9, uint32_t)
#define PERFSYS_IOC_QUERY_BPF _IOWR('$', 10, struct perf_event_query_bpf *)
#define PERFSYS_IOC_MODIFY_ATTRIBUTES _IOW('$', 11, struct perf_event_attr *)

static const struct {
    const char *name;
    unsigned long request;
} core_ioctl_numbers[] = {
    {"PERF_EVENT_IOC_ENABLE", PERFSYS_IOC_ENABLE},
    {"PERF_EVENT_IOC_DISABLE", PERFSYS_IOC_DISABLE},
    {"PERF_EVENT_IOC_REFRESH", PERFSYS_IOC_REFRESH},
    {"PERF_EVENT_IOC_RESET", PERFSYS_IOC_RESET},
    {"PERF_EVENT_IOC_PERIOD", PERFSYS_IOC_PERIOD},
    {"PERF_EVENT_IOC_SET_OUTPUT", PERFSYS_IOC_SET_OUTPUT},
    {"PERF_EVENT_IOC_SET_FILTER", PERFSYS_IOC_SET_FILTER},
    {"PERF_EVENT_IOC_ID", PERFSYS_IOC_ID},
    {"PERF_EVENT_IOC_SET_BPF", PERFSYS_IOC_SET_BPF},
    {"PERF_EVENT_IOC_PAUSE_OUTPUT", PERFSYS_IOC_PAUSE_OUTPUT},
    {"PERF_EVENT_IOC_QUERY_BPF", PERFSYS_IOC_QUERY_BPF},
    {"PERF_EVENT_IOC_MODIFY_ATTRIBUTES", PERFSYS_IOC_MODIFY_ATTRIBUTES},
};

/* ---- 4.1 errors ---------------------------------------------------------- */

/* PySys_Audit joined the limited API in 3.13, with the signature it has had
   since 3.8; every CPython this module loads into (3.11+) exports it. */
#if defined(Py_LIMITED_API) && Py_LIMITED_API + 0 < 0x030D0000
PyAPI_FUNC(int) PySys_Audit(const char *event, const char *argFormat, ...);
#endif

/* OSError(err, "<call>: <strerror>[. <detail>]"): OSError's constructor picks
   the subclass for err (PermissionError, FileNotFoundError, ...). */
static PyObject *
core_raise_oserror(int err, const char *call, const char *detail)
{
    PyObject *msg;
    if (detail != NULL && detail[0] != '\0') {
        msg = PyUnicode_FromFormat("%s: %s. %s", call, strerror(err), detail);
    }
    else {
        msg = PyUnicode_FromFormat("%s: %s", call, strerror(err));
    }
    if (msg == NULL) {
        return NULL;
    }
    PyObject *args = Py_BuildValue("(iN)", err, msg);
    if (args == NULL) {
        return NULL;
    }
    PyObject *exc = PyObject_Call(PyExc_OSError, args, NULL);
    Py_DECREF(args);
    if (exc == NULL) {
        return NULL;
    }
    PyErr_SetObject((PyObject *)Py_TYPE(exc), exc);
    Py_DECREF(exc);
    return NULL;
}

static PyObject *
perfsys_set_oserror(int err, const char *call)
{
    return core_raise_oserror(err, call, NULL);
}

/* Like PyErr_Format, with C's printf (PyUnicode_FromFormat has no %llx). */
static void
core_errorf(PyObject *exc, const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    PyErr_SetString(exc, buf);
}

/* ---- 4.2 small argument parsers ------------------------------------------ */

/* TypeError "<what> must be <expected>, not <type name>"; returns -1. */
static int
core_wrong_type(const char *what, const char *expected, PyObject *obj)
{
    PyObject *name = PyType_GetName(Py_TYPE(obj));
    if (name == NULL) {
        return -1;
    }
    PyErr_Format(PyExc_TypeError, "%s must be %s, not %U", what, expected, name);
    Py_DECREF(name);
    return -1;
}

/* A file descriptor: an int >= 0 (or an object with fileno()). Negative is
   ValueError, too large OverflowError, anything else TypeError. */
static int
core_fd(PyObject *obj, const char *what, int *out)
{
    if (PyLong_Check(obj)) {
        int overflow = 0;
        long v = PyLong_AsLongAndOverflow(obj, &overflow);
        if (v == -1 && PyErr_Occurred()) {
            return -1;
        }
        if (overflow > 0 || v > INT_MAX) {
            PyErr_Format(PyExc_OverflowError, "%s is too large for a file descriptor", what);
            return -1;
        }
        if (overflow < 0 || v < 0) {
            PyErr_Format(PyExc_ValueError, "%s must be a file descriptor (>= 0), not %R",
                         what, obj);
            return -1;
        }
        *out = (int)v;
        return 0;
    }
    int fd = PyObject_AsFileDescriptor(obj);
    if (fd < 0) {
        if (!PyErr_Occurred()) {
            PyErr_Format(PyExc_ValueError, "%s must be a file descriptor (>= 0)", what);
        }
        return -1;
    }
    *out = fd;
    return 0;
}

/* An int in [lo, hi]; out of range is OverflowError when it does not fit the
   C type at all and ValueError otherwise. */
static int
core_int_in(PyObject *obj, const char *what, long long lo, long long hi, long long ctype_lo,
            long long ctype_hi, long long *out)
{
    if (!PyLong_Check(obj)) {
        return core_wrong_type(what, "an int", obj);
    }
    int overflow = 0;
    long long v = PyLong_AsLongLongAndOverflow(obj, &overflow);
    if (v == -1 && PyErr_Occurred()) {
        return -1;
    }
    if (overflow != 0 || v < ctype_lo || v > ctype_hi) {
        PyErr_Format(PyExc_OverflowError, "%s=%R does not fit the kernel's argument (%lld..%lld)",
                     what, obj, ctype_lo, ctype_hi);
        return -1;
    }
    if (v < lo || v > hi) {
        PyErr_Format(PyExc_ValueError, "%s=%R is out of range (%lld..%lld)", what, obj, lo, hi);
        return -1;
    }
    *out = v;
    return 0;
}

/* An unsigned 64-bit int. */
static int
core_u64(PyObject *obj, const char *what, uint64_t *out)
{
    if (!PyLong_Check(obj)) {
        return core_wrong_type(what, "an int", obj);
    }
    unsigned long long v = PyLong_AsUnsignedLongLong(obj);
    if (v == (unsigned long long)-1 && PyErr_Occurred()) {
        PyErr_Clear();
        PyErr_Format(PyExc_OverflowError, "%s=%R is not in 0..2**64-1", what, obj);
        return -1;
    }
    *out = (uint64_t)v;
    return 0;
}

/* Positional-or-keyword arguments for a METH_FASTCALL|METH_KEYWORDS function:
   fills out[0..n) with borrowed references (NULL where not given). */
static int
core_parse(const char *fname, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames,
           const char *const *names, Py_ssize_t nrequired, Py_ssize_t n, PyObject **out)
{
    if (nargs > n) {
        PyErr_Format(PyExc_TypeError, "%s() takes at most %zd arguments (%zd given)", fname, n,
                     nargs);
        return -1;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        out[i] = i < nargs ? args[i] : NULL;
    }
    if (kwnames != NULL) {
        Py_ssize_t nkw = PyTuple_Size(kwnames);
        for (Py_ssize_t k = 0; k < nkw; k++) {
            PyObject *key = PyTuple_GetItem(kwnames, k);
            if (key == NULL) {
                return -1;
            }
            Py_ssize_t i = 0;
            while (i < n && PyUnicode_CompareWithASCIIString(key, names[i]) != 0) {
                i++;
            }
            if (i == n) {
                PyErr_Format(PyExc_TypeError, "%s() got an unexpected keyword argument %R",
                             fname, key);
                return -1;
            }
            if (out[i] != NULL) {
                PyErr_Format(PyExc_TypeError, "%s() got multiple values for argument '%s'",
                             fname, names[i]);
                return -1;
            }
            out[i] = args[nargs + k];
        }
    }
    for (Py_ssize_t i = 0; i < nrequired; i++) {
        if (out[i] == NULL) {
            PyErr_Format(PyExc_TypeError, "%s() missing required argument '%s'", fname,
                         names[i]);
            return -1;
        }
    }
    return 0;
}

static int
core_nargs(const char *fname, Py_ssize_t nargs, Py_ssize_t lo, Py_ssize_t hi)
{
    if (nargs < lo || nargs > hi) {
        if (lo == hi) {
            PyErr_Format(PyExc_TypeError, "%s() takes exactly %zd arguments (%zd given)", fname,
                         lo, nargs);
        }
        else {
            PyErr_Format(PyExc_TypeError, "%s() takes %zd to %zd arguments (%zd given)", fname,
                         lo, hi, nargs);
        }
        return -1;
    }
    return 0;
}

/* A writable, contiguous perf_event_attr buffer the kernel may read in full:
   at least PERF_ATTR_SIZE_VER0 bytes and at least its own `size` field (0
   means PERF_ATTR_SIZE_VER0 to the kernel). */
static int
core_attr_buffer(PyObject *attr, const char *fname, Py_buffer *view)
{
    if (!PyObject_CheckBuffer(attr)) {
        char what[96];
        snprintf(what, sizeof(what), "%s: attr", fname);
        return core_wrong_type(what,
                               "a writable buffer holding a perf_event_attr "
                               "(perfsys.perf_event_attr(), a bytearray...)",
                               attr);
    }
    if (PyObject_GetBuffer(attr, view, PyBUF_SIMPLE) < 0) {
        return -1;
    }
    if (view->readonly) {
        PyBuffer_Release(view);
        PyObject *name = PyType_GetName(Py_TYPE(attr));
        if (name != NULL) {
            PyErr_Format(PyExc_TypeError,
                         "%s: attr must be a writable buffer (the kernel writes its own "
                         "attr size into attr.size on E2BIG); this %U is read-only",
                         fname, name);
            Py_DECREF(name);
        }
        return -1;
    }
    if (view->len < (Py_ssize_t)PERF_ATTR_SIZE_VER0) {
        PyErr_Format(PyExc_ValueError,
                     "%s: attr holds %zd bytes, fewer than PERF_ATTR_SIZE_VER0 (%u)", fname,
                     view->len, PERF_ATTR_SIZE_VER0);
        PyBuffer_Release(view);
        return -1;
    }
    uint32_t size;
    memcpy(&size, (const char *)view->buf + PERF_ATTR_OFFSET_SIZE, sizeof(size));
    if ((uint64_t)view->len < (uint64_t)(size == 0 ? PERF_ATTR_SIZE_VER0 : size)) {
        PyErr_Format(PyExc_ValueError,
                     "%s: attr.size is %u but the buffer holds only %zd bytes: the kernel "
                     "would read past its end",
                     fname, (unsigned)size, view->len);
        PyBuffer_Release(view);
        return -1;
    }
    return 0;
}

/* ---- 4.3 perf_event_open ------------------------------------------------- */

/* Bits of the flag word of perf_event_attr (declaration order; on big-endian
   machines the compiler allocates bitfields from the top bit down). */
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
#  define CORE_ATTR_BIT(flags, n) (((flags) >> (63 - (n))) & 1u)
#else
#  define CORE_ATTR_BIT(flags, n) (((flags) >> (n)) & 1u)
#endif

static int
core_read_paranoid(void)
{
    char buf[32];
    int fd = open("/proc/sys/kernel/perf_event_paranoid", O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return INT_MIN;
    }
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0) {
        return INT_MIN;
    }
    buf[n] = '\0';
    char *end;
    long v = strtol(buf, &end, 10);
    if (end == buf || v < INT_MIN + 1 || v > INT_MAX) {
        return INT_MIN;
    }
    return (int)v;
}

static void
core_append(char *buf, size_t cap, const char *fmt, ...)
{
    size_t used = strlen(buf);
    if (used + 1 >= cap) {
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf + used, cap - used, fmt, ap);
    va_end(ap);
}

/* The detail of a failed perf_event_open, from errno and the attr. */
static void
core_open_detail(int err, const unsigned char *attr, uint32_t size_before, int pid, int cpu,
                 int group_fd, char *out, size_t cap)
{
    uint32_t type;
    uint64_t config, sample_type, flags;
    memcpy(&type, attr + PERF_ATTR_OFFSET_TYPE, 4);
    memcpy(&config, attr + PERF_ATTR_OFFSET_CONFIG, 8);
    memcpy(&sample_type, attr + PERF_ATTR_OFFSET_SAMPLE_TYPE, 8);
    memcpy(&flags, attr + PERF_ATTR_OFFSET_FLAGS, 8);
    out[0] = '\0';
    switch (err) {
    case EACCES:
    case EPERM: {
        int p = core_read_paranoid();
        if (p == INT_MIN) {
            core_append(out, cap, "/proc/sys/kernel/perf_event_paranoid could not be read");
        }
        else if (p >= 3) {
            core_append(out, cap,
                         "kernel.perf_event_paranoid is %d, which refuses perf_event_open to "
                         "processes without CAP_PERFMON: lower it to 2 or less "
                         "(sysctl -w kernel.perf_event_paranoid=2)",
                         p);
        }
        else {
            int reasons = 0;
            core_append(out, cap, "kernel.perf_event_paranoid is %d", p);
            if (p >= 2 && !CORE_ATTR_BIT(flags, PERF_ATTR_BIT_EXCLUDE_KERNEL)) {
                core_append(out, cap,
                             "; this event counts kernel mode too: set exclude_kernel=1 "
                             "(and exclude_hv=1), or lower it to 1");
                reasons++;
            }
            if (p >= 1 && pid == -1) {
                core_append(out, cap,
                             "; a CPU-wide event (pid=-1, cpu=%d) needs it at 0 or less", cpu);
                reasons++;
            }
            if (p >= 0 && type == PERF_TYPE_TRACEPOINT &&
                (sample_type & PERF_SAMPLE_RAW) != 0) {
                core_append(out, cap,
                             "; raw tracepoint samples (PERF_SAMPLE_RAW) need it at -1");
                reasons++;
            }
            if (reasons == 0) {
                core_append(out, cap,
                             ", which allows this event: the target process (pid=%d) may "
                             "need ptrace access, or a security module refused",
                             pid);
            }
        }
        core_append(out, cap, "; CAP_PERFMON (CAP_SYS_ADMIN before Linux 5.8) allows it");
        break;
    }
    case E2BIG: {
        uint32_t now;
        memcpy(&now, attr + PERF_ATTR_OFFSET_SIZE, 4);
        core_append(out, cap,
                     "attr.size was %u; this kernel's perf_event_attr is %u bytes (written "
                     "back into attr.size), and attr sets a field beyond it",
                     (unsigned)size_before, (unsigned)now);
        break;
    }
    case ENOENT:
        if (type == PERF_TYPE_HARDWARE || type == PERF_TYPE_HW_CACHE) {
            core_append(out, cap,
                         "this machine has no hardware PMU for PERF_TYPE_%s events, or the "
                         "PMU lacks config 0x%llx (virtual machines often have none)",
                         type == PERF_TYPE_HARDWARE ? "HARDWARE" : "HW_CACHE",
                         (unsigned long long)config);
        }
        else {
            core_append(out, cap, "PMU type %u has no event with config 0x%llx",
                         (unsigned)type, (unsigned long long)config);
        }
        break;
    case ENODEV:
        core_append(out, cap,
                     "no PMU of type %u here, it cannot count on cpu %d, or that cpu is "
                     "offline",
                     (unsigned)type, cpu);
        break;
    case EOPNOTSUPP:
        core_append(out, cap,
                     "PMU type %u cannot do what attr asks (sampling without an overflow "
                     "interrupt, branch stacks, exclude_* filters...)",
                     (unsigned)type);
        break;
    case ESRCH:
        core_append(out, cap, "no process %d", pid);
        break;
    case EBADF:
        core_append(out, cap, "group_fd %d is not an open perf event", group_fd);
        break;
    case EINVAL:
        if (pid == -1 && cpu == -1) {
            core_append(out, cap, "pid=-1 needs a cpu >= 0 (cpu=-1 with it would be everything)");
            break;
        }
        core_append(out, cap,
                     "the kernel refused attr (type %u, config 0x%llx) or an argument: check "
                     "reserved bits, sample_period/freq, read_format, flags, pid/cpu",
                     (unsigned)type, (unsigned long long)config);
        break;
    default:
        break;
    }
}

PyDoc_STRVAR(core_perf_event_open_doc,
"perf_event_open($module, /, attr, pid, cpu, group_fd=-1, flags=0)\n"
"--\n"
"\n"
"Open a perf event; return its file descriptor (an int the caller must close).\n"
"\n"
"attr is a writable buffer holding a perf_event_attr (perfsys.perf_event_attr()),\n"
"at least PERF_ATTR_SIZE_VER0 bytes and at least its own size field; the kernel\n"
"writes its own size into attr.size on E2BIG. pid: 0 for this thread, -1 for any\n"
"(with cpu >= 0), or a pid; cpu: -1 for any, or a cpu number; group_fd: -1 or a\n"
"group leader's fd; flags: PERF_FLAG_*. Raises OSError (PermissionError,\n"
"FileNotFoundError, ...) carrying errno, with a message saying what to change.");

static PyObject *
core_perf_event_open(PyObject *module, PyObject *const *args, Py_ssize_t nargs,
                     PyObject *kwnames)
{
    static const char *const names[] = {"attr", "pid", "cpu", "group_fd", "flags"};
    PyObject *a[5];
    long long pid, cpu, group_fd = -1, flags = 0;
    (void)module;
    if (core_parse("perf_event_open", args, nargs, kwnames, names, 3, 5, a) < 0) {
        return NULL;
    }
    if (core_int_in(a[1], "pid", -1, INT_MAX, INT_MIN, INT_MAX, &pid) < 0 ||
        core_int_in(a[2], "cpu", -1, INT_MAX, INT_MIN, INT_MAX, &cpu) < 0 ||
        (a[3] != NULL &&
         core_int_in(a[3], "group_fd", -1, INT_MAX, INT_MIN, INT_MAX, &group_fd) < 0) ||
        (a[4] != NULL &&
         core_int_in(a[4], "flags", 0, LONG_MAX, 0, LONG_MAX, &flags) < 0)) {
        return NULL;
    }
    Py_buffer view;
    if (core_attr_buffer(a[0], "perf_event_open", &view) < 0) {
        return NULL;
    }
    if (PySys_Audit("perfsys.perf_event_open", "OiiiK", a[0], (int)pid, (int)cpu,
                    (int)group_fd, (unsigned long long)flags) < 0) {
        PyBuffer_Release(&view);
        return NULL;
    }
    long fd;
    int err = 0;
    uint32_t size_before;
    memcpy(&size_before, (const unsigned char *)view.buf + PERF_ATTR_OFFSET_SIZE, 4);
    for (;;) {
        Py_BEGIN_ALLOW_THREADS
        fd = syscall(__NR_perf_event_open, view.buf, (int)pid, (int)cpu, (int)group_fd,
                     (unsigned long)flags);
        err = errno;
        Py_END_ALLOW_THREADS
        if (fd >= 0 || err != EINTR) {
            break;
        }
        if (PyErr_CheckSignals() < 0) {
            PyBuffer_Release(&view);
            return NULL;
        }
    }
    if (fd < 0) {
        char detail[768];
        char call[160];
        uint32_t type;
        uint64_t config;
        memcpy(&type, (const unsigned char *)view.buf + PERF_ATTR_OFFSET_TYPE, 4);
        memcpy(&config, (const unsigned char *)view.buf + PERF_ATTR_OFFSET_CONFIG, 8);
        core_open_detail(err, view.buf, size_before, (int)pid, (int)cpu, (int)group_fd, detail,
                         sizeof(detail));
        snprintf(call, sizeof(call),
                 "perf_event_open(type=%u, config=0x%llx, pid=%d, cpu=%d, group_fd=%d, "
                 "flags=0x%llx)",
                 (unsigned)type, (unsigned long long)config, (int)pid, (int)cpu,
                 (int)group_fd, (unsigned long long)flags);
        PyBuffer_Release(&view);
        return core_raise_oserror(err, call, detail);
    }
    PyBuffer_Release(&view);
    return PyLong_FromLong(fd);
}

/* ---- 4.4 the ioctls ------------------------------------------------------ */

/* ioctl(fd, request, arg), EINTR retried after the signal handlers ran. The
   GIL is released around it: ENABLE/DISABLE/REFRESH/... take the event
   context's mutex and may wait for a cross-CPU call (see the README's "GIL"). */
static int
core_do_ioctl(int fd, unsigned long request, unsigned long arg, int *err)
{
    int r;
    for (;;) {
        Py_BEGIN_ALLOW_THREADS
        r = ioctl(fd, request, arg);
        *err = errno;
        Py_END_ALLOW_THREADS
        if (r >= 0 || *err != EINTR) {
            return r;
        }
        if (PyErr_CheckSignals() < 0) {
            *err = 0;
            return -1;
        }
    }
}

static PyObject *
core_ioctl_error(int err, const char *name, int fd, const char *extra)
{
    char call[96];
    char detail[320];
    if (err == 0) {
        return NULL; /* a signal handler raised */
    }
    snprintf(call, sizeof(call), "ioctl(%d, PERF_EVENT_IOC_%s)", fd, name);
    detail[0] = '\0';
    if (err == EBADF) {
        snprintf(detail, sizeof(detail), "fd %d is not open", fd);
    }
    else if (err == ENOTTY) {
        snprintf(detail, sizeof(detail), "fd %d is not a perf event", fd);
    }
    else if (extra != NULL) {
        snprintf(detail, sizeof(detail), "%s", extra);
    }
    return core_raise_oserror(err, call, detail);
}

static int
core_audit_ioctl(const char *name, int fd, PyObject *arg)
{
    return PySys_Audit("perfsys.ioctl", "isO", fd, name, arg == NULL ? Py_None : arg);
}

/* ENABLE, DISABLE, RESET: (fd, flags=0) where flags is 0 or PERF_IOC_FLAG_GROUP. */
static PyObject *
core_ioctl_flags(PyObject *const *args, Py_ssize_t nargs, const char *name,
                 unsigned long request)
{
    int fd, err;
    long long flags = 0;
    if (core_nargs(name, nargs, 1, 2) < 0 || core_fd(args[0], "fd", &fd) < 0) {
        return NULL;
    }
    if (nargs > 1 &&
        core_int_in(args[1], "flags", 0, PERF_IOC_FLAG_GROUP, LLONG_MIN, LLONG_MAX, &flags) < 0) {
        return NULL;
    }
    if (core_audit_ioctl(name, fd, nargs > 1 ? args[1] : NULL) < 0) {
        return NULL;
    }
    if (core_do_ioctl(fd, request, (unsigned long)flags, &err) < 0) {
        return core_ioctl_error(err, name, fd, NULL);
    }
    Py_RETURN_NONE;
}

PyDoc_STRVAR(core_ioctl_enable_doc,
"ENABLE($module, fd, flags=0, /)\n--\n\n"
"PERF_EVENT_IOC_ENABLE: start counting. flags=PERF_IOC_FLAG_GROUP enables the\n"
"whole group of which fd is the leader.");

static PyObject *
core_ioctl_enable(PyObject *m, PyObject *const *args, Py_ssize_t nargs)
{
    (void)m;
    return core_ioctl_flags(args, nargs, "ENABLE", PERFSYS_IOC_ENABLE);
}

PyDoc_STRVAR(core_ioctl_disable_doc,
"DISABLE($module, fd, flags=0, /)\n--\n\n"
"PERF_EVENT_IOC_DISABLE: stop counting. flags=PERF_IOC_FLAG_GROUP disables the\n"
"whole group of which fd is the leader.");

static PyObject *
core_ioctl_disable(PyObject *m, PyObject *const *args, Py_ssize_t nargs)
{
    (void)m;
    return core_ioctl_flags(args, nargs, "DISABLE", PERFSYS_IOC_DISABLE);
}

PyDoc_STRVAR(core_ioctl_reset_doc,
"RESET($module, fd, flags=0, /)\n--\n\n"
"PERF_EVENT_IOC_RESET: set the count to zero (not the enabled/running times).\n"
"flags=PERF_IOC_FLAG_GROUP resets the whole group of which fd is the leader.");

static PyObject *
core_ioctl_reset(PyObject *m, PyObject *const *args, Py_ssize_t nargs)
{
    (void)m;
    return core_ioctl_flags(args, nargs, "RESET", PERFSYS_IOC_RESET);
}

PyDoc_STRVAR(core_ioctl_refresh_doc,
"REFRESH($module, fd, n, /)\n--\n\n"
"PERF_EVENT_IOC_REFRESH: add n to the event's overflow limit and enable it; the\n"
"event disables itself after n overflows. Only for sampling events without\n"
"inherit; the kernel takes no PERF_IOC_FLAG_GROUP here.");

static PyObject *
core_ioctl_refresh(PyObject *m, PyObject *const *args, Py_ssize_t nargs)
{
    int fd, err;
    long long n;
    (void)m;
    if (core_nargs("REFRESH", nargs, 2, 2) < 0 || core_fd(args[0], "fd", &fd) < 0 ||
        core_int_in(args[1], "n", 0, INT_MAX, INT_MIN, INT_MAX, &n) < 0) {
        return NULL;
    }
    if (core_audit_ioctl("REFRESH", fd, args[1]) < 0) {
        return NULL;
    }
    if (core_do_ioctl(fd, PERFSYS_IOC_REFRESH, (unsigned long)n, &err) < 0) {
        return core_ioctl_error(err, "REFRESH", fd,
                                err == EINVAL ? "REFRESH needs a sampling event "
                                                "(sample_period != 0) without inherit"
                                              : NULL);
    }
    Py_RETURN_NONE;
}

PyDoc_STRVAR(core_ioctl_period_doc,
"PERIOD($module, fd, period, /)\n--\n\n"
"PERF_EVENT_IOC_PERIOD: set the sample period (or frequency, with attr.freq) to\n"
"period, passed to the kernel by pointer as a u64.");

static PyObject *
core_ioctl_period(PyObject *m, PyObject *const *args, Py_ssize_t nargs)
{
    int fd, err;
    uint64_t period;
    (void)m;
    if (core_nargs("PERIOD", nargs, 2, 2) < 0 || core_fd(args[0], "fd", &fd) < 0 ||
        core_u64(args[1], "period", &period) < 0) {
        return NULL;
    }
    if (core_audit_ioctl("PERIOD", fd, args[1]) < 0) {
        return NULL;
    }
    if (core_do_ioctl(fd, PERFSYS_IOC_PERIOD, (unsigned long)(uintptr_t)&period, &err) < 0) {
        return core_ioctl_error(err, "PERIOD", fd,
                                err == EINVAL ? "the event is not a sampling event, the "
                                                "period is 0, or a frequency is above "
                                                "kernel.perf_event_max_sample_rate"
                                              : NULL);
    }
    Py_RETURN_NONE;
}

PyDoc_STRVAR(core_ioctl_set_output_doc,
"SET_OUTPUT($module, fd, target_fd, /)\n--\n\n"
"PERF_EVENT_IOC_SET_OUTPUT: send fd's records into target_fd's ring buffer\n"
"(same cpu, same clock); target_fd=-1 stops the redirection.");

static PyObject *
core_ioctl_set_output(PyObject *m, PyObject *const *args, Py_ssize_t nargs)
{
    int fd, err;
    long long target;
    (void)m;
    if (core_nargs("SET_OUTPUT", nargs, 2, 2) < 0 || core_fd(args[0], "fd", &fd) < 0 ||
        core_int_in(args[1], "target_fd", -1, INT_MAX, INT_MIN, INT_MAX, &target) < 0) {
        return NULL;
    }
    if (core_audit_ioctl("SET_OUTPUT", fd, args[1]) < 0) {
        return NULL;
    }
    if (core_do_ioctl(fd, PERFSYS_IOC_SET_OUTPUT, (unsigned long)(long)target, &err) < 0) {
        return core_ioctl_error(err, "SET_OUTPUT", fd,
                                err == EINVAL ? "the target must be a perf event on the same "
                                                "cpu (or both per-task) with the same clock, "
                                                "and fd must not have its own mapping"
                                              : NULL);
    }
    Py_RETURN_NONE;
}

PyDoc_STRVAR(core_ioctl_set_filter_doc,
"SET_FILTER($module, fd, filter, /)\n--\n\n"
"PERF_EVENT_IOC_SET_FILTER: set a tracepoint filter expression (str or bytes,\n"
"e.g. \"common_pid == 42\"), or an address filter for PMUs that take one.");

static PyObject *
core_ioctl_set_filter(PyObject *m, PyObject *const *args, Py_ssize_t nargs)
{
    int fd, err;
    const char *text;
    Py_ssize_t len;
    (void)m;
    if (core_nargs("SET_FILTER", nargs, 2, 2) < 0 || core_fd(args[0], "fd", &fd) < 0) {
        return NULL;
    }
    if (PyUnicode_Check(args[1])) {
        text = PyUnicode_AsUTF8AndSize(args[1], &len);
        if (text == NULL) {
            return NULL;
        }
    }
    else if (PyBytes_Check(args[1])) {
        char *b;
        if (PyBytes_AsStringAndSize(args[1], &b, &len) < 0) {
            return NULL;
        }
        text = b;
    }
    else {
        core_wrong_type("filter", "str or bytes", args[1]);
        return NULL;
    }
    if ((size_t)len != strlen(text)) {
        PyErr_SetString(PyExc_ValueError, "filter must not contain a NUL character");
        return NULL;
    }
    if (core_audit_ioctl("SET_FILTER", fd, args[1]) < 0) {
        return NULL;
    }
    if (core_do_ioctl(fd, PERFSYS_IOC_SET_FILTER, (unsigned long)(uintptr_t)text, &err) < 0) {
        return core_ioctl_error(err, "SET_FILTER", fd,
                                err == EINVAL ? "the kernel could not parse the filter for "
                                                "this event (field names are the "
                                                "tracepoint's format fields)"
                                : err == EEXIST ? "a tracepoint event takes one filter, once: "
                                                  "open a new event for another"
                                                : NULL);
    }
    Py_RETURN_NONE;
}

PyDoc_STRVAR(core_ioctl_id_doc,
"ID($module, fd, /)\n--\n\n"
"PERF_EVENT_IOC_ID: return the event's id (the one PERF_FORMAT_ID and\n"
"PERF_SAMPLE_ID/IDENTIFIER report).");

static PyObject *
core_ioctl_id(PyObject *m, PyObject *arg)
{
    int fd, err;
    uint64_t id = 0;
    (void)m;
    if (core_fd(arg, "fd", &fd) < 0) {
        return NULL;
    }
    if (core_audit_ioctl("ID", fd, NULL) < 0) {
        return NULL;
    }
    if (core_do_ioctl(fd, PERFSYS_IOC_ID, (unsigned long)(uintptr_t)&id, &err) < 0) {
        return core_ioctl_error(err, "ID", fd, NULL);
    }
    return PyLong_FromUnsignedLongLong(id);
}

PyDoc_STRVAR(core_ioctl_set_bpf_doc,
"SET_BPF($module, fd, prog_fd, /)\n--\n\n"
"PERF_EVENT_IOC_SET_BPF: attach the BPF program prog_fd (a tracing program) to\n"
"the event (a tracepoint, kprobe or uprobe).");

static PyObject *
core_ioctl_set_bpf(PyObject *m, PyObject *const *args, Py_ssize_t nargs)
{
    int fd, prog, err;
    (void)m;
    if (core_nargs("SET_BPF", nargs, 2, 2) < 0 || core_fd(args[0], "fd", &fd) < 0 ||
        core_fd(args[1], "prog_fd", &prog) < 0) {
        return NULL;
    }
    if (core_audit_ioctl("SET_BPF", fd, args[1]) < 0) {
        return NULL;
    }
    if (core_do_ioctl(fd, PERFSYS_IOC_SET_BPF, (unsigned long)prog, &err) < 0) {
        return core_ioctl_error(err, "SET_BPF", fd,
                                err == EINVAL ? "the event takes no BPF program, or prog_fd "
                                                "is not a program of a type this event runs"
                                : err == EEXIST ? "a program is attached already"
                                                : NULL);
    }
    Py_RETURN_NONE;
}

PyDoc_STRVAR(core_ioctl_pause_output_doc,
"PAUSE_OUTPUT($module, fd, pause, /)\n--\n\n"
"PERF_EVENT_IOC_PAUSE_OUTPUT: pause (True) or resume (False) writing records to\n"
"the event's ring buffer; records that arrive while paused are counted as lost.");

static PyObject *
core_ioctl_pause_output(PyObject *m, PyObject *const *args, Py_ssize_t nargs)
{
    int fd, err;
    (void)m;
    if (core_nargs("PAUSE_OUTPUT", nargs, 2, 2) < 0 || core_fd(args[0], "fd", &fd) < 0) {
        return NULL;
    }
    if (!PyLong_Check(args[1])) {
        core_wrong_type("pause", "a bool or int", args[1]);
        return NULL;
    }
    int pause = PyObject_IsTrue(args[1]);
    if (pause < 0) {
        return NULL;
    }
    if (core_audit_ioctl("PAUSE_OUTPUT", fd, args[1]) < 0) {
        return NULL;
    }
    if (core_do_ioctl(fd, PERFSYS_IOC_PAUSE_OUTPUT, (unsigned long)pause, &err) < 0) {
        return core_ioctl_error(err, "PAUSE_OUTPUT", fd,
                                err == EINVAL ? "the event has no ring buffer (mmap it first)"
                                              : NULL);
    }
    Py_RETURN_NONE;
}

PyDoc_STRVAR(core_ioctl_query_bpf_doc,
"QUERY_BPF($module, fd, max_ids=64, /)\n--\n\n"
"PERF_EVENT_IOC_QUERY_BPF: the BPF programs attached to the event, as\n"
"(prog_cnt, ids): prog_cnt is how many are attached, ids the first max_ids of\n"
"their program ids. Passed a writable buffer holding a perf_event_query_bpf\n"
"instead of max_ids, it fills that buffer (ids_len set by the caller) and\n"
"returns prog_cnt.");

#define CORE_QUERY_BPF_MAX_IDS 65536

static PyObject *
core_ioctl_query_bpf(PyObject *m, PyObject *const *args, Py_ssize_t nargs)
{
    int fd, err;
    (void)m;
    if (core_nargs("QUERY_BPF", nargs, 1, 2) < 0 || core_fd(args[0], "fd", &fd) < 0) {
        return NULL;
    }
    if (nargs == 2 && !PyLong_Check(args[1])) {
        /* the buffer form */
        Py_buffer view;
        if (!PyObject_CheckBuffer(args[1])) {
            core_wrong_type("QUERY_BPF's second argument",
                            "an int (max_ids) or a writable perf_event_query_bpf buffer",
                            args[1]);
            return NULL;
        }
        if (PyObject_GetBuffer(args[1], &view, PyBUF_SIMPLE | PyBUF_WRITABLE) < 0) {
            return NULL;
        }
        uint32_t ids_len, cnt;
        if (view.len < 8) {
            PyBuffer_Release(&view);
            PyErr_Format(PyExc_ValueError,
                         "QUERY_BPF: the buffer holds %zd bytes, fewer than the 8 of "
                         "perf_event_query_bpf's header",
                         view.len);
            return NULL;
        }
        memcpy(&ids_len, view.buf, 4);
        if ((uint64_t)view.len < 8 + 4 * (uint64_t)ids_len) {
            PyBuffer_Release(&view);
            PyErr_Format(PyExc_ValueError,
                         "QUERY_BPF: ids_len is %u but the buffer has room for %zd ids",
                         (unsigned)ids_len, (view.len - 8) / 4);
            return NULL;
        }
        if (core_audit_ioctl("QUERY_BPF", fd, args[1]) < 0) {
            PyBuffer_Release(&view);
            return NULL;
        }
        int r = core_do_ioctl(fd, PERFSYS_IOC_QUERY_BPF, (unsigned long)(uintptr_t)view.buf,
                              &err);
        memcpy(&cnt, (const char *)view.buf + 4, 4);
        PyBuffer_Release(&view);
        if (r < 0) {
            return core_ioctl_error(err, "QUERY_BPF", fd, NULL);
        }
        return PyLong_FromUnsignedLong(cnt);
    }
    long long max_ids = 64;
    if (nargs == 2 && core_int_in(args[1], "max_ids", 0, CORE_QUERY_BPF_MAX_IDS, LLONG_MIN,
                                  LLONG_MAX, &max_ids) < 0) {
        return NULL;
    }
    if (core_audit_ioctl("QUERY_BPF", fd, nargs == 2 ? args[1] : NULL) < 0) {
        return NULL;
    }
    uint32_t *q = PyMem_Calloc(2 + (size_t)max_ids, sizeof(uint32_t));
    if (q == NULL) {
        return PyErr_NoMemory();
    }
    q[0] = (uint32_t)max_ids;
    if (core_do_ioctl(fd, PERFSYS_IOC_QUERY_BPF, (unsigned long)(uintptr_t)q, &err) < 0) {
        char extra[128];
        snprintf(extra, sizeof(extra),
                 err == ENOSPC ? "%u programs are attached, more than max_ids=%lld"
                 : err == E2BIG ? "the kernel takes at most 64 ids (%u, %lld)"
                                : "the event is no tracepoint, kprobe or uprobe (%u, %lld)",
                 (unsigned)q[1], max_ids);
        PyMem_Free(q);
        return core_ioctl_error(err, "QUERY_BPF", fd,
                                (err == ENOSPC || err == E2BIG || err == EINVAL) ? extra
                                                                                  : NULL);
    }
    uint32_t cnt = q[1];
    size_t n = cnt < (uint32_t)max_ids ? cnt : (size_t)max_ids;
    PyObject *ids = PyTuple_New((Py_ssize_t)n);
    if (ids == NULL) {
        PyMem_Free(q);
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        PyObject *v = PyLong_FromUnsignedLong(q[2 + i]);
        if (v == NULL || PyTuple_SetItem(ids, (Py_ssize_t)i, v) < 0) {
            PyMem_Free(q);
            Py_DECREF(ids);
            return NULL;
        }
    }
    PyMem_Free(q);
    return Py_BuildValue("(kN)", (unsigned long)cnt, ids);
}

PyDoc_STRVAR(core_ioctl_modify_attributes_doc,
"MODIFY_ATTRIBUTES($module, fd, attr, /)\n--\n\n"
"PERF_EVENT_IOC_MODIFY_ATTRIBUTES: replace the event's attributes with attr (a\n"
"writable perf_event_attr buffer, same checks as perf_event_open). The kernel\n"
"allows it for hardware breakpoints only (bp_addr, bp_len, bp_type, disabled).");

static PyObject *
core_ioctl_modify_attributes(PyObject *m, PyObject *const *args, Py_ssize_t nargs)
{
    int fd, err;
    Py_buffer view;
    (void)m;
    if (core_nargs("MODIFY_ATTRIBUTES", nargs, 2, 2) < 0 || core_fd(args[0], "fd", &fd) < 0 ||
        core_attr_buffer(args[1], "MODIFY_ATTRIBUTES", &view) < 0) {
        return NULL;
    }
    if (core_audit_ioctl("MODIFY_ATTRIBUTES", fd, args[1]) < 0) {
        PyBuffer_Release(&view);
        return NULL;
    }
    int r = core_do_ioctl(fd, PERFSYS_IOC_MODIFY_ATTRIBUTES, (unsigned long)(uintptr_t)view.buf,
                          &err);
    PyBuffer_Release(&view);
    if (r < 0) {
        return core_ioctl_error(err, "MODIFY_ATTRIBUTES", fd,
                                err == EOPNOTSUPP ? "only hardware breakpoints can be modified"
                                : err == EINVAL   ? "attr.type must stay the same, and the "
                                                    "kernel may change only bp_addr, bp_len, "
                                                    "bp_type and disabled"
                                                  : NULL);
    }
    Py_RETURN_NONE;
}

/* ---- 4.5 counter reads --------------------------------------------------- */

#define CORE_FORMAT_KNOWN                                                        \
    (PERF_FORMAT_TOTAL_TIME_ENABLED | PERF_FORMAT_TOTAL_TIME_RUNNING | PERF_FORMAT_ID | \
     PERF_FORMAT_GROUP | PERF_FORMAT_LOST)

static PyStructSequence_Field core_counter_value_fields[] = {
    {"value", "the count"},
    {"time_enabled", "ns the event was enabled (PERF_FORMAT_TOTAL_TIME_ENABLED), else None"},
    {"time_running", "ns the event was on a PMU (PERF_FORMAT_TOTAL_TIME_RUNNING), else None"},
    {"id", "the event's id (PERF_FORMAT_ID), else None"},
    {"lost", "records lost (PERF_FORMAT_LOST), else None"},
    {NULL, NULL},
};

static PyStructSequence_Desc core_counter_value_desc = {
    "perfsys.CounterValue",
    "One counter read with read_format without PERF_FORMAT_GROUP; fields that\n"
    "read_format leaves out are None.",
    core_counter_value_fields,
    5,
};

static PyStructSequence_Field core_group_member_fields[] = {
    {"value", "the count"},
    {"id", "the event's id (PERF_FORMAT_ID), else None"},
    {"lost", "records lost (PERF_FORMAT_LOST), else None"},
    {NULL, NULL},
};

static PyStructSequence_Desc core_group_member_desc = {
    "perfsys.GroupMember",
    "One event of a group read with PERF_FORMAT_GROUP, leader first.",
    core_group_member_fields,
    3,
};

static PyStructSequence_Field core_group_values_fields[] = {
    {"time_enabled", "ns the group was enabled (PERF_FORMAT_TOTAL_TIME_ENABLED), else None"},
    {"time_running", "ns the group was on a PMU (PERF_FORMAT_TOTAL_TIME_RUNNING), else None"},
    {"values", "a tuple of GroupMember(value, id, lost), leader first"},
    {NULL, NULL},
};

static PyStructSequence_Desc core_group_values_desc = {
    "perfsys.GroupValues",
    "A whole group read with PERF_FORMAT_GROUP.",
    core_group_values_fields,
    3,
};

static inline uint64_t
core_load_u64(const unsigned char *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

/* A u64 at *p (advancing it) when present, else None. */
static PyObject *
core_field(int present, const unsigned char **p)
{
    if (!present) {
        return Py_NewRef(Py_None);
    }
    uint64_t v = core_load_u64(*p);
    *p += 8;
    return PyLong_FromUnsignedLongLong(v);
}

/* Fill a struct sequence from fields[0..n), stealing them; on failure drop them all. */
static PyObject *
core_struct(PyTypeObject *type, PyObject **fields, Py_ssize_t n)
{
    PyObject *r = NULL;
    for (Py_ssize_t i = 0; i < n; i++) {
        if (fields[i] == NULL) {
            goto error;
        }
    }
    r = PyStructSequence_New(type);
    if (r == NULL) {
        goto error;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        PyStructSequence_SetItem(r, i, fields[i]);
    }
    return r;
error:
    for (Py_ssize_t i = 0; i < n; i++) {
        Py_XDECREF(fields[i]);
    }
    return NULL;
}

/* Bytes of one read(2) block of this read_format; for groups, with nr members. */
static size_t
core_read_size(uint64_t rf, uint64_t nr)
{
    size_t te = (rf & PERF_FORMAT_TOTAL_TIME_ENABLED) ? 1 : 0;
    size_t tr = (rf & PERF_FORMAT_TOTAL_TIME_RUNNING) ? 1 : 0;
    size_t id = (rf & PERF_FORMAT_ID) ? 1 : 0;
    size_t lost = (rf & PERF_FORMAT_LOST) ? 1 : 0;
    if (rf & PERF_FORMAT_GROUP) {
        return 8 * (1 + te + tr) + (size_t)nr * 8 * (1 + id + lost);
    }
    return 8 * (1 + te + tr + id + lost);
}

static int
core_check_read_format(uint64_t rf)
{
    if (rf & ~(uint64_t)CORE_FORMAT_KNOWN) {
        core_errorf(PyExc_ValueError,
                     "read_format 0x%llx has bits no PERF_FORMAT_* flag defines (0x%llx)",
                     (unsigned long long)rf, (unsigned long long)(rf & ~(uint64_t)CORE_FORMAT_KNOWN));
        return -1;
    }
    return 0;
}

static PyObject *
core_decode_read_format(perfsys_state *st, uint64_t rf, const unsigned char *buf, size_t len,
                        size_t *used)
{
    const unsigned char *p = buf;
    if (core_check_read_format(rf) < 0) {
        return NULL;
    }
    int te = (rf & PERF_FORMAT_TOTAL_TIME_ENABLED) != 0;
    int tr = (rf & PERF_FORMAT_TOTAL_TIME_RUNNING) != 0;
    int id = (rf & PERF_FORMAT_ID) != 0;
    int lost = (rf & PERF_FORMAT_LOST) != 0;
    if (!(rf & PERF_FORMAT_GROUP)) {
        size_t need = core_read_size(rf, 0);
        if (len < need) {
            core_errorf(PyExc_ValueError,
                         "read_format 0x%llx needs %zu bytes, only %zu are there",
                         (unsigned long long)rf, need, len);
            return NULL;
        }
        PyObject *f[5];
        f[0] = core_field(1, &p);
        f[1] = core_field(te, &p);
        f[2] = core_field(tr, &p);
        f[3] = core_field(id, &p);
        f[4] = core_field(lost, &p);
        *used = need;
        return core_struct(st->core.counter_value_type, f, 5);
    }
    size_t head = core_read_size(rf, 0);
    if (len < head) {
        core_errorf(PyExc_ValueError,
                     "read_format 0x%llx (a group) needs at least %zu bytes, only %zu are there",
                     (unsigned long long)rf, head, len);
        return NULL;
    }
    uint64_t nr = core_load_u64(p);
    p += 8;
    size_t entry = 8 * (size_t)(1 + id + lost);
    if (nr > (len - head) / entry) {
        PyErr_Format(PyExc_ValueError,
                     "a group read says %llu members, but %zu bytes hold at most %zu",
                     (unsigned long long)nr, len, (len - head) / entry);
        return NULL;
    }
    PyObject *g[3];
    g[0] = core_field(te, &p);
    g[1] = core_field(tr, &p);
    g[2] = PyTuple_New((Py_ssize_t)nr);
    if (g[2] != NULL) {
        for (uint64_t i = 0; i < nr; i++) {
            PyObject *f[3];
            f[0] = core_field(1, &p);
            f[1] = core_field(id, &p);
            f[2] = core_field(lost, &p);
            PyObject *member = core_struct(st->core.group_member_type, f, 3);
            if (member == NULL || PyTuple_SetItem(g[2], (Py_ssize_t)i, member) < 0) {
                Py_CLEAR(g[2]);
                break;
            }
        }
    }
    *used = head + (size_t)nr * entry;
    return core_struct(st->core.group_values_type, g, 3);
}

/* read(2) of a counter, EINTR retried after signal handlers ran. The GIL is
   kept: reading a counter does not block, and dropping and retaking the GIL
   would cost more than the read itself (see the README's "GIL"). */
#ifndef PERFSYS_READ_RELEASES_GIL
#  define PERFSYS_READ_RELEASES_GIL 0 /* benchmarks/bench_read.py builds it with 1 */
#endif

static ssize_t
core_read_fd(int fd, void *buf, size_t cap, int *err)
{
    ssize_t n;
    for (;;) {
#if PERFSYS_READ_RELEASES_GIL
        Py_BEGIN_ALLOW_THREADS
        n = read(fd, buf, cap);
        *err = errno;
        Py_END_ALLOW_THREADS
        errno = *err;
#else
        n = read(fd, buf, cap);
#endif
        if (n >= 0) {
            return n;
        }
        *err = errno;
        if (*err != EINTR) {
            return -1;
        }
        if (PyErr_CheckSignals() < 0) {
            *err = 0;
            return -1;
        }
    }
}

static PyObject *
core_read_error(int err, int fd, const char *extra)
{
    char call[48];
    if (err == 0) {
        return NULL; /* a signal handler raised */
    }
    snprintf(call, sizeof(call), "read(%d)", fd);
    return core_raise_oserror(err, call,
                              err == EBADF ? "the fd is not open" : err == EINVAL
                                  ? "the fd is not a perf event counter"
                                  : extra);
}

/* A read that returned fewer (or more) bytes than read_format describes. */
static PyObject *
core_size_mismatch(int fd, uint64_t rf, size_t got, size_t want)
{
    if (got == 0) {
        PyErr_Format(PyExc_OSError,
                     "read(%d) returned 0 bytes: the event is in an error state (a pinned "
                     "event that could not be scheduled)",
                     fd);
        return NULL;
    }
    core_errorf(PyExc_ValueError,
                 "read(%d) returned %zu bytes, but read_format 0x%llx describes %zu: pass the "
                 "read_format the event was opened with",
                 fd, got, (unsigned long long)rf, want);
    return NULL;
}

PyDoc_STRVAR(core_read_value_doc,
"read_value($module, fd, /)\n--\n\n"
"Read a counter opened with read_format 0 and return its value (one read(2)\n"
"of 8 bytes). Other read_formats raise OSError(ENOSPC); use read().");

static PyObject *
core_read_value(PyObject *m, PyObject *arg)
{
    int fd, err;
    uint64_t v;
    (void)m;
    if (core_fd(arg, "fd", &fd) < 0) {
        return NULL;
    }
    ssize_t n = core_read_fd(fd, &v, sizeof(v), &err);
    if (n < 0) {
        return core_read_error(err, fd,
                               err == ENOSPC ? "the event's read_format is not 0, so its reads "
                                               "are longer than 8 bytes: use "
                                               "perfsys.read(fd, read_format)"
                                             : NULL);
    }
    if (n != (ssize_t)sizeof(v)) {
        return core_size_mismatch(fd, 0, (size_t)n, sizeof(v));
    }
    return PyLong_FromUnsignedLongLong(v);
}

#define CORE_READ_STACK 4096
#define CORE_READ_MAX (64u << 20)

PyDoc_STRVAR(core_read_doc,
"read($module, fd, read_format=0, /)\n--\n\n"
"Read a counter opened with attr.read_format == read_format and decode it:\n"
"CounterValue(value, time_enabled, time_running, id, lost) without\n"
"PERF_FORMAT_GROUP, GroupValues(time_enabled, time_running, values) with it\n"
"(values: GroupMember(value, id, lost), leader first). Fields read_format\n"
"leaves out are None. A read_format that does not match the event's is\n"
"ValueError.");

static PyObject *
core_read(PyObject *m, PyObject *const *args, Py_ssize_t nargs)
{
    int fd, err;
    uint64_t rf = 0;
    unsigned char stackbuf[CORE_READ_STACK];
    unsigned char *buf = stackbuf;
    size_t cap = sizeof(stackbuf);
    PyObject *result = NULL;
    if (core_nargs("read", nargs, 1, 2) < 0 || core_fd(args[0], "fd", &fd) < 0 ||
        (nargs > 1 && core_u64(args[1], "read_format", &rf) < 0) ||
        core_check_read_format(rf) < 0) {
        return NULL;
    }
    ssize_t n;
    for (;;) {
        n = core_read_fd(fd, buf, cap, &err);
        if (n < 0 && err == ENOSPC && cap < CORE_READ_MAX) {
            /* a group larger than the stack buffer: the kernel checks the
               size before it reads anything, so retrying is safe */
            if (buf != stackbuf) {
                PyMem_Free(buf);
            }
            cap *= 8;
            buf = PyMem_Malloc(cap);
            if (buf == NULL) {
                return PyErr_NoMemory();
            }
            continue;
        }
        break;
    }
    if (n < 0) {
        core_read_error(err, fd, NULL);
        goto done;
    }
    size_t want = core_read_size(rf, 0);
    if ((rf & PERF_FORMAT_GROUP) && n >= 8) {
        uint64_t nr = core_load_u64(buf);
        want = nr > (uint64_t)n / 8 ? SIZE_MAX : core_read_size(rf, nr);
    }
    if ((size_t)n != want) {
        core_size_mismatch(fd, rf, (size_t)n, want);
        goto done;
    }
    size_t used;
    result = core_decode_read_format(get_state(m), rf, buf, (size_t)n, &used);
done:
    if (buf != stackbuf) {
        PyMem_Free(buf);
    }
    return result;
}

PyDoc_STRVAR(core_read_into_doc,
"read_into($module, fd, buffer, /)\n--\n\n"
"One read(2) of the counter fd into the writable buffer; return the number\n"
"of bytes the kernel wrote. Decode them with decode_read(). A buffer smaller\n"
"than the event's read size raises OSError(ENOSPC).");

static PyObject *
core_read_into(PyObject *m, PyObject *const *args, Py_ssize_t nargs)
{
    int fd, err;
    Py_buffer view;
    (void)m;
    if (core_nargs("read_into", nargs, 2, 2) < 0 || core_fd(args[0], "fd", &fd) < 0) {
        return NULL;
    }
    if (!PyObject_CheckBuffer(args[1])) {
        core_wrong_type("buffer", "a writable buffer", args[1]);
        return NULL;
    }
    if (PyObject_GetBuffer(args[1], &view, PyBUF_SIMPLE) < 0) {
        return NULL;
    }
    if (view.readonly) {
        PyBuffer_Release(&view);
        core_wrong_type("buffer", "writable", args[1]);
        return NULL;
    }
    ssize_t n = core_read_fd(fd, view.buf, (size_t)view.len, &err);
    Py_ssize_t len = view.len;
    PyBuffer_Release(&view);
    if (n < 0) {
        char extra[128];
        snprintf(extra, sizeof(extra), "the buffer (%zd bytes) is smaller than the event's "
                 "read size", len);
        return core_read_error(err, fd, err == ENOSPC ? extra : NULL);
    }
    return PyLong_FromSsize_t(n);
}

PyDoc_STRVAR(core_decode_read_doc,
"decode_read($module, read_format, data, /)\n--\n\n"
"Decode one read(2) block laid out by read_format (bytes from read_into(), or\n"
"a PERF_SAMPLE_READ value) into what read() returns for it. data must hold\n"
"exactly one block.");

static PyObject *
core_decode_read(PyObject *m, PyObject *const *args, Py_ssize_t nargs)
{
    uint64_t rf;
    Py_buffer view;
    if (core_nargs("decode_read", nargs, 2, 2) < 0 || core_u64(args[0], "read_format", &rf) < 0) {
        return NULL;
    }
    if (!PyObject_CheckBuffer(args[1])) {
        core_wrong_type("data", "a bytes-like object", args[1]);
        return NULL;
    }
    if (PyObject_GetBuffer(args[1], &view, PyBUF_SIMPLE) < 0) {
        return NULL;
    }
    size_t used = 0;
    PyObject *r = core_decode_read_format(get_state(m), rf, view.buf, (size_t)view.len, &used);
    if (r != NULL && used != (size_t)view.len) {
        core_errorf(PyExc_ValueError,
                     "read_format 0x%llx describes %zu bytes here, data holds %zd",
                     (unsigned long long)rf, used, view.len);
        Py_CLEAR(r);
    }
    PyBuffer_Release(&view);
    return r;
}

/* ---- 4.6 self-monitoring: SelfCounter ------------------------------------ */

/* The header page's fields (struct perf_event_mmap_page), read with volatile
   loads between compiler barriers, as the kernel's seqlock protocol asks. */
#define CORE_PG(p, type, off) (*(const volatile type *)((const unsigned char *)(p) + (off)))
#define CORE_BARRIER() __asm__ __volatile__("" ::: "memory")
#define CORE_SEQ_RETRIES 10000

#if defined(__x86_64__)
#  define CORE_HAVE_RDPMC 1
static inline uint64_t
core_rdpmc(uint32_t counter)
{
    uint32_t lo, hi;
    __asm__ __volatile__("rdpmc" : "=a"(lo), "=d"(hi) : "c"(counter));
    return (uint64_t)lo | ((uint64_t)hi << 32);
}
static inline uint64_t
core_cycles(void)
{
    uint32_t lo, hi;
    __asm__ __volatile__("rdtsc" : "=a"(lo), "=d"(hi));
    return (uint64_t)lo | ((uint64_t)hi << 32);
}
#  define CORE_HAVE_CYCLES 1
#elif defined(__aarch64__)
/* The time counter is readable from EL0 on every Linux arm64 system; the PMU
   counters (mrs pmevcntr<n>_el0) are not read here: perfsys falls back to
   read(2) on aarch64. */
#  define CORE_HAVE_RDPMC 0
static inline uint64_t
core_cycles(void)
{
    uint64_t v;
    __asm__ __volatile__("isb; mrs %0, cntvct_el0" : "=r"(v));
    return v;
}
#  define CORE_HAVE_CYCLES 1
#else
#  define CORE_HAVE_RDPMC 0
#  define CORE_HAVE_CYCLES 0
#endif

typedef struct {
    PyObject_HEAD
    void *page;          /* the mmap'ed header page; NULL once closed */
    size_t page_size;
    int fd;              /* borrowed: the caller owns and closes it */
    uint64_t read_format;
    PyObject *path_rdpmc; /* "rdpmc" */
    PyObject *path_read;  /* "read" */
} core_self_counter;

static int
core_self_check(core_self_counter *self)
{
    if (self->page == NULL) {
        PyErr_SetString(PyExc_ValueError, "I/O operation on closed SelfCounter");
        return -1;
    }
    return 0;
}

static PyObject *
core_self_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"fd", "read_format", NULL};
    PyObject *fdobj, *rfobj = NULL;
    int fd;
    uint64_t rf = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "O|O:SelfCounter", kwlist, &fdobj, &rfobj) ||
        core_fd(fdobj, "fd", &fd) < 0 || (rfobj != NULL && core_u64(rfobj, "read_format", &rf) < 0) ||
        core_check_read_format(rf) < 0) {
        return NULL;
    }
    if (rf & PERF_FORMAT_GROUP) {
        PyErr_SetString(PyExc_ValueError,
                        "SelfCounter reads one counter: read_format must not have "
                        "PERF_FORMAT_GROUP");
        return NULL;
    }
    PyObject *module = PyType_GetModule(type);
    if (module == NULL) {
        return NULL;
    }
    perfsys_state *st = get_state(module);
    long ps = sysconf(_SC_PAGESIZE);
    size_t page_size = ps > 0 ? (size_t)ps : 4096;
    void *page = mmap(NULL, page_size, PROT_READ, MAP_SHARED, fd, 0);
    if (page == MAP_FAILED) {
        int err = errno;
        char call[64];
        snprintf(call, sizeof(call), "mmap(%d, header page)", fd);
        return core_raise_oserror(err, call,
                                  err == EINVAL ? "fd must be a perf event without a ring "
                                                  "buffer of another size"
                                  : err == ENODEV ? "fd is not a perf event"
                                                  : NULL);
    }
    allocfunc alloc = (allocfunc)PyType_GetSlot(type, Py_tp_alloc);
    core_self_counter *self = (core_self_counter *)alloc(type, 0);
    if (self == NULL) {
        munmap(page, page_size);
        return NULL;
    }
    self->page = page;
    self->page_size = page_size;
    self->fd = fd;
    self->read_format = rf;
    self->path_rdpmc = Py_NewRef(st->core.str_rdpmc);
    self->path_read = Py_NewRef(st->core.str_read);
    return (PyObject *)self;
}

static void
core_self_unmap(core_self_counter *self)
{
    if (self->page != NULL) {
        void *page = self->page;
        self->page = NULL;
        munmap(page, self->page_size);
    }
}

static void
core_self_dealloc(PyObject *op)
{
    core_self_counter *self = (core_self_counter *)op;
    PyTypeObject *tp = Py_TYPE(op);
    core_self_unmap(self);
    Py_CLEAR(self->path_rdpmc);
    Py_CLEAR(self->path_read);
    freefunc tp_free = (freefunc)PyType_GetSlot(tp, Py_tp_free);
    tp_free(op);
    Py_DECREF(tp);
}

/* The fallback: read(2) with the counter's read_format. */
static PyObject *
core_self_read_syscall(core_self_counter *self)
{
    unsigned char buf[64];
    int err;
    size_t want = core_read_size(self->read_format, 0);
    ssize_t n = core_read_fd(self->fd, buf, sizeof(buf), &err);
    if (n < 0) {
        return core_read_error(err, self->fd,
                               err == ENOSPC ? "the event's read_format has more fields than "
                                               "the SelfCounter's read_format"
                                             : NULL);
    }
    if ((size_t)n != want) {
        return core_size_mismatch(self->fd, self->read_format, (size_t)n, want);
    }
    const unsigned char *p = buf;
    PyObject *value = core_field(1, &p);
    PyObject *enabled = core_field((self->read_format & PERF_FORMAT_TOTAL_TIME_ENABLED) != 0, &p);
    PyObject *running = core_field((self->read_format & PERF_FORMAT_TOTAL_TIME_RUNNING) != 0, &p);
    if (value == NULL || enabled == NULL || running == NULL) {
        Py_XDECREF(value);
        Py_XDECREF(enabled);
        Py_XDECREF(running);
        return NULL;
    }
    return Py_BuildValue("(NNNO)", value, enabled, running, self->path_read);
}

PyDoc_STRVAR(core_self_read_doc,
"read($self, /)\n--\n\n"
"Read the counter: (value, time_enabled, time_running, path). path is \"rdpmc\"\n"
"when the value came from the rdpmc instruction through the header page's\n"
"seqlock (cap_user_rdpmc set and the event on a hardware counter: index != 0);\n"
"time_enabled and time_running then come from the page, advanced to now when\n"
"cap_user_time is set. Otherwise path is \"read\": one read(2) with the\n"
"SelfCounter's read_format, and the times are None unless it has\n"
"PERF_FORMAT_TOTAL_TIME_ENABLED/RUNNING.");

static PyObject *
core_self_read(PyObject *op, PyObject *Py_UNUSED(ignored))
{
    core_self_counter *self = (core_self_counter *)op;
    PyObject *result = NULL;
    PERFSYS_BEGIN_CRITICAL(op);
    if (core_self_check(self) < 0) {
        goto done;
    }
#if CORE_HAVE_RDPMC
    {
        const void *pg = self->page;
        uint32_t seq, idx = 0;
        uint64_t enabled = 0, running = 0, caps = 0, cyc = 0, time_offset = 0, time_cycles = 0;
        uint64_t time_mask = 0;
        uint32_t time_mult = 0;
        uint16_t time_shift = 0;
        int64_t count = 0;
        int ok = 0;
        for (int tries = 0; tries < CORE_SEQ_RETRIES; tries++) {
            seq = CORE_PG(pg, uint32_t, PERF_MMAP_OFFSET_LOCK);
            CORE_BARRIER();
            enabled = CORE_PG(pg, uint64_t, PERF_MMAP_OFFSET_TIME_ENABLED);
            running = CORE_PG(pg, uint64_t, PERF_MMAP_OFFSET_TIME_RUNNING);
            caps = CORE_PG(pg, uint64_t, PERF_MMAP_OFFSET_CAPABILITIES);
            cyc = 0;
            if ((caps & PERF_MMAP_CAP_USER_TIME) != 0) {
                cyc = core_cycles();
                time_offset = CORE_PG(pg, uint64_t, PERF_MMAP_OFFSET_TIME_OFFSET);
                time_mult = CORE_PG(pg, uint32_t, PERF_MMAP_OFFSET_TIME_MULT);
                time_shift = CORE_PG(pg, uint16_t, PERF_MMAP_OFFSET_TIME_SHIFT);
                if ((caps & PERF_MMAP_CAP_USER_TIME_SHORT) != 0) {
                    time_cycles = CORE_PG(pg, uint64_t, PERF_MMAP_OFFSET_TIME_CYCLES);
                    time_mask = CORE_PG(pg, uint64_t, PERF_MMAP_OFFSET_TIME_MASK);
                }
            }
            idx = CORE_PG(pg, uint32_t, PERF_MMAP_OFFSET_INDEX);
            count = CORE_PG(pg, int64_t, PERF_MMAP_OFFSET_OFFSET);
            if ((caps & PERF_MMAP_CAP_USER_RDPMC) == 0 || idx == 0) {
                break; /* not on a hardware counter user space may read */
            }
            uint16_t width = CORE_PG(pg, uint16_t, PERF_MMAP_OFFSET_PMC_WIDTH);
            int64_t pmc = (int64_t)core_rdpmc(idx - 1);
            if (width > 0 && width < 64) {
                pmc = (int64_t)((uint64_t)pmc << (64 - width)) >> (64 - width);
            }
            count += pmc;
            CORE_BARRIER();
            if (CORE_PG(pg, uint32_t, PERF_MMAP_OFFSET_LOCK) == seq) {
                ok = 1;
                break;
            }
        }
        if (ok) {
            if (cyc != 0 && time_shift < 64) {
                if ((caps & PERF_MMAP_CAP_USER_TIME_SHORT) != 0) {
                    cyc = time_cycles + ((cyc - time_cycles) & time_mask);
                }
                uint64_t quot = cyc >> time_shift;
                uint64_t rem = cyc & (((uint64_t)1 << time_shift) - 1);
                uint64_t delta = time_offset + quot * time_mult + ((rem * time_mult) >> time_shift);
                enabled += delta;
                running += delta;
            }
            result = Py_BuildValue("(LKKO)", (long long)count, (unsigned long long)enabled,
                                   (unsigned long long)running, self->path_rdpmc);
            goto done;
        }
    }
#endif
    result = core_self_read_syscall(self);
done:
    PERFSYS_END_CRITICAL();
    return result;
}

PyDoc_STRVAR(core_self_close_doc,
"close($self, /)\n--\n\n"
"Unmap the header page. The fd stays open: it belongs to the caller.");

static PyObject *
core_self_close(PyObject *op, PyObject *Py_UNUSED(ignored))
{
    PERFSYS_BEGIN_CRITICAL(op);
    core_self_unmap((core_self_counter *)op);
    PERFSYS_END_CRITICAL();
    Py_RETURN_NONE;
}

static PyObject *
core_self_enter(PyObject *op, PyObject *Py_UNUSED(ignored))
{
    core_self_counter *self = (core_self_counter *)op;
    if (core_self_check(self) < 0) {
        return NULL;
    }
    return Py_NewRef(op);
}

static PyObject *
core_self_exit(PyObject *op, PyObject *const *args, Py_ssize_t nargs)
{
    (void)args;
    (void)nargs;
    return core_self_close(op, NULL);
}

static PyObject *
core_self_fileno(PyObject *op, PyObject *Py_UNUSED(ignored))
{
    core_self_counter *self = (core_self_counter *)op;
    if (core_self_check(self) < 0) {
        return NULL;
    }
    return PyLong_FromLong(self->fd);
}

static PyObject *
core_self_get_closed(PyObject *op, void *closure)
{
    (void)closure;
    return PyBool_FromLong(((core_self_counter *)op)->page == NULL);
}

/* The page's capability bits and index as they are now (for the caller to see
   which path read() can take). */
static PyObject *
core_self_get_capabilities(PyObject *op, void *closure)
{
    core_self_counter *self = (core_self_counter *)op;
    PyObject *r = NULL;
    (void)closure;
    PERFSYS_BEGIN_CRITICAL(op);
    if (core_self_check(self) == 0) {
        r = PyLong_FromUnsignedLongLong(
            CORE_PG(self->page, uint64_t, PERF_MMAP_OFFSET_CAPABILITIES));
    }
    PERFSYS_END_CRITICAL();
    return r;
}

static PyObject *
core_self_get_index(PyObject *op, void *closure)
{
    core_self_counter *self = (core_self_counter *)op;
    PyObject *r = NULL;
    (void)closure;
    PERFSYS_BEGIN_CRITICAL(op);
    if (core_self_check(self) == 0) {
        r = PyLong_FromUnsignedLong(CORE_PG(self->page, uint32_t, PERF_MMAP_OFFSET_INDEX));
    }
    PERFSYS_END_CRITICAL();
    return r;
}

static PyMethodDef core_self_methods[] = {
    {"read", core_self_read, METH_NOARGS, core_self_read_doc},
    {"close", core_self_close, METH_NOARGS, core_self_close_doc},
    {"fileno", core_self_fileno, METH_NOARGS, "fileno($self, /)\n--\n\nThe counter's fd."},
    {"__enter__", core_self_enter, METH_NOARGS, NULL},
    {"__exit__", (PyCFunction)(void (*)(void))core_self_exit, METH_FASTCALL, NULL},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef core_self_getset[] = {
    {"closed", core_self_get_closed, NULL, "True once close() ran.", NULL},
    {"capabilities", core_self_get_capabilities, NULL,
     "The header page's capabilities word (cap_user_rdpmc is bit 2, cap_user_time bit 3).",
     NULL},
    {"index", core_self_get_index, NULL,
     "The header page's index: 0 when the event is not on a hardware counter, else the "
     "counter's number + 1.",
     NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

PyDoc_STRVAR(core_self_doc,
"SelfCounter(fd, read_format=0)\n--\n\n"
"Self-monitoring read of one counter through its mmap'ed header page: rdpmc\n"
"where the page allows it (x86-64), read(2) otherwise. Maps one page of fd\n"
"(which must not have a ring buffer of another size); the fd stays the\n"
"caller's. read_format must be the event's attr.read_format, without\n"
"PERF_FORMAT_GROUP.");

static PyType_Slot core_self_slots[] = {
    {Py_tp_new, core_self_new},
    {Py_tp_dealloc, core_self_dealloc},
    {Py_tp_methods, core_self_methods},
    {Py_tp_getset, core_self_getset},
    {Py_tp_doc, (void *)core_self_doc},
    {0, NULL},
};

static PyType_Spec core_self_spec = {
    .name = "perfsys.SelfCounter",
    .basicsize = sizeof(core_self_counter),
    .itemsize = 0,
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_IMMUTABLETYPE,
    .slots = core_self_slots,
};

/* ---- 4.7 the section's module functions and hooks ------------------------ */

#define CORE_FASTCALL(f) (PyCFunction)(void (*)(void))(f)

static PyMethodDef core_methods[] = {
    {"perf_event_open", CORE_FASTCALL(core_perf_event_open), METH_FASTCALL | METH_KEYWORDS,
     core_perf_event_open_doc},
    {"read_value", core_read_value, METH_O, core_read_value_doc},
    {"read", CORE_FASTCALL(core_read), METH_FASTCALL, core_read_doc},
    {"read_into", CORE_FASTCALL(core_read_into), METH_FASTCALL, core_read_into_doc},
    {"decode_read", CORE_FASTCALL(core_decode_read), METH_FASTCALL, core_decode_read_doc},
    {NULL, NULL, 0, NULL},
};

/* perfsys.ioctls.<NAME>: named as the kernel names them, in a dict the shim
   (src/perfsys/ioctls.py) re-exports. */
static PyMethodDef core_ioctl_methods[] = {
    {"ENABLE", CORE_FASTCALL(core_ioctl_enable), METH_FASTCALL, core_ioctl_enable_doc},
    {"DISABLE", CORE_FASTCALL(core_ioctl_disable), METH_FASTCALL, core_ioctl_disable_doc},
    {"REFRESH", CORE_FASTCALL(core_ioctl_refresh), METH_FASTCALL, core_ioctl_refresh_doc},
    {"RESET", CORE_FASTCALL(core_ioctl_reset), METH_FASTCALL, core_ioctl_reset_doc},
    {"PERIOD", CORE_FASTCALL(core_ioctl_period), METH_FASTCALL, core_ioctl_period_doc},
    {"SET_OUTPUT", CORE_FASTCALL(core_ioctl_set_output), METH_FASTCALL,
     core_ioctl_set_output_doc},
    {"SET_FILTER", CORE_FASTCALL(core_ioctl_set_filter), METH_FASTCALL,
     core_ioctl_set_filter_doc},
    {"ID", core_ioctl_id, METH_O, core_ioctl_id_doc},
    {"SET_BPF", CORE_FASTCALL(core_ioctl_set_bpf), METH_FASTCALL, core_ioctl_set_bpf_doc},
    {"PAUSE_OUTPUT", CORE_FASTCALL(core_ioctl_pause_output), METH_FASTCALL,
     core_ioctl_pause_output_doc},
    {"QUERY_BPF", CORE_FASTCALL(core_ioctl_query_bpf), METH_FASTCALL,
     core_ioctl_query_bpf_doc},
    {"MODIFY_ATTRIBUTES", CORE_FASTCALL(core_ioctl_modify_attributes), METH_FASTCALL,
     core_ioctl_modify_attributes_doc},
    {NULL, NULL, 0, NULL},
};

static int
core_add_type(PyObject *m, const char *name, PyTypeObject *type)
{
    return PyModule_AddObjectRef(m, name, (PyObject *)type);
}

static int
core_exec(PyObject *m, perfsys_state *st)
{
    for (size_t i = 0; i < sizeof(core_ioctl_numbers) / sizeof(core_ioctl_numbers[0]); i++) {
        PyObject *v = PyLong_FromUnsignedLong(core_ioctl_numbers[i].request);
        if (v == NULL) {
            return -1;
        }
        int r = PyModule_AddObjectRef(m, core_ioctl_numbers[i].name, v);
        Py_DECREF(v);
        if (r < 0) {
            return -1;
        }
    }
    if (PyModule_AddIntConstant(m, "PERF_IOC_FLAG_GROUP", PERF_IOC_FLAG_GROUP) < 0 ||
        PyModule_AddIntConstant(m, "HAVE_RDPMC", CORE_HAVE_RDPMC) < 0) {
        return -1;
    }
    if (PyModule_AddFunctions(m, core_methods) < 0) {
        return -1;
    }
    PyObject *ioctls = PyDict_New();
    PyObject *modname = PyUnicode_FromString("perfsys.ioctls");
    if (ioctls == NULL || modname == NULL) {
        Py_XDECREF(ioctls);
        Py_XDECREF(modname);
        return -1;
    }
    for (PyMethodDef *def = core_ioctl_methods; def->ml_name != NULL; def++) {
        PyObject *f = PyCFunction_NewEx(def, m, modname);
        if (f == NULL || PyDict_SetItemString(ioctls, def->ml_name, f) < 0) {
            Py_XDECREF(f);
            Py_DECREF(ioctls);
            Py_DECREF(modname);
            return -1;
        }
        Py_DECREF(f);
    }
    Py_DECREF(modname);
    int added_ioctls = PyModule_AddObjectRef(m, "_ioctls", ioctls);
    Py_DECREF(ioctls);
    if (added_ioctls < 0) {
        return -1;
    }
    /* The bitfield positions section "core" relies on (for tests/test_core_abi.py):
       the bit's number within its 64-bit storage unit, in declaration order. */
    PyObject *bits = Py_BuildValue(
        "{s:I,s:I,s:I,s:I}", "perf_event_attr.exclude_kernel", PERF_ATTR_BIT_EXCLUDE_KERNEL,
        "perf_event_mmap_page.cap_user_rdpmc", (unsigned)__builtin_ctz(PERF_MMAP_CAP_USER_RDPMC),
        "perf_event_mmap_page.cap_user_time", (unsigned)__builtin_ctz(PERF_MMAP_CAP_USER_TIME),
        "perf_event_mmap_page.cap_user_time_short",
        (unsigned)__builtin_ctz(PERF_MMAP_CAP_USER_TIME_SHORT));
    if (bits == NULL) {
        return -1;
    }
    int added = PyModule_AddObjectRef(m, "_abi_bits", bits);
    Py_DECREF(bits);
    if (added < 0) {
        return -1;
    }
    st->core.counter_value_type = PyStructSequence_NewType(&core_counter_value_desc);
    if (st->core.counter_value_type == NULL ||
        core_add_type(m, "CounterValue", st->core.counter_value_type) < 0) {
        return -1;
    }
    st->core.group_member_type = PyStructSequence_NewType(&core_group_member_desc);
    if (st->core.group_member_type == NULL ||
        core_add_type(m, "GroupMember", st->core.group_member_type) < 0) {
        return -1;
    }
    st->core.group_values_type = PyStructSequence_NewType(&core_group_values_desc);
    if (st->core.group_values_type == NULL ||
        core_add_type(m, "GroupValues", st->core.group_values_type) < 0) {
        return -1;
    }
    st->core.self_counter_type =
        (PyTypeObject *)PyType_FromModuleAndSpec(m, &core_self_spec, NULL);
    if (st->core.self_counter_type == NULL ||
        core_add_type(m, "SelfCounter", st->core.self_counter_type) < 0) {
        return -1;
    }
    st->core.str_rdpmc = PyUnicode_InternFromString("rdpmc");
    st->core.str_read = PyUnicode_InternFromString("read");
    if (st->core.str_rdpmc == NULL || st->core.str_read == NULL) {
        return -1;
    }
    return 0;
}

static int
core_traverse(core_state *s, visitproc visit, void *arg)
{
    Py_VISIT(s->counter_value_type);
    Py_VISIT(s->group_member_type);
    Py_VISIT(s->group_values_type);
    Py_VISIT(s->self_counter_type);
    return 0;
}

static void
core_clear(core_state *s)
{
    Py_CLEAR(s->counter_value_type);
    Py_CLEAR(s->group_member_type);
    Py_CLEAR(s->group_values_type);
    Py_CLEAR(s->self_counter_type);
    Py_CLEAR(s->str_rdpmc);
    Py_CLEAR(s->str_read);
}

/* ------------------------------------------------------------------------- */
/* 5. section "decode"                                                        */
/* ------------------------------------------------------------------------- */

static PyStructSequence_Field raw_record_fields[] = {
    {"type", "the record's type, a PERF_RECORD_* value"},
    {"misc", "the header's misc bits, PERF_RECORD_MISC_*"},
    {"data", "the bytes after the 8-byte header"},
    {NULL, NULL},
};

static PyStructSequence_Desc raw_record_desc = {
    "perfsys.RawRecord",
    "A record as the kernel wrote it: its header's type and misc, and its body.",
    raw_record_fields,
    3,
};

static PyObject *
decode_raw_record(perfsys_state *st, const unsigned char *rec, size_t size)
{
    uint32_t type;
    uint16_t misc;
    memcpy(&type, rec, 4);
    memcpy(&misc, rec + 4, 2);
    PyObject *r = PyStructSequence_New(st->decode.raw_record_type);
    if (r == NULL) {
        return NULL;
    }
    PyObject *t = PyLong_FromUnsignedLong(type);
    PyObject *mi = PyLong_FromUnsignedLong(misc);
    PyObject *d = PyBytes_FromStringAndSize((const char *)rec + 8,
                                            (Py_ssize_t)(size - 8));
    if (t == NULL || mi == NULL || d == NULL) {
        Py_XDECREF(t);
        Py_XDECREF(mi);
        Py_XDECREF(d);
        Py_DECREF(r);
        return NULL;
    }
    PyStructSequence_SetItem(r, 0, t);
    PyStructSequence_SetItem(r, 1, mi);
    PyStructSequence_SetItem(r, 2, d);
    return r;
}

static int
decode_is_decoder(perfsys_state *st, PyObject *obj)
{
    (void)st;
    (void)obj;
    return 0;
}

static PyObject *
decode_record(PyObject *decoder, const unsigned char *rec, size_t size)
{
    (void)decoder;
    (void)rec;
    (void)size;
    PyErr_SetString(PyExc_NotImplementedError, "record decoding");
    return NULL;
}

static int
decode_exec(PyObject *m, perfsys_state *st)
{
    st->decode.raw_record_type = PyStructSequence_NewType(&raw_record_desc);
    if (st->decode.raw_record_type == NULL) {
        return -1;
    }
    if (PyModule_AddObjectRef(m, "RawRecord",
                              (PyObject *)st->decode.raw_record_type) < 0) {
        return -1;
    }
    return 0;
}

static int
decode_traverse(decode_state *s, visitproc visit, void *arg)
{
    Py_VISIT(s->raw_record_type);
    return 0;
}

static void
decode_clear(decode_state *s)
{
    Py_CLEAR(s->raw_record_type);
}

/* ------------------------------------------------------------------------- */
/* 6. section "ring"                                                          */
/* ------------------------------------------------------------------------- */

static int
ring_exec(PyObject *m, perfsys_state *st)
{
    (void)m;
    (void)st;
    return 0;
}

static int
ring_traverse(ring_state *s, visitproc visit, void *arg)
{
    (void)s;
    (void)visit;
    (void)arg;
    return 0;
}

static void
ring_clear(ring_state *s)
{
    (void)s;
}

/* ------------------------------------------------------------------------- */
/* 7. module definition                                                       */
/* ------------------------------------------------------------------------- */

/* Every ABI number this file uses, by its kernel name, for tests/test_abi.py.
   Offsets are named "offsetof(struct, member)"; sizes "sizeof(struct)". */
static int
add_abi_table(PyObject *m)
{
    static const struct {
        const char *name;
        unsigned long long value;
    } abi_table[] = {
        {"PERF_ATTR_SIZE_VER0", PERF_ATTR_SIZE_VER0},
        {"offsetof(perf_event_attr, size)", PERF_ATTR_OFFSET_SIZE},
        /* section "core" */
        {"offsetof(perf_event_attr, type)", PERF_ATTR_OFFSET_TYPE},
        {"offsetof(perf_event_attr, config)", PERF_ATTR_OFFSET_CONFIG},
        {"offsetof(perf_event_attr, sample_type)", PERF_ATTR_OFFSET_SAMPLE_TYPE},
        {"offsetof(perf_event_attr, read_format)", PERF_ATTR_OFFSET_READ_FORMAT},
        {"offsetof(perf_event_attr, disabled)", PERF_ATTR_OFFSET_FLAGS},
        {"PERF_TYPE_HARDWARE", PERF_TYPE_HARDWARE},
        {"PERF_TYPE_TRACEPOINT", PERF_TYPE_TRACEPOINT},
        {"PERF_TYPE_HW_CACHE", PERF_TYPE_HW_CACHE},
        {"PERF_SAMPLE_RAW", PERF_SAMPLE_RAW},
        {"PERF_FORMAT_TOTAL_TIME_ENABLED", PERF_FORMAT_TOTAL_TIME_ENABLED},
        {"PERF_FORMAT_TOTAL_TIME_RUNNING", PERF_FORMAT_TOTAL_TIME_RUNNING},
        {"PERF_FORMAT_ID", PERF_FORMAT_ID},
        {"PERF_FORMAT_GROUP", PERF_FORMAT_GROUP},
        {"PERF_FORMAT_LOST", PERF_FORMAT_LOST},
        {"PERF_IOC_FLAG_GROUP", PERF_IOC_FLAG_GROUP},
        {"offsetof(perf_event_mmap_page, lock)", PERF_MMAP_OFFSET_LOCK},
        {"offsetof(perf_event_mmap_page, index)", PERF_MMAP_OFFSET_INDEX},
        {"offsetof(perf_event_mmap_page, offset)", PERF_MMAP_OFFSET_OFFSET},
        {"offsetof(perf_event_mmap_page, time_enabled)", PERF_MMAP_OFFSET_TIME_ENABLED},
        {"offsetof(perf_event_mmap_page, time_running)", PERF_MMAP_OFFSET_TIME_RUNNING},
        {"offsetof(perf_event_mmap_page, capabilities)", PERF_MMAP_OFFSET_CAPABILITIES},
        {"offsetof(perf_event_mmap_page, pmc_width)", PERF_MMAP_OFFSET_PMC_WIDTH},
        {"offsetof(perf_event_mmap_page, time_shift)", PERF_MMAP_OFFSET_TIME_SHIFT},
        {"offsetof(perf_event_mmap_page, time_mult)", PERF_MMAP_OFFSET_TIME_MULT},
        {"offsetof(perf_event_mmap_page, time_offset)", PERF_MMAP_OFFSET_TIME_OFFSET},
        {"offsetof(perf_event_mmap_page, time_cycles)", PERF_MMAP_OFFSET_TIME_CYCLES},
        {"offsetof(perf_event_mmap_page, time_mask)", PERF_MMAP_OFFSET_TIME_MASK},
    };
    PyObject *d = PyDict_New();
    if (d == NULL) {
        return -1;
    }
    for (size_t i = 0; i < sizeof(abi_table) / sizeof(abi_table[0]); i++) {
        PyObject *v = PyLong_FromUnsignedLongLong(abi_table[i].value);
        if (v == NULL || PyDict_SetItemString(d, abi_table[i].name, v) < 0) {
            Py_XDECREF(v);
            Py_DECREF(d);
            return -1;
        }
        Py_DECREF(v);
    }
    if (PyModule_AddObjectRef(m, "_abi", d) < 0) {
        Py_DECREF(d);
        return -1;
    }
    Py_DECREF(d);
    return 0;
}

static int
perfsys_exec(PyObject *m)
{
    perfsys_state *st = get_state(m);
    if (core_exec(m, st) < 0 || decode_exec(m, st) < 0 || ring_exec(m, st) < 0) {
        return -1;
    }
    if (add_abi_table(m) < 0) {
        return -1;
    }
    return 0;
}

static int
perfsys_traverse(PyObject *m, visitproc visit, void *arg)
{
    perfsys_state *st = get_state(m);
    int r;
    if ((r = core_traverse(&st->core, visit, arg)) != 0) {
        return r;
    }
    if ((r = decode_traverse(&st->decode, visit, arg)) != 0) {
        return r;
    }
    return ring_traverse(&st->ring, visit, arg);
}

static int
perfsys_clear(PyObject *m)
{
    perfsys_state *st = get_state(m);
    ring_clear(&st->ring);
    decode_clear(&st->decode);
    core_clear(&st->core);
    return 0;
}

static void
perfsys_free(void *m)
{
    (void)perfsys_clear((PyObject *)m);
}

static PyModuleDef_Slot perfsys_slots[] = {
    {Py_mod_exec, perfsys_exec},
#ifdef Py_mod_multiple_interpreters
    {Py_mod_multiple_interpreters, Py_MOD_PER_INTERPRETER_GIL_SUPPORTED},
#endif
#ifdef Py_mod_gil
    {Py_mod_gil, Py_MOD_GIL_NOT_USED},
#endif
    {0, NULL},
};

static struct PyModuleDef perfsys_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "perfsys._perfsys",
    .m_doc = "Direct, unsafe bindings to Linux's perf_event_open(2): the system call, "
             "its ioctls, counter reads, the mmap'ed ring buffer and record decoding.",
    .m_size = sizeof(perfsys_state),
    .m_methods = NULL,
    .m_slots = perfsys_slots,
    .m_traverse = perfsys_traverse,
    .m_clear = perfsys_clear,
    .m_free = perfsys_free,
};

PyMODINIT_FUNC
PyInit__perfsys(void)
{
    return PyModuleDef_Init(&perfsys_module);
}
