/*
 * perfsys._perfsys: direct, unsafe bindings to Linux's perf_event_open(2).
 *
 * One C file, C API only, and two headers beside it. Layout of this file:
 *
 *   1. includes and compatibility shims
 *   2. kernel ABI numbers: #include "_perfsys_abi.h" (generated) and
 *      "_perfsys_records.h" (the record table)
 *   3. per-section state, the module state that holds them, and the interfaces
 *      between sections (rd_u64() and friends)
 *   4. section "core":   perf_event_open, the ioctls, counter reads, errors, and
 *                        the helpers every section uses: perfsys_audit(),
 *                        perfsys_retry_eintr(), core_parse()
 *   5. section "decode": record decoding
 *   6. section "ring":   RingBuffer (the mmap'ed ring buffer)
 *   7. module definition: multi-phase init, traverse/clear/free, `_abi`
 *
 * Where things go:
 *
 *   - A kernel number, offset or bit: never typed here. _perfsys_abi.h, which
 *     tools/regenerate.sh writes from the pinned UAPI headers, has every
 *     constant (PERF_*), ioctl request (PERF_EVENT_IOC_*), record size
 *     (PERFSYS_SIZEOF), member offset (PERFSYS_OFFSETOF) and bitfield
 *     (PERFSYS_BITFIELD); tests/test_abi.py proves them all. Use the name.
 *   - A record type: one row in _perfsys_records.h and the list of its
 *     members; its class, fields, name in errors and decoding follow, and
 *     tools/regenerate.sh writes its stub class. Add a test that decodes it.
 *     (Sample fields: SAMPLE_FIELD_LIST and decode_sample() in section 5.)
 *   - An ioctl: a function in 4.4 (core_parse() for its arguments,
 *     perfsys_audit() before it acts, core_do_ioctl() to call it), a line
 *     in core_ioctl_methods (4.7), and its signature in ioctls.pyi;
 *     perfsys.ioctls exports it by name.
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
#  define PERFSYS_END_CRITICAL() ; }  /* `;`: a label may precede it */
#endif

/* ------------------------------------------------------------------------- */
/* 2. kernel ABI numbers                                                      */
/* ------------------------------------------------------------------------- */
/* Every kernel number, offset and bit this file uses comes from
   _perfsys_abi.h, which tools/regenerate.sh generates from the pinned UAPI
   headers (as it does perfsys.constants). The module exports the header's
   numbers as `_abi` and its bitfield positions as `_abi_bits`, which
   tests/test_abi.py compares with perfsys.constants. */

#include "_perfsys_abi.h"
#include "_perfsys_records.h"

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
    PyObject *sys_audit;               /* sys.audit, for perfsys_audit() (NULL: none) */
} core_state;

/* section "decode" */
#define DECODE_NTYPES ((int)PERF_RECORD_MAX) /* index 0 unused; a type without a row decodes raw */
typedef struct {
    PyTypeObject *raw_record_type;   /* RawRecord(type, misc, data): shared by ring and decode */
    PyTypeObject *record_types[DECODE_NTYPES]; /* one PyStructSequence type per PERF_RECORD_* */
    PyTypeObject *branch_entry_type; /* BranchEntry, items of SampleRecord.branch_stack */
    PyTypeObject *decoder_type;      /* Decoder */
    PyObject *record_error;          /* RecordError(ValueError) */
    PyTypeObject *sample_columns_type; /* SampleColumns, what RingBuffer.read_columns() returns */
#ifndef Py_GIL_DISABLED
    /* The ints of recently read callchain addresses: a profile's stacks repeat,
       and an int taken from here costs an incref instead of an allocation.
       Direct mapped, guarded by the GIL (a free-threaded build has none). */
#  define DECODE_IP_CACHE 1024
    uint64_t ip_key[DECODE_IP_CACHE];
    PyObject *ip_int[DECODE_IP_CACHE];
#endif
} decode_state;

/* section "ring" */
typedef struct {
    PyTypeObject *ring_type;         /* perfsys.RingBuffer */
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

/* decode: drain samples into columns. decode_columns_new() starts a builder
   for the samples of `decoder` (ValueError when its events lay samples out
   differently); decode_columns_add() takes one
   whole record (header.size checked by the caller): a sample into the
   columns, any other record decoded into the builder's list (a drain first
   says how many bytes it will hand over, decode_columns_hint(), so that the
   columns are made once, at their largest);
   decode_columns_finish() returns the SampleColumns and frees the builder,
   decode_columns_free() frees it unfinished. Memory is reused between drains:
   decode_columns_new() takes the references in spares[0:DECODE_COLUMN_SPARES]
   (leaving NULLs), bytearrays of an earlier drain that nobody else holds any
   more are filled again (their pages are already there: a fresh page costs a
   page fault, which is more than the decoding of what it holds), and
   decode_columns_finish() puts new references to the bytearrays it hands out
   into keep[] (NULL-filled by the caller) for the next drain. */
#define DECODE_COLUMN_SPARES 40      /* >= the columns a drain can make (checked in "decode") */
PERFSYS_INTERFACE void *decode_columns_new(PyObject *decoder, PyObject **spares);
PERFSYS_INTERFACE int decode_columns_hint(void *builder, uint64_t bytes, Py_ssize_t max_records);
PERFSYS_INTERFACE int decode_columns_add(void *builder, const unsigned char *rec, size_t size);
PERFSYS_INTERFACE PyObject *decode_columns_finish(void *builder, PyObject **keep);
PERFSYS_INTERFACE void decode_columns_free(void *builder);

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

/* Loads of native-endian ints from anywhere (records and kernel buffers are
   not aligned for C), shared by every section. */
static inline uint64_t
rd_u64(const unsigned char *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

static inline uint32_t
rd_u32(const unsigned char *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

static inline uint16_t
rd_u16(const unsigned char *p)
{
    uint16_t v;
    memcpy(&v, p, 2);
    return v;
}

/* Mappings and fork(). The kernel does not copy a perf mapping into a child
   (VM_DONTCOPY), so an object made before fork() would read unmapped memory in
   the child. Every perf mapping is listed here; in the child, an atfork handler
   puts private zero pages where each one was (so a memoryview exported before
   the fork reads zeros instead of faulting) and bumps the generation, and each
   object refuses to work once its generation is not the current one. */
#include <pthread.h>

typedef struct perfsys_mapping {
    void *addr;                      /* NULL: not mapped */
    size_t len;
    struct perfsys_mapping *prev, *next;
} perfsys_mapping;

static perfsys_mapping perfsys_maps = {NULL, 0, &perfsys_maps, &perfsys_maps};
static pthread_mutex_t perfsys_maps_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t perfsys_atfork_once = PTHREAD_ONCE_INIT;
static unsigned long perfsys_generation;   /* changed only in a new child */

static void
perfsys_atfork_prepare(void)
{
    pthread_mutex_lock(&perfsys_maps_lock);
}

static void
perfsys_atfork_parent(void)
{
    pthread_mutex_unlock(&perfsys_maps_lock);
}

static void
perfsys_atfork_child(void)
{
    perfsys_generation++;
    for (perfsys_mapping *m = perfsys_maps.next; m != &perfsys_maps; m = m->next) {
        (void)mmap(m->addr, m->len, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
    }
    pthread_mutex_unlock(&perfsys_maps_lock);
}

static void
perfsys_atfork_register(void)
{
    (void)pthread_atfork(perfsys_atfork_prepare, perfsys_atfork_parent, perfsys_atfork_child);
}

/* List a mapping just made. */
static void
perfsys_map_add(perfsys_mapping *m, void *addr, size_t len)
{
    m->addr = addr;
    m->len = len;
    pthread_mutex_lock(&perfsys_maps_lock);
    m->next = &perfsys_maps;
    m->prev = perfsys_maps.prev;
    perfsys_maps.prev->next = m;
    perfsys_maps.prev = m;
    pthread_mutex_unlock(&perfsys_maps_lock);
}

/* Unmap and unlist (nothing if not mapped): the perf mapping in the process
   that made it, the zero pages standing in for it in a child. */
static void
perfsys_map_remove(perfsys_mapping *m)
{
    if (m->addr == NULL) {
        return;
    }
    pthread_mutex_lock(&perfsys_maps_lock);
    m->prev->next = m->next;
    m->next->prev = m->prev;
    pthread_mutex_unlock(&perfsys_maps_lock);
    munmap(m->addr, m->len);
    m->addr = NULL;
}

/* ValueError for an object used in a child of the process that mapped it. */
static int
perfsys_forked_error(const char *type)
{
    PyErr_Format(PyExc_ValueError,
                 "this %s was mapped before fork(): the kernel does not copy perf "
                 "mappings into a child; make a new %s in this process",
                 type, type);
    return -1;
}

/* ------------------------------------------------------------------------- */
/* 4. section "core"                                                          */
/* ------------------------------------------------------------------------- */

#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

/* ---- 4.0 ioctl request numbers ------------------------------------------ */

/* The ioctl request numbers (PERF_EVENT_IOC_*, from _perfsys_abi.h), built by
   this compiler for this architecture the way the UAPI header builds them (the
   encoding differs on powerpc, mips, sparc). */
static const struct {
    const char *name;
    unsigned long request;
} core_ioctl_numbers[] = {
#define CORE_IOCTL_NUMBER(name) {#name, name},
    PERFSYS_ABI_IOCTLS(CORE_IOCTL_NUMBER)
#undef CORE_IOCTL_NUMBER
};

/* ---- 4.1 errors ---------------------------------------------------------- */

/* The one audit path: raise the audit event `event` with the arguments that
   `format` (a Py_BuildValue format, as PySys_Audit takes) builds. Returns 0, or
   -1 with the hook's exception set. PySys_Audit is part of the limited API only
   from 3.13, so a limited-API build calls sys.audit (kept in the module state
   `st`: the hooks it runs are what count, and looking it up on each call would
   cost more than the call); a full-API build calls PySys_Audit, which costs
   next to nothing while no hook is installed. */
#if defined(Py_LIMITED_API) && Py_LIMITED_API + 0 < 0x030D0000
#  define perfsys_audit(st, event, format, ...)            \
      perfsys_audit_call((st)->core.sys_audit,               \
                         Py_BuildValue("(s" format ")", (event), __VA_ARGS__))

static int
perfsys_audit_call(PyObject *audit, PyObject *args)
{
    if (args == NULL) {
        return -1;
    }
    PyObject *r = audit == NULL ? Py_NewRef(Py_None) : PyObject_Call(audit, args, NULL);
    Py_DECREF(args);
    if (r == NULL) {
        return -1;
    }
    Py_DECREF(r);
    return 0;
}
#else
#  define perfsys_audit(st, event, format, ...) \
      ((void)(st), PySys_Audit((event), (format), __VA_ARGS__))
#endif

/* The one retry of system calls interrupted by a signal: call fn(ctx) until it
   does not fail with EINTR, running the signal handlers between tries (their
   exception ends the retry), with the GIL released around each call when
   `release_gil`. Returns what fn returned, and in *err its errno when that is
   negative; -1 with *err = 0 when a signal handler raised. */
typedef long (*perfsys_call_fn)(void *ctx);

static inline long
perfsys_retry_eintr(perfsys_call_fn fn, void *ctx, int release_gil, int *err)
{
    for (;;) {
        long r;
        int e;
        if (release_gil) {
            Py_BEGIN_ALLOW_THREADS
            r = fn(ctx);
            e = errno;
            Py_END_ALLOW_THREADS
        }
        else {
            r = fn(ctx);
            e = errno;
        }
        if (r >= 0 || e != EINTR) {
            *err = r < 0 ? e : 0;
            return r;
        }
        if (PyErr_CheckSignals() < 0) {
            *err = 0;
            return -1;
        }
    }
}

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
static void core_errorf(PyObject *exc, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
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

/* The rules for arguments, one per kind. An int argument is an int, not a bool
   and not an object with __index__; out of range is ValueError, too large for
   the C type OverflowError, anything else TypeError. A file descriptor is such
   an int >= 0 or an object with fileno(). */
static int
core_not_bool(PyObject *obj, const char *what)
{
    if (PyBool_Check(obj)) {
        PyErr_Format(PyExc_TypeError, "%s must be an int, not bool", what);
        return -1;
    }
    return 0;
}

static int
core_fd(PyObject *obj, const char *what, int *out)
{
    if (core_not_bool(obj, what) < 0) {
        return -1;
    }
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

/* A file descriptor or -1 (none): group_fd, SET_OUTPUT's target. */
static int
core_fd_or_none(PyObject *obj, const char *what, int *out)
{
    if (PyLong_Check(obj) && !PyBool_Check(obj)) {
        int overflow = 0;
        if (PyLong_AsLongAndOverflow(obj, &overflow) == -1 && overflow == 0) {
            *out = -1;
            return 0;
        }
        PyErr_Clear();
    }
    return core_fd(obj, what, out);
}

/* Is `fd` a perf event? /proc/self/fd names what it is; where /proc is not
   mounted, only a perf event answers PERF_EVENT_IOC_ID. Returns 0 if it is; -1
   with ValueError set if it is some other kind of file, or OSError (EBADF, with
   `call` in the message) if it is not open. */
static int
core_check_perf_fd(int fd, const char *call)
{
    char path[64];
    char target[256];
    static const char want[] = "anon_inode:[perf_event]";
    snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
    ssize_t n = readlink(path, target, sizeof(target) - 1);
    if (n >= 0) {
        target[n] = '\0';
        if (strcmp(target, want) == 0) {
            return 0;
        }
        PyErr_Format(PyExc_ValueError,
                     "fd %d is not a perf event file descriptor (it is %s)", fd, target);
        return -1;
    }
    uint64_t id;
    if (ioctl(fd, PERF_EVENT_IOC_ID, &id) == 0) {
        return 0;
    }
    if (errno == EBADF) {
        char c[96];
        snprintf(c, sizeof(c), "%s(%d)", call, fd);
        core_raise_oserror(EBADF, c, "the fd is not open");
        return -1;
    }
    PyErr_Format(PyExc_ValueError, "fd %d is not a perf event file descriptor", fd);
    return -1;
}

/* Descriptors checked to be perf events (core_check_perf_fd) before their first
   read, by number: 1 once checked, or once perf_event_open returned it. A read
   that fails forgets its number, and so does RingBuffer when it closes its own;
   a number the caller closed and reused for another file is caught only when a
   read of it fails (which the GIL, released around the read, makes harmless to
   the other threads). */
#define CORE_FD_CACHE 4096
static unsigned char core_counter_fds[CORE_FD_CACHE];

static void
core_counter_fd_mark(int fd, unsigned char is_counter)
{
    if ((unsigned)fd < CORE_FD_CACHE) {
        __atomic_store_n(&core_counter_fds[fd], is_counter, __ATOMIC_RELAXED);
    }
}
#define core_counter_fd_forget(fd) core_counter_fd_mark((fd), 0)

static int
core_counter_fd(int fd, const char *call)
{
    if ((unsigned)fd < CORE_FD_CACHE && __atomic_load_n(&core_counter_fds[fd], __ATOMIC_RELAXED)) {
        return 0;
    }
    if (core_check_perf_fd(fd, call) < 0) {
        return -1;
    }
    core_counter_fd_mark(fd, 1);
    return 0;
}

/* An int in [lo, hi]; out of range is OverflowError when it does not fit the
   C type at all and ValueError otherwise. */
static int
core_int_in(PyObject *obj, const char *what, long long lo, long long hi, long long ctype_lo,
            long long ctype_hi, long long *out)
{
    if (!PyLong_Check(obj) || PyBool_Check(obj)) {
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
    if (!PyLong_Check(obj) || PyBool_Check(obj)) {
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

/* The one argument parser of every METH_FASTCALL function: nrequired to n
   arguments, positional or, where `names` names them, by keyword too (`out`
   gets them, borrowed, NULL where not given; positional-only callers may pass
   NULL for both). */
static int
core_parse(const char *fname, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames,
           const char *const *names, Py_ssize_t nrequired, Py_ssize_t n, PyObject **out)
{
    if (nargs > n || (names == NULL && nargs < nrequired)) {
        if (nrequired == n) {
            PyErr_Format(PyExc_TypeError, "%s() takes exactly %zd argument%s (%zd given)", fname,
                         n, n == 1 ? "" : "s", nargs);
        }
        else if (nrequired == 0) {
            PyErr_Format(PyExc_TypeError, "%s() takes at most %zd argument%s (%zd given)",
                         fname, n, n == 1 ? "" : "s", nargs);
        }
        else {
            PyErr_Format(PyExc_TypeError, "%s() takes %zd to %zd arguments (%zd given)", fname,
                         nrequired, n, nargs);
        }
        return -1;
    }
    if (out == NULL) {
        return 0;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        out[i] = i < nargs ? args[i] : NULL;
    }
    Py_ssize_t nkw = kwnames == NULL ? 0 : PyTuple_Size(kwnames);
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
            PyErr_Format(PyExc_TypeError, "%s() got an unexpected keyword argument %R", fname,
                         key);
            return -1;
        }
        if (out[i] != NULL) {
            PyErr_Format(PyExc_TypeError, "%s() got multiple values for argument '%s'", fname,
                         names[i]);
            return -1;
        }
        out[i] = args[nargs + k];
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

/* lo to hi positional arguments */
#define core_nargs(fname, nargs, lo, hi) core_parse((fname), NULL, (nargs), NULL, NULL, (lo), (hi), NULL)

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
    memcpy(&size, (const char *)view->buf + PERFSYS_OFFSETOF(perf_event_attr, size), sizeof(size));
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

typedef struct {
    void *attr;
    int pid, cpu, group_fd;
    unsigned long flags;
} core_open_args;

static long
core_open_call(void *ctx)
{
    const core_open_args *a = ctx;
    return syscall(__NR_perf_event_open, a->attr, a->pid, a->cpu, a->group_fd, a->flags);
}

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
    memcpy(&type, attr + PERFSYS_OFFSETOF(perf_event_attr, type), 4);
    memcpy(&config, attr + PERFSYS_OFFSETOF(perf_event_attr, config), 8);
    memcpy(&sample_type, attr + PERFSYS_OFFSETOF(perf_event_attr, sample_type), 8);
    memcpy(&flags, attr + PERFSYS_OFFSETOF(perf_event_attr, disabled), 8);
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
            if (p >= 2 && !PERFSYS_BITFIELD(flags, perf_event_attr, exclude_kernel)) {
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
        memcpy(&now, attr + PERFSYS_OFFSETOF(perf_event_attr, size), 4);
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
    long long pid, cpu, flags = 0;
    int group_fd = -1;
    (void)module;
    if (core_parse("perf_event_open", args, nargs, kwnames, names, 3, 5, a) < 0) {
        return NULL;
    }
    if (core_int_in(a[1], "pid", -1, INT_MAX, INT_MIN, INT_MAX, &pid) < 0 ||
        core_int_in(a[2], "cpu", -1, INT_MAX, INT_MIN, INT_MAX, &cpu) < 0 ||
        (a[3] != NULL && core_fd_or_none(a[3], "group_fd", &group_fd) < 0) ||
        (a[4] != NULL &&
         core_int_in(a[4], "flags", 0, LONG_MAX, 0, LONG_MAX, &flags) < 0)) {
        return NULL;
    }
    Py_buffer view;
    if (core_attr_buffer(a[0], "perf_event_open", &view) < 0) {
        return NULL;
    }
    if (perfsys_audit(get_state(module), "perfsys.perf_event_open", "OiiiK", a[0], (int)pid,
                      (int)cpu, (int)group_fd, (unsigned long long)flags) < 0) {
        PyBuffer_Release(&view);
        return NULL;
    }
    int err = 0;
    uint32_t size_before;
    memcpy(&size_before, (const unsigned char *)view.buf + PERFSYS_OFFSETOF(perf_event_attr, size), 4);
    core_open_args call_args = {view.buf, (int)pid, (int)cpu, (int)group_fd,
                                (unsigned long)flags};
    long fd = perfsys_retry_eintr(core_open_call, &call_args, 1, &err);
    if (fd < 0 && err == 0) {
        PyBuffer_Release(&view);
        return NULL; /* a signal handler raised */
    }
    if (fd < 0) {
        char detail[768];
        char call[160];
        uint32_t type;
        uint64_t config;
        memcpy(&type, (const unsigned char *)view.buf + PERFSYS_OFFSETOF(perf_event_attr, type), 4);
        memcpy(&config, (const unsigned char *)view.buf + PERFSYS_OFFSETOF(perf_event_attr, config), 8);
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
    core_counter_fd_mark((int)fd, 1);
    return PyLong_FromLong(fd);
}

/* ---- 4.4 the ioctls ------------------------------------------------------ */

/* ioctl(fd, request, arg), EINTR retried after the signal handlers ran. The
   GIL is released around it: ENABLE/DISABLE/REFRESH/... take the event
   context's mutex and may wait for a cross-CPU call (see the README's "GIL"). */
typedef struct {
    int fd;
    unsigned long request, arg;
} core_ioctl_args;

static long
core_ioctl_call(void *ctx)
{
    const core_ioctl_args *a = ctx;
    return ioctl(a->fd, a->request, a->arg);
}

static int
core_do_ioctl(int fd, unsigned long request, unsigned long arg, int *err)
{
    core_ioctl_args a = {fd, request, arg};
    return (int)perfsys_retry_eintr(core_ioctl_call, &a, 1, err);
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
core_audit_ioctl(PyObject *m, const char *name, int fd, PyObject *arg)
{
    return perfsys_audit(get_state(m), "perfsys.ioctl", "isO", fd, name,
                         arg == NULL ? Py_None : arg);
}

/* ENABLE, DISABLE, RESET: (fd, flags=0) where flags is 0 or PERF_IOC_FLAG_GROUP. */
static PyObject *
core_ioctl_flags(PyObject *m, PyObject *const *args, Py_ssize_t nargs, const char *name,
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
    if (core_audit_ioctl(m, name, fd, nargs > 1 ? args[1] : NULL) < 0) {
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
    return core_ioctl_flags(m, args, nargs, "ENABLE", PERF_EVENT_IOC_ENABLE);
}

PyDoc_STRVAR(core_ioctl_disable_doc,
"DISABLE($module, fd, flags=0, /)\n--\n\n"
"PERF_EVENT_IOC_DISABLE: stop counting. flags=PERF_IOC_FLAG_GROUP disables the\n"
"whole group of which fd is the leader.");

static PyObject *
core_ioctl_disable(PyObject *m, PyObject *const *args, Py_ssize_t nargs)
{
    return core_ioctl_flags(m, args, nargs, "DISABLE", PERF_EVENT_IOC_DISABLE);
}

PyDoc_STRVAR(core_ioctl_reset_doc,
"RESET($module, fd, flags=0, /)\n--\n\n"
"PERF_EVENT_IOC_RESET: set the count to zero (not the enabled/running times).\n"
"flags=PERF_IOC_FLAG_GROUP resets the whole group of which fd is the leader.");

static PyObject *
core_ioctl_reset(PyObject *m, PyObject *const *args, Py_ssize_t nargs)
{
    return core_ioctl_flags(m, args, nargs, "RESET", PERF_EVENT_IOC_RESET);
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
    if (core_nargs("REFRESH", nargs, 2, 2) < 0 || core_fd(args[0], "fd", &fd) < 0 ||
        core_int_in(args[1], "n", 0, INT_MAX, INT_MIN, INT_MAX, &n) < 0) {
        return NULL;
    }
    if (core_audit_ioctl(m, "REFRESH", fd, args[1]) < 0) {
        return NULL;
    }
    if (core_do_ioctl(fd, PERF_EVENT_IOC_REFRESH, (unsigned long)n, &err) < 0) {
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
    if (core_nargs("PERIOD", nargs, 2, 2) < 0 || core_fd(args[0], "fd", &fd) < 0 ||
        core_u64(args[1], "period", &period) < 0) {
        return NULL;
    }
    if (core_audit_ioctl(m, "PERIOD", fd, args[1]) < 0) {
        return NULL;
    }
    if (core_do_ioctl(fd, PERF_EVENT_IOC_PERIOD, (unsigned long)(uintptr_t)&period, &err) < 0) {
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
    int fd, err, target;
    if (core_nargs("SET_OUTPUT", nargs, 2, 2) < 0 || core_fd(args[0], "fd", &fd) < 0 ||
        core_fd_or_none(args[1], "target_fd", &target) < 0) {
        return NULL;
    }
    if (core_audit_ioctl(m, "SET_OUTPUT", fd, args[1]) < 0) {
        return NULL;
    }
    if (core_do_ioctl(fd, PERF_EVENT_IOC_SET_OUTPUT, (unsigned long)(long)target, &err) < 0) {
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
    if (core_audit_ioctl(m, "SET_FILTER", fd, args[1]) < 0) {
        return NULL;
    }
    if (core_do_ioctl(fd, PERF_EVENT_IOC_SET_FILTER, (unsigned long)(uintptr_t)text, &err) < 0) {
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
    if (core_fd(arg, "fd", &fd) < 0) {
        return NULL;
    }
    if (core_audit_ioctl(m, "ID", fd, NULL) < 0) {
        return NULL;
    }
    if (core_do_ioctl(fd, PERF_EVENT_IOC_ID, (unsigned long)(uintptr_t)&id, &err) < 0) {
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
    if (core_nargs("SET_BPF", nargs, 2, 2) < 0 || core_fd(args[0], "fd", &fd) < 0 ||
        core_fd(args[1], "prog_fd", &prog) < 0) {
        return NULL;
    }
    if (core_audit_ioctl(m, "SET_BPF", fd, args[1]) < 0) {
        return NULL;
    }
    if (core_do_ioctl(fd, PERF_EVENT_IOC_SET_BPF, (unsigned long)prog, &err) < 0) {
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
    if (core_audit_ioctl(m, "PAUSE_OUTPUT", fd, args[1]) < 0) {
        return NULL;
    }
    if (core_do_ioctl(fd, PERF_EVENT_IOC_PAUSE_OUTPUT, (unsigned long)pause, &err) < 0) {
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

/* QUERY_BPF(fd, buffer): the caller's perf_event_query_bpf, filled; prog_cnt. */
static PyObject *
core_query_bpf_buffer(PyObject *m, int fd, PyObject *buffer)
{
    int err;
    Py_buffer view;
    if (PyObject_GetBuffer(buffer, &view, PyBUF_SIMPLE | PyBUF_WRITABLE) < 0) {
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
    if (core_audit_ioctl(m, "QUERY_BPF", fd, buffer) < 0) {
        PyBuffer_Release(&view);
        return NULL;
    }
    /* The kernel reads ids_len again while the GIL is released, when another
       thread may change the caller's buffer: it gets a private copy holding the
       ids_len checked above, and the caller's buffer gets the result. */
    size_t qlen = 8 + 4 * (size_t)ids_len;
    uint32_t *q = PyMem_Malloc(qlen);
    if (q == NULL) {
        PyBuffer_Release(&view);
        return PyErr_NoMemory();
    }
    memcpy(q, view.buf, qlen);
    q[0] = ids_len;
    int r = core_do_ioctl(fd, PERF_EVENT_IOC_QUERY_BPF, (unsigned long)(uintptr_t)q, &err);
    memcpy((char *)view.buf + 4, (const char *)q + 4, qlen - 4);
    cnt = q[1];
    PyMem_Free(q);
    PyBuffer_Release(&view);
    if (r < 0) {
        return core_ioctl_error(err, "QUERY_BPF", fd, NULL);
    }
    return PyLong_FromUnsignedLong(cnt);
}

/* QUERY_BPF(fd, max_ids=64): (prog_cnt, ids), in a buffer of our own.
   max_ids_obj is NULL where not given. */
static PyObject *
core_query_bpf_ids(PyObject *m, int fd, PyObject *max_ids_obj)
{
    int err;
    long long max_ids = 64;
    if (max_ids_obj != NULL && core_int_in(max_ids_obj, "max_ids", 0, CORE_QUERY_BPF_MAX_IDS,
                                           LLONG_MIN, LLONG_MAX, &max_ids) < 0) {
        return NULL;
    }
    if (core_audit_ioctl(m, "QUERY_BPF", fd, max_ids_obj) < 0) {
        return NULL;
    }
    uint32_t *q = PyMem_Calloc(2 + (size_t)max_ids, sizeof(uint32_t));
    if (q == NULL) {
        return PyErr_NoMemory();
    }
    q[0] = (uint32_t)max_ids;
    if (core_do_ioctl(fd, PERF_EVENT_IOC_QUERY_BPF, (unsigned long)(uintptr_t)q, &err) < 0) {
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

static PyObject *
core_ioctl_query_bpf(PyObject *m, PyObject *const *args, Py_ssize_t nargs)
{
    int fd;
    if (core_nargs("QUERY_BPF", nargs, 1, 2) < 0 || core_fd(args[0], "fd", &fd) < 0) {
        return NULL;
    }
    if (nargs == 1 || PyLong_Check(args[1])) {
        return core_query_bpf_ids(m, fd, nargs == 2 ? args[1] : NULL);
    }
    if (!PyObject_CheckBuffer(args[1])) {
        core_wrong_type("QUERY_BPF's second argument",
                        "an int (max_ids) or a writable perf_event_query_bpf buffer", args[1]);
        return NULL;
    }
    return core_query_bpf_buffer(m, fd, args[1]);
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
    if (core_nargs("MODIFY_ATTRIBUTES", nargs, 2, 2) < 0 || core_fd(args[0], "fd", &fd) < 0 ||
        core_attr_buffer(args[1], "MODIFY_ATTRIBUTES", &view) < 0) {
        return NULL;
    }
    if (core_audit_ioctl(m, "MODIFY_ATTRIBUTES", fd, args[1]) < 0) {
        PyBuffer_Release(&view);
        return NULL;
    }
    int r = core_do_ioctl(fd, PERF_EVENT_IOC_MODIFY_ATTRIBUTES, (unsigned long)(uintptr_t)view.buf,
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

/* A u64 at *p (advancing it) when present, else None. */
static PyObject *
core_field(int present, const unsigned char **p)
{
    if (!present) {
        return Py_NewRef(Py_None);
    }
    uint64_t v = rd_u64(*p);
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
    uint64_t nr = rd_u64(p);
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

/* read(2) of a counter, EINTR retried after signal handlers ran, with the GIL
   released: a counter's read does not block, but a descriptor number that was a
   counter when perfsys checked it may since have been closed and taken by a pipe
   (see the README's "GIL"). */
#ifndef PERFSYS_READ_RELEASES_GIL
#  define PERFSYS_READ_RELEASES_GIL 1 /* benchmarks/bench_read.py builds it with 0 */
#endif

typedef struct {
    int fd;
    void *buf;
    size_t cap;
} core_read_args;

static long
core_read_call(void *ctx)
{
    const core_read_args *a = ctx;
    return (long)read(a->fd, a->buf, a->cap);
}

static ssize_t
core_read_fd(int fd, void *buf, size_t cap, int *err)
{
    core_read_args a = {fd, buf, cap};
    return (ssize_t)perfsys_retry_eintr(core_read_call, &a, PERFSYS_READ_RELEASES_GIL, err);
}

static PyObject *
core_read_error(int err, int fd, const char *extra)
{
    char call[48];
    core_counter_fd_forget(fd);
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
    core_counter_fd_forget(fd);
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
    if (core_fd(arg, "fd", &fd) < 0 || core_counter_fd(fd, "read") < 0) {
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
#define CORE_READ_MAX (16u << 20) /* 4 KiB * 8^4: about 700,000 group members */

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
        core_check_read_format(rf) < 0 || core_counter_fd(fd, "read") < 0) {
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
        uint64_t nr = rd_u64(buf);
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
    if (core_counter_fd(fd, "read") < 0) {
        PyBuffer_Release(&view);
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
#  define CORE_RDPMC_INDEX_OK(idx) 1
#elif defined(__aarch64__)
/* PMUv3 from EL0 (allowed when kernel.perf_user_access=1 and the event asked
   for it with the PMU's rdpmc term): the page's index is the counter + 1, and
   counter 31 is the cycle counter PMCCNTR_EL0, the others PMEVCNTR<n>_EL0, as
   in the kernel's tools/lib/perf. The time counter is readable from EL0 on
   every Linux arm64 system. */
#  define CORE_HAVE_RDPMC 1
#  define CORE_PMEVCNTR(n)                                                 \
    case n:                                                                \
        __asm__ __volatile__("mrs %0, pmevcntr" #n "_el0" : "=r"(v));      \
        break
static inline uint64_t
core_rdpmc(uint32_t counter)
{
    uint64_t v = 0;
    switch (counter) {
    CORE_PMEVCNTR(0); CORE_PMEVCNTR(1); CORE_PMEVCNTR(2); CORE_PMEVCNTR(3);
    CORE_PMEVCNTR(4); CORE_PMEVCNTR(5); CORE_PMEVCNTR(6); CORE_PMEVCNTR(7);
    CORE_PMEVCNTR(8); CORE_PMEVCNTR(9); CORE_PMEVCNTR(10); CORE_PMEVCNTR(11);
    CORE_PMEVCNTR(12); CORE_PMEVCNTR(13); CORE_PMEVCNTR(14); CORE_PMEVCNTR(15);
    CORE_PMEVCNTR(16); CORE_PMEVCNTR(17); CORE_PMEVCNTR(18); CORE_PMEVCNTR(19);
    CORE_PMEVCNTR(20); CORE_PMEVCNTR(21); CORE_PMEVCNTR(22); CORE_PMEVCNTR(23);
    CORE_PMEVCNTR(24); CORE_PMEVCNTR(25); CORE_PMEVCNTR(26); CORE_PMEVCNTR(27);
    CORE_PMEVCNTR(28); CORE_PMEVCNTR(29); CORE_PMEVCNTR(30);
    default:
        __asm__ __volatile__("mrs %0, pmccntr_el0" : "=r"(v));
        break;
    }
    return v;
}
#  define CORE_RDPMC_INDEX_OK(idx) ((idx) <= 32) /* counters 0-30, the cycle counter 31 */
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
    perfsys_mapping map; /* the page, listed for fork() */
    unsigned long generation; /* perfsys_generation when mapped */
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
    if (self->generation != perfsys_generation) {
        return perfsys_forked_error("SelfCounter");
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
    if (perfsys_audit(st, "perfsys.SelfCounter", "iK", fd, (unsigned long long)rf) < 0) {
        return NULL;
    }
    if (core_check_perf_fd(fd, "SelfCounter") < 0) {
        return NULL;
    }
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
    perfsys_map_add(&self->map, page, page_size);
    self->generation = perfsys_generation;
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
        self->page = NULL;
        perfsys_map_remove(&self->map);
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
"when the value came from the counter itself through the header page's seqlock\n"
"(rdpmc on x86-64, mrs of the PMU counter on aarch64; cap_user_rdpmc set and\n"
"the event on a hardware counter: index != 0);\n"
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
            seq = CORE_PG(pg, uint32_t, PERFSYS_OFFSETOF(perf_event_mmap_page, lock));
            CORE_BARRIER();
            enabled = CORE_PG(pg, uint64_t, PERFSYS_OFFSETOF(perf_event_mmap_page, time_enabled));
            running = CORE_PG(pg, uint64_t, PERFSYS_OFFSETOF(perf_event_mmap_page, time_running));
            caps = CORE_PG(pg, uint64_t, PERFSYS_OFFSETOF(perf_event_mmap_page, capabilities));
            cyc = 0;
            if (PERFSYS_BITFIELD(caps, perf_event_mmap_page, cap_user_time) != 0) {
                cyc = core_cycles();
                time_offset = CORE_PG(pg, uint64_t, PERFSYS_OFFSETOF(perf_event_mmap_page, time_offset));
                time_mult = CORE_PG(pg, uint32_t, PERFSYS_OFFSETOF(perf_event_mmap_page, time_mult));
                time_shift = CORE_PG(pg, uint16_t, PERFSYS_OFFSETOF(perf_event_mmap_page, time_shift));
                if (PERFSYS_BITFIELD(caps, perf_event_mmap_page, cap_user_time_short) != 0) {
                    time_cycles = CORE_PG(pg, uint64_t, PERFSYS_OFFSETOF(perf_event_mmap_page, time_cycles));
                    time_mask = CORE_PG(pg, uint64_t, PERFSYS_OFFSETOF(perf_event_mmap_page, time_mask));
                }
            }
            idx = CORE_PG(pg, uint32_t, PERFSYS_OFFSETOF(perf_event_mmap_page, index));
            count = CORE_PG(pg, int64_t, PERFSYS_OFFSETOF(perf_event_mmap_page, offset));
            if (PERFSYS_BITFIELD(caps, perf_event_mmap_page, cap_user_rdpmc) == 0 || idx == 0 ||
                !CORE_RDPMC_INDEX_OK(idx)) {
                break; /* not on a hardware counter user space may read */
            }
            uint16_t width = CORE_PG(pg, uint16_t, PERFSYS_OFFSETOF(perf_event_mmap_page, pmc_width));
            int64_t pmc = (int64_t)core_rdpmc(idx - 1);
            if (width > 0 && width < 64) {
                pmc = (int64_t)((uint64_t)pmc << (64 - width)) >> (64 - width);
            }
            count += pmc;
            CORE_BARRIER();
            if (CORE_PG(pg, uint32_t, PERFSYS_OFFSETOF(perf_event_mmap_page, lock)) == seq) {
                ok = 1;
                break;
            }
        }
        if (ok) {
            if (cyc != 0 && time_shift < 64) {
                if (PERFSYS_BITFIELD(caps, perf_event_mmap_page, cap_user_time_short) != 0) {
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
    int ok;
    PERFSYS_BEGIN_CRITICAL(op);
    ok = core_self_check((core_self_counter *)op) == 0;
    PERFSYS_END_CRITICAL();
    return ok ? Py_NewRef(op) : NULL;
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
    int fd = -1;
    PERFSYS_BEGIN_CRITICAL(op);
    if (core_self_check(self) == 0) {
        fd = self->fd;
    }
    PERFSYS_END_CRITICAL();
    return fd < 0 ? NULL : PyLong_FromLong(fd);
}

static PyObject *
core_self_get_closed(PyObject *op, void *closure)
{
    int closed;
    (void)closure;
    PERFSYS_BEGIN_CRITICAL(op);
    closed = ((core_self_counter *)op)->page == NULL;
    PERFSYS_END_CRITICAL();
    return PyBool_FromLong(closed);
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
            CORE_PG(self->page, uint64_t, PERFSYS_OFFSETOF(perf_event_mmap_page, capabilities)));
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
        r = PyLong_FromUnsignedLong(CORE_PG(self->page, uint32_t, PERFSYS_OFFSETOF(perf_event_mmap_page, index)));
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
"Self-monitoring read of one counter through its mmap'ed header page: the\n"
"counter itself where the page allows it (x86-64, aarch64), read(2) otherwise.\n"
"Maps one page of fd (which must not have a ring buffer of another size); the\n"
"fd stays the caller's. read_format must be the event's attr.read_format,\n"
"without PERF_FORMAT_GROUP.");

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
    st->core.sys_audit = Py_XNewRef(PySys_GetObject("audit"));
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
    Py_VISIT(s->sys_audit);
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
    Py_CLEAR(s->sys_audit);
}

/* ------------------------------------------------------------------------- */
/* 5. section "decode"                                                        */
/* ------------------------------------------------------------------------- */

/*
 * A Decoder holds, for each event that writes into a ring, the few attr fields
 * that shape its records (sample_type, read_format, sample_id_all, the
 * branch-stack flags, the number of user and interrupt registers). Records come
 * out as PyStructSequence instances, one type per PERF_RECORD_* value; every
 * length is checked against the record's end before it is read.
 */

#define BPF_TAG_SIZE 8u                  /* from linux/bpf.h */
#define DECODE_BUILD_ID_MAX 20u          /* build_id[20] in PERF_RECORD_MMAP2 */
#define DECODE_TRAILER_NFIELDS 7

/* The bits of sample_type whose fields make up the sample_id trailer. */
#define DECODE_TRAILER_BITS (PERF_SAMPLE_TID | PERF_SAMPLE_TIME | PERF_SAMPLE_ID | \
                             PERF_SAMPLE_STREAM_ID | PERF_SAMPLE_CPU | PERF_SAMPLE_IDENTIFIER)

typedef struct {
    uint64_t id;                 /* the event's id, when has_id */
    uint64_t sample_type;
    uint64_t read_format;
    uint64_t branch_flags;       /* branch_sample_type & (HW_INDEX | COUNTERS) */
    uint32_t nregs_user;         /* popcount(sample_regs_user) */
    uint32_t nregs_intr;         /* popcount(sample_regs_intr) */
    uint32_t trailer_size;       /* bytes of the sample_id trailer; 0 without sample_id_all */
    uint64_t fields;             /* the SampleRecord fields sample_type selects, 1 << S_* */
    int sample_id_all;
    int has_id;
} decode_config;

typedef struct {
    PyObject_HEAD
    perfsys_state *st;           /* the module's state; the type keeps the module alive */
    decode_config *cfg;          /* sorted by id when !uniform */
    Py_ssize_t ncfg;
    int uniform;                 /* every config lays records out the same way */
} DecoderObject;

/* ---- record types ---- */

#define DECODE_HEADER_FIELDS \
    {"type", "the header's type, a PERF_RECORD_* value"}, \
    {"misc", "the header's misc bits, PERF_RECORD_MISC_*"}

#define DECODE_TRAILER_FIELDS \
    {"sample_pid", "sample_id trailer: pid (PERF_SAMPLE_TID and sample_id_all), else None"}, \
    {"sample_tid", "sample_id trailer: tid (PERF_SAMPLE_TID and sample_id_all), else None"}, \
    {"sample_time", "sample_id trailer: time (PERF_SAMPLE_TIME and sample_id_all), else None"}, \
    {"sample_id", "sample_id trailer: id (PERF_SAMPLE_ID and sample_id_all), else None"}, \
    {"sample_stream_id", "sample_id trailer: stream_id (PERF_SAMPLE_STREAM_ID and sample_id_all), else None"}, \
    {"sample_cpu", "sample_id trailer: cpu (PERF_SAMPLE_CPU and sample_id_all), else None"}, \
    {"sample_identifier", "sample_id trailer: id (PERF_SAMPLE_IDENTIFIER and sample_id_all), else None"}, \
    {NULL, NULL}

static PyStructSequence_Field raw_record_fields[] = {
    DECODE_HEADER_FIELDS,
    {"data", "the bytes after the 8-byte header"},
    {NULL, NULL},
};

/* Every other record type, from _perfsys_records.h: its fields (header, body,
   trailer), and the bytes its body's fixed part takes (DK_MIN_<KIND> for each
   member: a count, for NS and CALLCHAIN). decode_other() reads the members. */
#define DK_MIN_PID 4
#define DK_MIN_U16 2
#define DK_MIN_U32 4
#define DK_MIN_U64 8
#define DK_MIN_LEN16 2
#define DK_MIN_LEN_BYTES 0
#define DK_MIN_TAG BPF_TAG_SIZE
#define DK_MIN_CSTR 0
#define DK_MIN_READ 0
#define DK_MIN_NS 8
#define DK_MIN_CALLCHAIN 8
#define DK_MIN_INODE_U32 4
#define DK_MIN_INODE_U64 8
#define DK_MIN_BUILD_ID 0

#define DECODE_BODY_FIELD(name, kind, doc) {#name, doc},
#define DECODE_BODY_MIN(name, kind, doc) + DK_MIN_##kind
#define DECODE_BODY_FIELDS(TYPE, cls, doc, body)                                          \
    static PyStructSequence_Field decode_fields_##TYPE[] = {                              \
        DECODE_HEADER_FIELDS, PERFSYS_BODY_##body(DECODE_BODY_FIELD) DECODE_TRAILER_FIELDS, \
    };
PERFSYS_RECORDS(DECODE_BODY_FIELDS)
#undef DECODE_BODY_FIELDS
#undef DECODE_BODY_FIELD

/* SampleRecord: every PERF_SAMPLE_* field in the kernel's order; a field whose
   bit is not in sample_type is None. */
/* Every SampleRecord field, in order: its index name, how it is held, the
   sample_type bits that bring it (0: always there) and the branch_sample_type
   bit it also needs (0: none), its name, its doc. One list makes the index
   enum, the PyStructSequence_Field table, the getset table and the map from
   sample_type to fields, all constant (nothing is written at import, which
   several interpreters may do at once). */
#define SAMPLE_FIELD_LIST(X) \
    X(S_TYPE, SK_U64, 0, 0, "type", "the header's type, a PERF_RECORD_* value") \
    X(S_MISC, SK_U64, 0, 0, "misc", "the header's misc bits, PERF_RECORD_MISC_*") \
    X(S_IDENTIFIER, SK_U64, PERF_SAMPLE_IDENTIFIER, 0, "identifier", "PERF_SAMPLE_IDENTIFIER: the event id") \
    X(S_IP, SK_U64, PERF_SAMPLE_IP, 0, "ip", "PERF_SAMPLE_IP: instruction pointer") \
    X(S_PID, SK_I64, PERF_SAMPLE_TID, 0, "pid", "PERF_SAMPLE_TID: process id") \
    X(S_TID, SK_I64, PERF_SAMPLE_TID, 0, "tid", "PERF_SAMPLE_TID: thread id") \
    X(S_TIME, SK_U64, PERF_SAMPLE_TIME, 0, "time", "PERF_SAMPLE_TIME: timestamp") \
    X(S_ADDR, SK_U64, PERF_SAMPLE_ADDR, 0, "addr", "PERF_SAMPLE_ADDR: address") \
    X(S_ID, SK_U64, PERF_SAMPLE_ID, 0, "id", "PERF_SAMPLE_ID: the event id") \
    X(S_STREAM_ID, SK_U64, PERF_SAMPLE_STREAM_ID, 0, "stream_id", "PERF_SAMPLE_STREAM_ID: the stream id") \
    X(S_CPU, SK_U64, PERF_SAMPLE_CPU, 0, "cpu", "PERF_SAMPLE_CPU: cpu number") \
    X(S_PERIOD, SK_U64, PERF_SAMPLE_PERIOD, 0, "period", "PERF_SAMPLE_PERIOD: sample period") \
    X(S_READ, SK_OBJ, PERF_SAMPLE_READ, 0, "read", "PERF_SAMPLE_READ: read_format values, as the counter read functions return them") \
    X(S_CALLCHAIN, SK_ARRAY, PERF_SAMPLE_CALLCHAIN, 0, "callchain", "PERF_SAMPLE_CALLCHAIN: tuple of addresses (with PERF_CONTEXT_* markers)") \
    X(S_RAW, SK_OBJ, PERF_SAMPLE_RAW, 0, "raw", "PERF_SAMPLE_RAW: bytes (size as the kernel wrote it, padding included)") \
    X(S_HW_IDX, SK_U64, PERF_SAMPLE_BRANCH_STACK, PERF_SAMPLE_BRANCH_HW_INDEX, "hw_idx", "PERF_SAMPLE_BRANCH_STACK with PERF_SAMPLE_BRANCH_HW_INDEX: hw_idx") \
    X(S_BRANCH_STACK, SK_OBJ, PERF_SAMPLE_BRANCH_STACK, 0, "branch_stack", "PERF_SAMPLE_BRANCH_STACK: tuple of BranchEntry") \
    X(S_BRANCH_COUNTERS, SK_ARRAY, PERF_SAMPLE_BRANCH_STACK, PERF_SAMPLE_BRANCH_COUNTERS, "branch_counters", "PERF_SAMPLE_BRANCH_STACK with PERF_SAMPLE_BRANCH_COUNTERS: tuple of ints") \
    X(S_REGS_USER_ABI, SK_U64, PERF_SAMPLE_REGS_USER, 0, "regs_user_abi", "PERF_SAMPLE_REGS_USER: PERF_SAMPLE_REGS_ABI_*") \
    X(S_REGS_USER, SK_ARRAY, PERF_SAMPLE_REGS_USER, 0, "regs_user", "PERF_SAMPLE_REGS_USER: tuple of register values (empty for ABI_NONE)") \
    X(S_STACK_USER, SK_OBJ, PERF_SAMPLE_STACK_USER, 0, "stack_user", "PERF_SAMPLE_STACK_USER: the dumped stack bytes") \
    X(S_STACK_USER_DYN_SIZE, SK_U64, PERF_SAMPLE_STACK_USER, 0, "stack_user_dyn_size", "PERF_SAMPLE_STACK_USER: bytes of stack_user that are valid (None if size was 0)") \
    X(S_WEIGHT, SK_U64, PERF_SAMPLE_WEIGHT | PERF_SAMPLE_WEIGHT_STRUCT, 0, "weight", "PERF_SAMPLE_WEIGHT or PERF_SAMPLE_WEIGHT_STRUCT: the whole u64") \
    X(S_WEIGHT_STRUCT, SK_WSTRUCT, PERF_SAMPLE_WEIGHT_STRUCT, 0, "weight_struct", "PERF_SAMPLE_WEIGHT_STRUCT: (var1_dw, var2_w, var3_w)") \
    X(S_DATA_SRC, SK_U64, PERF_SAMPLE_DATA_SRC, 0, "data_src", "PERF_SAMPLE_DATA_SRC: a perf_mem_data_src value") \
    X(S_TRANSACTION, SK_U64, PERF_SAMPLE_TRANSACTION, 0, "transaction", "PERF_SAMPLE_TRANSACTION: PERF_TXN_* bits") \
    X(S_REGS_INTR_ABI, SK_U64, PERF_SAMPLE_REGS_INTR, 0, "regs_intr_abi", "PERF_SAMPLE_REGS_INTR: PERF_SAMPLE_REGS_ABI_*") \
    X(S_REGS_INTR, SK_ARRAY, PERF_SAMPLE_REGS_INTR, 0, "regs_intr", "PERF_SAMPLE_REGS_INTR: tuple of register values (empty for ABI_NONE)") \
    X(S_PHYS_ADDR, SK_U64, PERF_SAMPLE_PHYS_ADDR, 0, "phys_addr", "PERF_SAMPLE_PHYS_ADDR: physical address") \
    X(S_CGROUP, SK_U64, PERF_SAMPLE_CGROUP, 0, "cgroup", "PERF_SAMPLE_CGROUP: cgroup id") \
    X(S_DATA_PAGE_SIZE, SK_U64, PERF_SAMPLE_DATA_PAGE_SIZE, 0, "data_page_size", "PERF_SAMPLE_DATA_PAGE_SIZE") \
    X(S_CODE_PAGE_SIZE, SK_U64, PERF_SAMPLE_CODE_PAGE_SIZE, 0, "code_page_size", "PERF_SAMPLE_CODE_PAGE_SIZE") \
    X(S_AUX, SK_OBJ, PERF_SAMPLE_AUX, 0, "aux", "PERF_SAMPLE_AUX: bytes")

#define SAMPLE_ENUM(idx, kind, bits, branch_bits, name, doc) idx,
enum { SAMPLE_FIELD_LIST(SAMPLE_ENUM) S_NFIELDS };
#undef SAMPLE_ENUM

#define SAMPLE_FIELD(idx, kind, bits, branch_bits, name, doc) {name, doc},
static PyStructSequence_Field sample_fields[] = {
    SAMPLE_FIELD_LIST(SAMPLE_FIELD)
    {NULL, NULL},
};
#undef SAMPLE_FIELD

/* How a field is held: a u64, a signed value (pids and tids), a u64 array in
   the object's variable part, the weight's u64 seen as weight_struct, or a
   Python object. */
enum { SK_U64, SK_I64, SK_ARRAY, SK_WSTRUCT, SK_OBJ };

#define SAMPLE_KIND(idx, kind, bits, branch_bits, name, doc) kind,
static const unsigned char sample_kind[S_NFIELDS] = {SAMPLE_FIELD_LIST(SAMPLE_KIND)};
#undef SAMPLE_KIND

/* SampleRecord is the record that comes in the millions, so it is not a
   PyStructSequence (33 slots, each set to None and released again) but a
   small immutable object of the same shape: one 8-byte slot per field whose
   bit is in sample_type, holding the value as the kernel wrote it (a u64, a
   pid, or where an array such as the callchain lies in the object's variable
   part, after the slots). The int or tuple a field reads as is made when it is
   read, and never stored, so the object is never written after it is built
   and needs no lock. Fields that are Python objects anyway (read, raw,
   branch_stack, stack_user, aux) hold a reference, NULL meaning None; a record
   built by SampleRecord(values) holds every field that way. It behaves as a
   named tuple: attribute access, len(), indexing and slicing, iteration,
   unpacking, equality and hashing as the tuple of its fields, _fields,
   __match_args__ and _asdict(). Like a tuple it is a GC type: a record the
   decoder made holds only ints, bytes and tuples it made itself and is never
   tracked (as the collector untracks such tuples), one built by
   SampleRecord(values) is tracked when it holds an object of a GC type; freeing a deep chain
   of records defers the inner ones (sample_dealloc), as the trashcan does for
   tuples. */
typedef union {
    PyObject *o;                 /* objmask: a reference, NULL for None */
    uint64_t u;                  /* SK_U64, SK_WSTRUCT */
    int64_t i;                   /* SK_I64 */
    struct {
        uint32_t off;            /* SK_ARRAY: first u64 past the slots */
        uint32_t n;              /* and how many */
    } a;
} sample_slot_t;

typedef struct {
    PyObject_VAR_HEAD            /* ob_size: slots + array words; the deferred list's link */
    uint64_t mask;               /* bit i: field i has a slot (its bit is in sample_type) */
    uint64_t objmask;            /* bit i: field i's slot is a PyObject * (or NULL) */
    sample_slot_t items[1];      /* popcount(mask) slots, in field order, then the arrays */
} SampleObject;

_Static_assert(sizeof(sample_slot_t) == 8, "a SampleRecord slot is 8 bytes");

/* The slot of field i, which must be in r->mask. */
static inline Py_ssize_t
sample_slot(uint64_t mask, Py_ssize_t i)
{
    return (Py_ssize_t)__builtin_popcountll(mask & ((1ull << i) - 1));
}

/* A SampleRecord with popcount(mask) slots and `words` u64 after them; the
   slots of objmask are NULL, the others are left for the caller to fill. */
static SampleObject *
sample_alloc(PyTypeObject *tp, uint64_t mask, uint64_t objmask, size_t words)
{
    size_t n = (size_t)__builtin_popcountll(mask);
    SampleObject *r = PyObject_GC_NewVar(SampleObject, tp, (Py_ssize_t)(n + words));
    if (r == NULL) {
        return NULL;
    }
    r->mask = mask;
    r->objmask = objmask;
    for (uint64_t m = objmask; m != 0; m &= m - 1) {
        r->items[sample_slot(mask, __builtin_ctzll(m))].o = NULL;
    }
    return r;
}

static int
sample_traverse(PyObject *op, visitproc visit, void *arg)
{
    SampleObject *r = (SampleObject *)op;
    Py_VISIT(Py_TYPE(op));
    for (uint64_t m = r->objmask; m != 0; m &= m - 1) {
        Py_VISIT(r->items[sample_slot(r->mask, __builtin_ctzll(m))].o);
    }
    return 0;
}

static void
sample_free(PyObject *op)
{
    SampleObject *r = (SampleObject *)op;
    PyTypeObject *tp = Py_TYPE(op);
    for (uint64_t m = r->objmask; m != 0; m &= m - 1) {
        Py_XDECREF(r->items[sample_slot(r->mask, __builtin_ctzll(m))].o);
    }
    PyObject_GC_Del(op);
    Py_DECREF(tp);
}

/* Freeing a record frees what it holds, which may be a record that holds a
   record...: past SAMPLE_DEALLOC_DEPTH nested frees on this thread, a record is
   put on a list (linked through its ob_size) that the outermost free works
   through, so the C stack stays shallow however deep the chain. */
#define SAMPLE_DEALLOC_DEPTH 50
static _Thread_local int sample_dealloc_depth;
static _Thread_local PyObject *sample_dealloc_later;

static void
sample_dealloc(PyObject *op)
{
    PyObject_GC_UnTrack(op);
    if (sample_dealloc_depth >= SAMPLE_DEALLOC_DEPTH) {
        Py_SET_SIZE((PyVarObject *)op, (Py_ssize_t)(intptr_t)sample_dealloc_later);
        sample_dealloc_later = op;
        return;
    }
    sample_dealloc_depth++;
    sample_free(op);
    if (sample_dealloc_depth == 1) {
        while (sample_dealloc_later != NULL) {
            PyObject *next = sample_dealloc_later;
            sample_dealloc_later = (PyObject *)(intptr_t)Py_SIZE(next);
            sample_free(next);
        }
    }
    sample_dealloc_depth--;
}

/* A tuple of n u64 values from p (the caller checked n * 8 bytes are there). */
static PyObject *
decode_u64_tuple(const unsigned char *p, size_t n)
{
    PyObject *t = PyTuple_New((Py_ssize_t)n);
    if (t == NULL) {
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        PyObject *v = PyLong_FromUnsignedLongLong(rd_u64(p + 8 * i));
        if (v == NULL) {
            Py_DECREF(t);
            return NULL;
        }
        PyTuple_SetItem(t, (Py_ssize_t)i, v);
    }
    return t;
}

/* A tuple of the n addresses at v, their ints shared through the module's
   cache of recent addresses (where there is a GIL to guard it). */
static PyObject *
decode_address_tuple(decode_state *ds, const uint64_t *v, size_t n)
{
#ifdef Py_GIL_DISABLED
    (void)ds;
    return decode_u64_tuple((const unsigned char *)v, n);
#else
    PyObject *t = PyTuple_New((Py_ssize_t)n);
    if (t == NULL) {
        return NULL;
    }
    for (size_t k = 0; k < n; k++) {
        uint64_t a = v[k];
        size_t h = (size_t)((a ^ (a >> 10) ^ (a >> 20)) & (DECODE_IP_CACHE - 1));
        PyObject *x = ds->ip_int[h];
        if (x == NULL || ds->ip_key[h] != a) {
            x = PyLong_FromUnsignedLongLong(a);
            if (x == NULL) {
                Py_DECREF(t);
                return NULL;
            }
            /* the old int's release runs no Python code (an int has no finalizer) */
            PyObject *old = ds->ip_int[h];
            ds->ip_int[h] = x;
            ds->ip_key[h] = a;
            Py_XDECREF(old);
        }
        Py_INCREF(x);
        PyTuple_SetItem(t, (Py_ssize_t)k, x);
    }
    return t;
#endif
}

/* Field i (0 <= i < S_NFIELDS) as a Python object: a new reference. Every
   way of reading a SampleRecord goes through here. */
static PyObject *
sample_field(SampleObject *r, Py_ssize_t i)
{
    uint64_t bit = 1ull << i;
    if (!(r->mask & bit)) {
        Py_RETURN_NONE;
    }
    const sample_slot_t *s = &r->items[sample_slot(r->mask, i)];
    if (r->objmask & bit) {
        PyObject *v = s->o != NULL ? s->o : Py_None;
        Py_INCREF(v);
        return v;
    }
    switch (sample_kind[i]) {
    case SK_I64:
        return PyLong_FromLongLong(s->i);
    case SK_ARRAY: {
        const uint64_t *words = &r->items[__builtin_popcountll(r->mask)].u + s->a.off;
        if (i == S_CALLCHAIN) {
            perfsys_state *st = PyType_GetModuleState(Py_TYPE((PyObject *)r));
            if (st == NULL) {
                return NULL;
            }
            return decode_address_tuple(&st->decode, words, s->a.n);
        }
        return decode_u64_tuple((const unsigned char *)words, s->a.n);
    }
    case SK_WSTRUCT:
        /* var1_dw, var2_w, var3_w from the low to the high bits of the u64,
           on either byte order */
        return Py_BuildValue("(kkk)", (unsigned long)(s->u & 0xffffffffu),
                             (unsigned long)((s->u >> 32) & 0xffffu),
                             (unsigned long)(s->u >> 48));
    default:
        return PyLong_FromUnsignedLongLong(s->u);
    }
}

static PyObject *
sample_get(PyObject *op, void *closure)
{
    return sample_field((SampleObject *)op, (Py_ssize_t)(intptr_t)closure);
}

static PyObject *
sample_as_tuple(PyObject *op)
{
    PyObject *t = PyTuple_New(S_NFIELDS);
    if (t == NULL) {
        return NULL;
    }
    for (Py_ssize_t i = 0; i < S_NFIELDS; i++) {
        PyObject *v = sample_field((SampleObject *)op, i);
        if (v == NULL) {
            Py_DECREF(t);
            return NULL;
        }
        PyTuple_SetItem(t, i, v);
    }
    return t;
}

static Py_ssize_t
sample_length(PyObject *op)
{
    (void)op;
    return S_NFIELDS;
}

static PyObject *
sample_item(PyObject *op, Py_ssize_t i)
{
    if (i < 0 || i >= S_NFIELDS) {
        PyErr_SetString(PyExc_IndexError, "SampleRecord index out of range");
        return NULL;
    }
    return sample_field((SampleObject *)op, i);
}

static PyObject *
sample_subscript(PyObject *op, PyObject *key)
{
    if (PyIndex_Check(key)) {
        Py_ssize_t i = PyNumber_AsSsize_t(key, PyExc_IndexError);
        if (i == -1 && PyErr_Occurred()) {
            return NULL;
        }
        return sample_item(op, i < 0 ? i + S_NFIELDS : i);
    }
    PyObject *t = sample_as_tuple(op);
    if (t == NULL) {
        return NULL;
    }
    PyObject *r = PyObject_GetItem(t, key);
    Py_DECREF(t);
    return r;
}

static PyObject *
sample_richcompare(PyObject *a, PyObject *b, int op)
{
    if (!PyTuple_Check(b) && !PyObject_TypeCheck(b, Py_TYPE(a))) {
        Py_RETURN_NOTIMPLEMENTED;
    }
    PyObject *ta = sample_as_tuple(a);
    PyObject *tb = PyTuple_Check(b) ? (Py_INCREF(b), b) : sample_as_tuple(b);
    PyObject *r = NULL;
    if (ta != NULL && tb != NULL) {
        r = PyObject_RichCompare(ta, tb, op);
    }
    Py_XDECREF(ta);
    Py_XDECREF(tb);
    return r;
}

static Py_hash_t
sample_hash(PyObject *op)
{
    PyObject *t = sample_as_tuple(op);
    if (t == NULL) {
        return -1;
    }
    Py_hash_t h = PyObject_Hash(t);
    Py_DECREF(t);
    return h;
}

static PyObject *
sample_repr(PyObject *op)
{
    PyObject *parts = PyList_New(0);
    if (parts == NULL) {
        return NULL;
    }
    for (Py_ssize_t i = 0; i < S_NFIELDS; i++) {
        PyObject *v = sample_field((SampleObject *)op, i);
        if (v == NULL) {
            Py_DECREF(parts);
            return NULL;
        }
        PyObject *s = PyUnicode_FromFormat("%s=%R", sample_fields[i].name, v);
        Py_DECREF(v);
        if (s == NULL || PyList_Append(parts, s) < 0) {
            Py_XDECREF(s);
            Py_DECREF(parts);
            return NULL;
        }
        Py_DECREF(s);
    }
    PyObject *sep = PyUnicode_FromString(", ");
    PyObject *body = sep != NULL ? PyUnicode_Join(sep, parts) : NULL;
    Py_XDECREF(sep);
    Py_DECREF(parts);
    if (body == NULL) {
        return NULL;
    }
    PyObject *r = PyUnicode_FromFormat("perfsys.SampleRecord(%U)", body);
    Py_DECREF(body);
    return r;
}

static PyObject *
sample_asdict(PyObject *op, PyObject *unused)
{
    (void)unused;
    PyObject *d = PyDict_New();
    if (d == NULL) {
        return NULL;
    }
    for (Py_ssize_t i = 0; i < S_NFIELDS; i++) {
        PyObject *v = sample_field((SampleObject *)op, i);
        if (v == NULL || PyDict_SetItemString(d, sample_fields[i].name, v) < 0) {
            Py_XDECREF(v);
            Py_DECREF(d);
            return NULL;
        }
        Py_DECREF(v);
    }
    return d;
}

/* SampleRecord(iterable): from the values of every field, in order (None for an
   absent one), as a PyStructSequence is made; what pickling calls. */
static PyObject *
sample_tp_new(PyTypeObject *tp, PyObject *args, PyObject *kwargs)
{
    if ((kwargs != NULL && PyDict_Size(kwargs) != 0) || PyTuple_Size(args) != 1) {
        PyErr_SetString(PyExc_TypeError, "SampleRecord() takes exactly one argument, "
                                         "an iterable of its field values");
        return NULL;
    }
    PyObject *t = PySequence_Tuple(PyTuple_GetItem(args, 0));
    if (t == NULL) {
        return NULL;
    }
    if (PyTuple_Size(t) != S_NFIELDS) {
        PyErr_Format(PyExc_TypeError, "SampleRecord() takes a %d-sequence (%zd given)",
                     S_NFIELDS, PyTuple_Size(t));
        Py_DECREF(t);
        return NULL;
    }
    uint64_t mask = 0;
    for (Py_ssize_t i = 0; i < S_NFIELDS; i++) {
        if (PyTuple_GetItem(t, i) != Py_None) {
            mask |= 1ull << i;
        }
    }
    /* every field held as the object given */
    SampleObject *r = sample_alloc(tp, mask, mask, 0);
    if (r != NULL) {
        int gc = 0;   /* holds an object that can be part of a cycle: tracked */
        for (Py_ssize_t i = 0; i < S_NFIELDS; i++) {
            PyObject *v = PyTuple_GetItem(t, i);
            if (v != Py_None) {
                Py_INCREF(v);
                r->items[sample_slot(mask, i)].o = v;
                gc |= (PyType_GetFlags(Py_TYPE(v)) & Py_TPFLAGS_HAVE_GC) != 0;
            }
        }
        if (gc) {
            PyObject_GC_Track(r);
        }
    }
    Py_DECREF(t);
    return (PyObject *)r;
}

static PyObject *
sample_reduce(PyObject *op, PyObject *unused)
{
    (void)unused;
    PyObject *t = sample_as_tuple(op);
    if (t == NULL) {
        return NULL;
    }
    PyObject *r = Py_BuildValue("(O(N))", (PyObject *)Py_TYPE(op), t);
    return r;
}

static PyMethodDef sample_methods[] = {
    {"_asdict", sample_asdict, METH_NOARGS,
     "_asdict($self, /)\n--\n\nA dict of the record's fields, in order."},
    {"__reduce__", sample_reduce, METH_NOARGS,
     "__reduce__($self, /)\n--\n\nPickle as SampleRecord(tuple(self))."},
    {NULL, NULL, 0, NULL},
};

#define SAMPLE_GETSET(idx, kind, bits, branch_bits, name, doc) {name, sample_get, NULL, doc, (void *)(intptr_t)(idx)},
static PyGetSetDef sample_getset[] = {
    SAMPLE_FIELD_LIST(SAMPLE_GETSET)
    {NULL, NULL, NULL, NULL, NULL},
};
#undef SAMPLE_GETSET

static PyType_Slot sample_slots[] = {
    {Py_tp_new, sample_tp_new},
    {Py_tp_dealloc, sample_dealloc},
    {Py_tp_traverse, sample_traverse},
    {Py_tp_repr, sample_repr},
    {Py_tp_hash, sample_hash},
    {Py_tp_richcompare, sample_richcompare},
    {Py_tp_iter, PySeqIter_New},
    {Py_tp_methods, sample_methods},
    {Py_tp_getset, sample_getset},
    {Py_sq_length, sample_length},
    {Py_sq_item, sample_item},
    {Py_mp_length, sample_length},
    {Py_mp_subscript, sample_subscript},
    {Py_tp_doc,
     "SampleRecord(iterable, /)\n--\n\n"
     "PERF_RECORD_SAMPLE: one sample, a named tuple of every PERF_SAMPLE_* field in the\n"
     "kernel's order; a field whose bit is not in sample_type is None."},
    {0, NULL},
};

static PyType_Spec sample_spec = {
    .name = "perfsys.SampleRecord",
    .basicsize = offsetof(SampleObject, items),
    .itemsize = sizeof(sample_slot_t),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .slots = sample_slots,
};

/* The SampleRecord type, with _fields and __match_args__. */
static PyTypeObject *
sample_new_type(PyObject *m)
{
    PyTypeObject *tp = (PyTypeObject *)PyType_FromModuleAndSpec(m, &sample_spec, NULL);
    if (tp == NULL) {
        return NULL;
    }
    PyObject *names = PyTuple_New(S_NFIELDS);
    if (names == NULL) {
        Py_DECREF(tp);
        return NULL;
    }
    for (Py_ssize_t i = 0; i < S_NFIELDS; i++) {
        PyObject *s = PyUnicode_InternFromString(sample_fields[i].name);
        if (s == NULL) {
            Py_DECREF(names);
            Py_DECREF(tp);
            return NULL;
        }
        PyTuple_SetItem(names, i, s);
    }
    if (PyObject_SetAttrString((PyObject *)tp, "_fields", names) < 0 ||
        PyObject_SetAttrString((PyObject *)tp, "__match_args__", names) < 0) {
        Py_DECREF(names);
        Py_DECREF(tp);
        return NULL;
    }
    Py_DECREF(names);
    return tp;
}

static PyStructSequence_Field branch_entry_fields[] = {
    {"from_", "branch source address (the kernel's 'from')"},
    {"to", "branch target address"},
    {"mispred", "target mispredicted"},
    {"predicted", "target predicted"},
    {"in_tx", "in transaction"},
    {"abort", "transaction abort"},
    {"cycles", "cycle count to the last branch"},
    {"type", "branch type (PERF_BR_*)"},
    {"spec", "branch speculation info (PERF_BR_SPEC_*)"},
    {"new_type", "additional branch type (PERF_BR_NEW_*)"},
    {"priv", "privilege level (PERF_BR_PRIV_*)"},
    {NULL, NULL},
};

#define DECODE_NFIELDS(a) ((int)(sizeof(a) / sizeof((a)[0]) - 1))
_Static_assert(DECODE_NFIELDS(sample_fields) == S_NFIELDS, "SampleRecord fields");

static PyStructSequence_Desc raw_record_desc = {
    "perfsys.RawRecord",
    "A record as the kernel wrote it: its header's type and misc, and its body.",
    raw_record_fields,
    3,
};

static PyStructSequence_Desc branch_entry_desc = {
    "perfsys.BranchEntry",
    "One perf_branch_entry of a sample's branch stack, its bitfields decoded.",
    branch_entry_fields,
    DECODE_NFIELDS(branch_entry_fields),
};

/* Every record type by its number: "PERF_RECORD_" + type_name, its class. */
static const struct {
    const char *type_name;
    const char *name;
    const char *doc;
    PyStructSequence_Field *fields;
    int nfields;
    size_t min_size;             /* the bytes of the body's fixed part */
} decode_record_descs[DECODE_NTYPES] = {
#define DECODE_DESC(TYPE, cls, doc, body)                                              \
    [PERF_RECORD_##TYPE] = {#TYPE, "perfsys." #cls, doc, decode_fields_##TYPE,          \
                            DECODE_NFIELDS(decode_fields_##TYPE),                       \
                            0 PERFSYS_BODY_##body(DECODE_BODY_MIN)},
    PERFSYS_RECORDS(DECODE_DESC)
#undef DECODE_DESC
    [PERF_RECORD_SAMPLE] = {"SAMPLE", "perfsys.SampleRecord",
                            "PERF_RECORD_SAMPLE: one sample; fields not in sample_type are None.",
                            sample_fields, DECODE_NFIELDS(sample_fields), 0},
};
#undef DECODE_BODY_MIN

/* ---- helpers ---- */

static inline PyObject *
pid_obj(const unsigned char *p)
{
    /* pids and tids are written as u32 but -1 means "none" (kernel mappings) */
    return PyLong_FromLong((long)(int32_t)rd_u32(p));
}

static const char *
decode_record_name(uint32_t type)
{
    return (type < DECODE_NTYPES && decode_record_descs[type].name != NULL)
               ? decode_record_descs[type].type_name
               : "unknown";
}

/* Raise RecordError "<TYPE> record of N bytes[ at offset K]: <message>". */
static PyObject *
decode_error(perfsys_state *st, const unsigned char *rec, size_t size, Py_ssize_t at,
             const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    PyOS_vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    const char *name = decode_record_name(rd_u32(rec));
    if (at >= 0) {
        PyErr_Format(st->decode.record_error, "%s record of %zu bytes at offset %zd: %s",
                     name, size, at, msg);
    }
    else {
        PyErr_Format(st->decode.record_error, "%s record of %zu bytes: %s", name, size, msg);
    }
    return NULL;
}

/* A string field from p[0:n]: up to the first NUL, decoded like os.fsdecode. */
static PyObject *
decode_cstring(const unsigned char *p, size_t n)
{
    const unsigned char *nul = memchr(p, 0, n);
    if (nul != NULL) {
        n = (size_t)(nul - p);
    }
    return PyUnicode_DecodeFSDefaultAndSize((const char *)p, (Py_ssize_t)n);
}

/* A tuple of n (u64, u64) pairs from p (the caller checked n * 16 bytes are there). */
static PyObject *
decode_u64_pairs(const unsigned char *p, size_t n)
{
    PyObject *t = PyTuple_New((Py_ssize_t)n);
    if (t == NULL) {
        return NULL;
    }
    for (size_t k = 0; k < n; k++) {
        PyObject *pair = Py_BuildValue("(KK)", (unsigned long long)rd_u64(p + 16 * k),
                                       (unsigned long long)rd_u64(p + 16 * k + 8));
        if (pair == NULL) {
            Py_DECREF(t);
            return NULL;
        }
        PyTuple_SetItem(t, (Py_ssize_t)k, pair);
    }
    return t;
}

/* The `nr` struct perf_branch_entry at p (the caller checked they are there)
   as a tuple of BranchEntry: from, to, then the bitfields in BranchEntry's order. */
static PyObject *
decode_branch_stack(perfsys_state *st, const unsigned char *p, size_t nr)
{
#define BRANCH_BITS(m) {PERFSYS_BITSHIFT(perf_branch_entry, m), PERFSYS_BITWIDTH(perf_branch_entry, m)}
    static const unsigned char bits[][2] = {
        BRANCH_BITS(mispred), BRANCH_BITS(predicted), BRANCH_BITS(in_tx), BRANCH_BITS(abort),
        BRANCH_BITS(cycles), BRANCH_BITS(type), BRANCH_BITS(spec), BRANCH_BITS(new_type),
        BRANCH_BITS(priv),
    };
#undef BRANCH_BITS
    PyObject *entries = PyTuple_New((Py_ssize_t)nr);
    if (entries == NULL) {
        return NULL;
    }
    for (size_t i = 0; i < nr; i++) {
        const unsigned char *e = p + PERFSYS_SIZEOF(perf_branch_entry) * i;
        uint64_t flags = rd_u64(e + PERFSYS_OFFSETOF(perf_branch_entry, mispred));
        PyObject *be = PyStructSequence_New(st->decode.branch_entry_type);
        if (be == NULL) {
            goto fail;
        }
        PyTuple_SetItem(entries, (Py_ssize_t)i, be);
        PyObject *v;
        if ((v = PyLong_FromUnsignedLongLong(rd_u64(e + PERFSYS_OFFSETOF(perf_branch_entry, from)))) == NULL) {
            goto fail;
        }
        PyStructSequence_SetItem(be, 0, v);
        if ((v = PyLong_FromUnsignedLongLong(rd_u64(e + PERFSYS_OFFSETOF(perf_branch_entry, to)))) == NULL) {
            goto fail;
        }
        PyStructSequence_SetItem(be, 1, v);
        for (int k = 0; k < (int)(sizeof(bits) / sizeof(bits[0])); k++) {
            v = PyLong_FromUnsignedLongLong((flags >> bits[k][0]) & ((1ull << bits[k][1]) - 1));
            if (v == NULL) {
                goto fail;
            }
            PyStructSequence_SetItem(be, 2 + k, v);
        }
    }
    return entries;
fail:
    Py_DECREF(entries);
    return NULL;
}

static void
decode_fill_none(PyObject *r, int from, int to)
{
    for (int i = from; i < to; i++) {
        Py_INCREF(Py_None);
        PyStructSequence_SetItem(r, i, Py_None);
    }
}

/* Pick the config that describes `rec`. */
static const decode_config *
decode_pick(DecoderObject *self, const unsigned char *rec, size_t size, Py_ssize_t at)
{
    if (self->uniform) {
        return &self->cfg[0];
    }
    /* Several layouts: every config has PERF_SAMPLE_IDENTIFIER and the same
       sample_id_all (checked when they were added). */
    uint32_t type = rd_u32(rec);
    uint64_t id;
    if (type == PERF_RECORD_SAMPLE) {
        if (size < 16) {
            return (void *)decode_error(self->st, rec, size, at,
                                        "too short for PERF_SAMPLE_IDENTIFIER");
        }
        id = rd_u64(rec + 8);
    }
    else if (self->cfg[0].sample_id_all) {
        if (size < 16) {
            return (void *)decode_error(self->st, rec, size, at,
                                        "too short for its sample_id trailer");
        }
        id = rd_u64(rec + size - 8);
    }
    else {
        /* No way to tell the events apart: the non-sample records differ
           only where the read_format does (READ), so that is refused. */
        if (type == PERF_RECORD_READ) {
            for (Py_ssize_t i = 1; i < self->ncfg; i++) {
                if (self->cfg[i].read_format != self->cfg[0].read_format) {
                    return (void *)decode_error(
                        self->st, rec, size, at,
                        "events with different read_format share this Decoder "
                        "and have no sample_id_all: cannot tell which one wrote it");
                }
            }
        }
        return &self->cfg[0];
    }
    Py_ssize_t lo = 0, hi = self->ncfg;
    while (lo < hi) {
        Py_ssize_t mid = lo + (hi - lo) / 2;
        if (self->cfg[mid].id < id) {
            lo = mid + 1;
        }
        else {
            hi = mid;
        }
    }
    if (lo < self->ncfg && self->cfg[lo].id == id) {
        return &self->cfg[lo];
    }
    return (void *)decode_error(self->st, rec, size, at,
                                "id %llu is not one of this Decoder's events",
                                (unsigned long long)id);
}

/* Check that buf[0:len] holds the read_format values for `rf` (reading the
   group's nr), so that a short record is a RecordError like any other; their
   size goes to *used where `used` is not NULL. */
static int
decode_check_read(perfsys_state *st, uint64_t rf, const unsigned char *buf, size_t len,
                  const unsigned char *rec, size_t size, Py_ssize_t at, size_t *used)
{
    size_t te = (rf & PERF_FORMAT_TOTAL_TIME_ENABLED) != 0;
    size_t tr = (rf & PERF_FORMAT_TOTAL_TIME_RUNNING) != 0;
    size_t id = (rf & PERF_FORMAT_ID) != 0;
    size_t lost = (rf & PERF_FORMAT_LOST) != 0;
    if (!(rf & PERF_FORMAT_GROUP)) {
        size_t need = 8 * (1 + te + tr + id + lost);
        if (len < need) {
            decode_error(st, rec, size, at, "truncated at read values (%zu bytes, %zu needed)",
                         len, need);
            return -1;
        }
        if (used != NULL) {
            *used = need;
        }
        return 0;
    }
    size_t head = 8 * (1 + te + tr);
    if (len < head) {
        decode_error(st, rec, size, at, "truncated at group read values");
        return -1;
    }
    uint64_t nr = rd_u64(buf);
    if (nr > (len - head) / (8 * (1 + id + lost))) {
        decode_error(st, rec, size, at, "group read nr %llu past the record's end",
                     (unsigned long long)nr);
        return -1;
    }
    if (used != NULL) {
        *used = head + (size_t)nr * 8 * (1 + id + lost);
    }
    return 0;
}

/* ---- SAMPLE ---- */

#define NEED(n, what)                                                               \
    do {                                                                            \
        if ((size_t)(end - p) < (size_t)(n)) {                                      \
            decode_error(st, rec, size, at, "truncated at %s (offset %zu)", (what), \
                         (size_t)(p - rec));                                        \
            goto fail;                                                              \
        }                                                                           \
    } while (0)

#define SET(i, expr)                          \
    do {                                      \
        PyObject *o_ = (expr);                \
        if (o_ == NULL) {                     \
            goto fail;                        \
        }                                     \
        PyStructSequence_SetItem(r, (i), o_); \
    } while (0)

#define SET_NONE(i)                                \
    do {                                           \
        Py_INCREF(Py_None);                        \
        PyStructSequence_SetItem(r, (i), Py_None); \
    } while (0)

/* The fields of a sample are gathered in field order into slots on the stack,
   its arrays as pointers into the record; once the whole record has been
   checked, the SampleRecord is made in one allocation. */
#define DECODE_SAMPLE_ARRAYS 4   /* callchain, branch_counters, regs_user, regs_intr */

typedef struct {
    sample_slot_t slot[S_NFIELDS];
    uint64_t objmask;            /* the fields whose slot holds a reference (or NULL) */
    uint64_t objslots;           /* the same, as slot numbers: what a failure releases */
    int k;                       /* the next slot */
    int narr;
    size_t words;                /* u64 in all the arrays */
    struct {
        const unsigned char *src;
        uint32_t n;
        int slot;
    } arr[DECODE_SAMPLE_ARRAYS];
} sample_parts;

#define SU64(v) (parts->slot[parts->k++].u = (v))

/* a reference (or NULL for None) for field idx; expr NULL with an exception fails */
#define SOBJ_RAW(idx, obj)                    \
    do {                                      \
        parts->objslots |= 1ull << parts->k;    \
        parts->objmask |= 1ull << (idx);       \
        parts->slot[parts->k++].o = (obj);      \
    } while (0)

#define SOBJ(idx, expr)        \
    do {                       \
        PyObject *o_ = (expr); \
        if (o_ == NULL) {      \
            goto fail;         \
        }                      \
        SOBJ_RAW((idx), o_);   \
    } while (0)

#define SARRAY(ptr, count)                                 \
    do {                                                   \
        parts->arr[parts->narr].src = (ptr);                 \
        parts->arr[parts->narr].n = (uint32_t)(count);       \
        parts->arr[parts->narr].slot = parts->k++;            \
        parts->narr++;                                      \
        parts->words += (count);                            \
    } while (0)

/* a field that is a Python object: made, or with objects == 0 skipped (None) */
#define SOBJ_IF(idx, expr)           \
    do {                             \
        if (objects) {               \
            SOBJ((idx), (expr));     \
        }                            \
        else {                       \
            SOBJ_RAW((idx), NULL);   \
        }                            \
    } while (0)

#define SU64_FIELD(bit, what)  \
    do {                       \
        if (t & (bit)) {       \
            NEED(8, what);     \
            SU64(rd_u64(p));   \
            p += 8;            \
        }                      \
    } while (0)

/* abi + regs[n]; ABI_NONE means no registers follow. */
#define DECODE_REGS(nregs, what)                                                \
    do {                                                                        \
        NEED(8, what);                                                          \
        uint64_t abi_ = rd_u64(p);                                              \
        p += 8;                                                                 \
        SU64(abi_);                                                             \
        size_t n_ = abi_ == PERF_SAMPLE_REGS_ABI_NONE ? 0 : (nregs);            \
        NEED(8 * n_, what);                                                     \
        SARRAY(p, n_);                                                          \
        p += 8 * n_;                                                            \
    } while (0)

/* Parse the sample rec[0:size] laid out by `c` into `parts`: its fields in
   field order, its arrays as pointers into rec. With objects == 0 the fields
   that are Python objects (read, raw, branch_stack, stack_user, aux) are
   checked and skipped, their slots NULL. 0, or -1 with RecordError set and no
   reference held. */
static int
decode_sample_parts(perfsys_state *st, const decode_config *c, const unsigned char *rec,
                    size_t size, Py_ssize_t at, sample_parts *parts, int objects)
{
    const uint64_t t = c->sample_type;
    const unsigned char *p = rec + 8;
    const unsigned char *end = rec + size;
    parts->objmask = 0;
    parts->objslots = 0;
    parts->k = 0;
    parts->narr = 0;
    parts->words = 0;
    SU64(PERF_RECORD_SAMPLE);
    SU64(rd_u16(rec + 4));
    SU64_FIELD(PERF_SAMPLE_IDENTIFIER, "identifier");
    SU64_FIELD(PERF_SAMPLE_IP, "ip");
    if (t & PERF_SAMPLE_TID) {
        NEED(8, "pid, tid");
        /* pids and tids are written as u32 but -1 means "none" (kernel mappings) */
        parts->slot[parts->k++].i = (int32_t)rd_u32(p);
        parts->slot[parts->k++].i = (int32_t)rd_u32(p + 4);
        p += 8;
    }
    SU64_FIELD(PERF_SAMPLE_TIME, "time");
    SU64_FIELD(PERF_SAMPLE_ADDR, "addr");
    SU64_FIELD(PERF_SAMPLE_ID, "id");
    SU64_FIELD(PERF_SAMPLE_STREAM_ID, "stream_id");
    if (t & PERF_SAMPLE_CPU) {
        NEED(8, "cpu, res");
        SU64(rd_u32(p));
        p += 8;
    }
    SU64_FIELD(PERF_SAMPLE_PERIOD, "period");
    if ((t & (PERF_SAMPLE_READ | PERF_SAMPLE_CALLCHAIN | PERF_SAMPLE_RAW |
             PERF_SAMPLE_BRANCH_STACK | PERF_SAMPLE_REGS_USER | PERF_SAMPLE_STACK_USER |
             PERF_SAMPLE_WEIGHT | PERF_SAMPLE_WEIGHT_STRUCT | PERF_SAMPLE_DATA_SRC |
             PERF_SAMPLE_TRANSACTION | PERF_SAMPLE_REGS_INTR | PERF_SAMPLE_PHYS_ADDR |
             PERF_SAMPLE_CGROUP | PERF_SAMPLE_DATA_PAGE_SIZE | PERF_SAMPLE_CODE_PAGE_SIZE |
             PERF_SAMPLE_AUX)) == 0) {
        /* the common short sample: nothing past the period */
        goto done;
    }
    if (t & PERF_SAMPLE_READ) {
        size_t used = 0;
        if (decode_check_read(st, c->read_format, p, (size_t)(end - p), rec, size, at,
                              &used) < 0) {
            goto fail;
        }
        /* decode_check_read() made sure the values fit: used <= end - p */
        SOBJ_IF(S_READ, core_decode_read_format(st, c->read_format, p, used, &used));
        p += used;
    }
    if (t & PERF_SAMPLE_CALLCHAIN) {
        NEED(8, "callchain nr");
        uint64_t nr = rd_u64(p);
        p += 8;
        if (nr > (uint64_t)(end - p) / 8) {
            decode_error(st, rec, size, at, "callchain nr %llu past the record's end",
                         (unsigned long long)nr);
            goto fail;
        }
        SARRAY(p, (size_t)nr);
        p += 8 * (size_t)nr;
    }
    if (t & PERF_SAMPLE_RAW) {
        NEED(4, "raw size");
        uint32_t n = rd_u32(p);
        p += 4;
        if (n > (size_t)(end - p)) {
            decode_error(st, rec, size, at, "raw size %u past the record's end", (unsigned)n);
            goto fail;
        }
        SOBJ_IF(S_RAW, PyBytes_FromStringAndSize((const char *)p, (Py_ssize_t)n));
        p += n;
        /* u32 size + data is padded to a multiple of 8 bytes */
        size_t off = (size_t)(p - rec);
        size_t pad = (8 - (off & 7)) & 7;
        NEED(pad, "raw padding");
        p += pad;
    }
    if (t & PERF_SAMPLE_BRANCH_STACK) {
        NEED(8, "branch stack nr");
        uint64_t nr = rd_u64(p);
        p += 8;
        if (c->branch_flags & PERF_SAMPLE_BRANCH_HW_INDEX) {
            NEED(8, "branch hw_idx");
            SU64(rd_u64(p));
            p += 8;
        }
        /* each entry, and with PERF_SAMPLE_BRANCH_COUNTERS a u64 of counters */
        uint64_t per = PERFSYS_SIZEOF(perf_branch_entry) +
                       ((c->branch_flags & PERF_SAMPLE_BRANCH_COUNTERS) ? 8 : 0);
        if (nr > (uint64_t)(end - p) / per) {
            decode_error(st, rec, size, at, "branch stack nr %llu past the record's end",
                         (unsigned long long)nr);
            goto fail;
        }
        SOBJ_IF(S_BRANCH_STACK, decode_branch_stack(st, p, (size_t)nr));
        p += PERFSYS_SIZEOF(perf_branch_entry) * (size_t)nr;
        if (c->branch_flags & PERF_SAMPLE_BRANCH_COUNTERS) {
            SARRAY(p, (size_t)nr);
            p += 8 * (size_t)nr;
        }
    }
    if (t & PERF_SAMPLE_REGS_USER) {
        DECODE_REGS(c->nregs_user, "regs_user");
    }
    if (t & PERF_SAMPLE_STACK_USER) {
        NEED(8, "stack_user size");
        uint64_t n = rd_u64(p);
        p += 8;
        if (n > (uint64_t)(end - p)) {
            decode_error(st, rec, size, at, "stack_user size %llu past the record's end",
                         (unsigned long long)n);
            goto fail;
        }
        SOBJ_IF(S_STACK_USER, PyBytes_FromStringAndSize((const char *)p, (Py_ssize_t)n));
        p += n;
        if (n != 0) {
            NEED(8, "stack_user dyn_size");
            SU64(rd_u64(p));
            p += 8;
        }
        else {
            SOBJ_RAW(S_STACK_USER_DYN_SIZE, NULL);   /* None */
        }
    }
    if (t & (PERF_SAMPLE_WEIGHT | PERF_SAMPLE_WEIGHT_STRUCT)) {
        NEED(8, "weight");
        uint64_t w = rd_u64(p);
        p += 8;
        SU64(w);
        if (t & PERF_SAMPLE_WEIGHT_STRUCT) {
            SU64(w);                /* read as (var1_dw, var2_w, var3_w) */
        }
    }
    SU64_FIELD(PERF_SAMPLE_DATA_SRC, "data_src");
    SU64_FIELD(PERF_SAMPLE_TRANSACTION, "transaction");
    if (t & PERF_SAMPLE_REGS_INTR) {
        DECODE_REGS(c->nregs_intr, "regs_intr");
    }
    SU64_FIELD(PERF_SAMPLE_PHYS_ADDR, "phys_addr");
    SU64_FIELD(PERF_SAMPLE_CGROUP, "cgroup");
    SU64_FIELD(PERF_SAMPLE_DATA_PAGE_SIZE, "data_page_size");
    SU64_FIELD(PERF_SAMPLE_CODE_PAGE_SIZE, "code_page_size");
    if (t & PERF_SAMPLE_AUX) {
        NEED(8, "aux size");
        uint64_t n = rd_u64(p);
        p += 8;
        if (n > (uint64_t)(end - p)) {
            decode_error(st, rec, size, at, "aux size %llu past the record's end",
                         (unsigned long long)n);
            goto fail;
        }
        SOBJ_IF(S_AUX, PyBytes_FromStringAndSize((const char *)p, (Py_ssize_t)n));
        p += n;
    }
done:
    if (p != end) {
        decode_error(st, rec, size, at,
                     "%zu bytes left over after the fields of sample_type 0x%llx",
                     (size_t)(end - p), (unsigned long long)t);
        goto fail;
    }
    /* every field of c->fields has had its slot, in order */
    assert(parts->k == __builtin_popcountll(c->fields));
    return 0;
fail:
    for (uint64_t m = parts->objslots; m != 0; m &= m - 1) {
        Py_XDECREF(parts->slot[__builtin_ctzll(m)].o);
    }
    return -1;
}

static PyObject *
decode_sample(DecoderObject *self, const decode_config *c, const unsigned char *rec,
              size_t size, Py_ssize_t at)
{
    perfsys_state *st = self->st;
    sample_parts parts;
    if (decode_sample_parts(st, c, rec, size, at, &parts, 1) < 0) {
        return NULL;
    }
    SampleObject *r = sample_alloc(st->decode.record_types[PERF_RECORD_SAMPLE], c->fields, 0,
                                   parts.words);
    if (r == NULL) {
        goto fail;
    }
    r->objmask = parts.objmask;
    memcpy(r->items, parts.slot, (size_t)parts.k * sizeof(sample_slot_t));
    uint32_t off = 0;
    for (int i = 0; i < parts.narr; i++) {
        uint32_t n = parts.arr[i].n;
        r->items[parts.arr[i].slot].a.off = off;
        r->items[parts.arr[i].slot].a.n = n;
        if (n != 0) {
            memcpy(&r->items[parts.k + off], parts.arr[i].src, (size_t)n * 8);
        }
        off += n;
    }
    return (PyObject *)r;
fail:
    for (uint64_t m = parts.objslots; m != 0; m &= m - 1) {
        Py_XDECREF(parts.slot[__builtin_ctzll(m)].o);
    }
    return NULL;
}

#undef SU64
#undef SOBJ_RAW
#undef SOBJ
#undef SOBJ_IF
#undef SARRAY
#undef SU64_FIELD
#undef DECODE_REGS

/* ---- every other record ---- */

/* Fill the seven trailer fields, which start at index `idx`, from the
   trailer at tr[0:c->trailer_size] (or None without sample_id_all). */
static int
decode_trailer(PyObject *r, int idx, const decode_config *c, const unsigned char *p)
{
    const uint64_t t = c->sample_type;
    if (!c->sample_id_all) {
        decode_fill_none(r, idx, idx + DECODE_TRAILER_NFIELDS);
        return 0;
    }
    if (t & PERF_SAMPLE_TID) {
        SET(idx, pid_obj(p));
        SET(idx + 1, pid_obj(p + 4));
        p += 8;
    }
    else {
        SET_NONE(idx);
        SET_NONE(idx + 1);
    }
    static const uint64_t bits[] = {PERF_SAMPLE_TIME, PERF_SAMPLE_ID, PERF_SAMPLE_STREAM_ID,
                                    PERF_SAMPLE_CPU, PERF_SAMPLE_IDENTIFIER};
    for (int k = 0; k < 5; k++) {
        if (t & bits[k]) {
            if (bits[k] == PERF_SAMPLE_CPU) {
                SET(idx + 2 + k, PyLong_FromUnsignedLong(rd_u32(p)));
            }
            else {
                SET(idx + 2 + k, PyLong_FromUnsignedLongLong(rd_u64(p)));
            }
            p += 8;
        }
        else {
            SET_NONE(idx + 2 + k);
        }
    }
    return 0;
fail:
    return -1;
}

/* A tuple of the u64 nr at *pp and what follows it: nr (dev, inode) pairs for
   NS, nr u64s for CALLCHAIN, checked against end; *pp moves past them. */
static PyObject *
decode_counted(perfsys_state *st, const unsigned char *rec, size_t size, Py_ssize_t at,
               const unsigned char **pp, const unsigned char *end, int pairs)
{
    size_t per = pairs ? 16 : 8;
    uint64_t nr = rd_u64(*pp);
    const unsigned char *p = *pp + 8;
    if (nr > (uint64_t)(end - p) / per) {
        return decode_error(st, rec, size, at,
                            pairs ? "nr_namespaces %llu past the record's end"
                                  : "callchain nr %llu past the record's end",
                            (unsigned long long)nr);
    }
    *pp = p + per * (size_t)nr;
    return pairs ? decode_u64_pairs(p, (size_t)nr) : decode_u64_tuple(p, (size_t)nr);
}

/* Reading one member of each KIND of _perfsys_records.h, in decode_other(). */
#define DK_READ_PID SET(i++, pid_obj(p)); p += 4
#define DK_READ_U16 SET(i++, PyLong_FromLong(rd_u16(p))); p += 2
#define DK_READ_U32 SET(i++, PyLong_FromUnsignedLong(rd_u32(p))); p += 4
#define DK_READ_U64 SET(i++, PyLong_FromUnsignedLongLong(rd_u64(p))); p += 8
#define DK_READ_LEN16 len += rd_u16(p); DK_READ_U16
#define DK_READ_LEN_BYTES                                                  \
    NEED(len, "bytes");                                                    \
    SET(i++, PyBytes_FromStringAndSize((const char *)p, (Py_ssize_t)len)); \
    p += len
#define DK_READ_TAG                                                          \
    SET(i++, PyBytes_FromStringAndSize((const char *)p, BPF_TAG_SIZE)); \
    p += BPF_TAG_SIZE
#define DK_READ_CSTR SET(i++, decode_cstring(p, (size_t)(end - p))); p = end
#define DK_READ_READ                                                                         \
    if (decode_check_read(st, c->read_format, p, (size_t)(end - p), rec, size, at, NULL) < 0) { \
        goto fail;                                                                           \
    }                                                                                        \
    SET(i++, core_decode_read_format(st, c->read_format, p, (size_t)(end - p), &used));      \
    p = end
#define DK_READ_NS SET(i++, decode_counted(st, rec, size, at, &p, end, 1))
#define DK_READ_CALLCHAIN SET(i++, decode_counted(st, rec, size, at, &p, end, 0))
#define DK_READ_INODE_U32                                                    \
    inode = inode != NULL ? inode : p;                                       \
    SET(i++, build_id ? Py_NewRef(Py_None) : PyLong_FromUnsignedLong(rd_u32(p))); \
    p += 4
#define DK_READ_INODE_U64                                                    \
    inode = inode != NULL ? inode : p;                                       \
    SET(i++, build_id ? Py_NewRef(Py_None) : PyLong_FromUnsignedLongLong(rd_u64(p))); \
    p += 8
#define DK_READ_BUILD_ID                                                                   \
    if (build_id && inode != NULL && inode[0] > DECODE_BUILD_ID_MAX) {                     \
        decode_error(st, rec, size, at, "build_id_size %u > %u", (unsigned)inode[0],       \
                     DECODE_BUILD_ID_MAX);                                                 \
        goto fail;                                                                         \
    }                                                                                      \
    SET(i++, build_id && inode != NULL                                                     \
                 ? PyBytes_FromStringAndSize((const char *)inode + 4, (Py_ssize_t)inode[0]) \
                 : Py_NewRef(Py_None))
#define DECODE_MEMBER(name, kind, doc) \
    {                                  \
        DK_READ_##kind;                \
    }
#define DECODE_CASE(TYPE, cls, doc, body)          \
    case PERF_RECORD_##TYPE:                       \
        PERFSYS_BODY_##body(DECODE_MEMBER) break;

/* Any record but a sample, as its row of _perfsys_records.h describes it: each
   type's members are read in a straight line, expanded from its body. */
static PyObject *
decode_other(DecoderObject *self, const decode_config *c, const unsigned char *rec,
             size_t size, Py_ssize_t at)
{
    perfsys_state *st = self->st;
    uint32_t type = rd_u32(rec);
    uint16_t misc = rd_u16(rec + 4);
    if (size - 8 < c->trailer_size) {
        return decode_error(st, rec, size, at, "too short for its %u-byte sample_id trailer",
                            (unsigned)c->trailer_size);
    }
    /* the body is rec[8:size - trailer]; the trailer sits at the very end */
    const unsigned char *p = rec + 8;
    const unsigned char *end = rec + size - c->trailer_size;
    PyObject *r = PyStructSequence_New(st->decode.record_types[type]);
    if (r == NULL) {
        return NULL;
    }
    int i = 2;
    SET(0, PyLong_FromUnsignedLong(type));
    SET(1, PyLong_FromLong(misc));
    NEED(decode_record_descs[type].min_size, "the fixed fields");
    int build_id = (misc & PERF_RECORD_MISC_MMAP_BUILD_ID) != 0;
    const unsigned char *inode = NULL;  /* MMAP2's union: where its INODE_* members start */
    size_t len = 0;                     /* what the LEN16 members add up to */
    size_t used = 0;                    /* bytes of read_format values (READ) */
    switch (type) {
        PERFSYS_RECORDS(DECODE_CASE)
    default:
        /* unreachable: the caller routes types without a row to RawRecord */
        PyErr_SetString(PyExc_SystemError, "perfsys: unexpected record type");
        goto fail;
    }
    (void)build_id, (void)inode, (void)len, (void)used;
    if (decode_trailer(r, i, c, rec + size - c->trailer_size) < 0) {
        goto fail;
    }
    return r;
fail:
    Py_DECREF(r);
    return NULL;
}

#undef DECODE_CASE
#undef DECODE_MEMBER
#undef DK_READ_PID
#undef DK_READ_U16
#undef DK_READ_U32
#undef DK_READ_U64
#undef DK_READ_LEN16
#undef DK_READ_LEN_BYTES
#undef DK_READ_TAG
#undef DK_READ_CSTR
#undef DK_READ_READ
#undef DK_READ_NS
#undef DK_READ_CALLCHAIN
#undef DK_READ_INODE_U32
#undef DK_READ_INODE_U64
#undef DK_READ_BUILD_ID

#undef NEED
#undef SET
#undef SET_NONE

/* Decode the record rec[0:size] (size is header.size, already checked to be
   at least 8 and within the buffer). `at` is its offset for error messages,
   or -1. */
static PyObject *
decode_one(DecoderObject *self, const unsigned char *rec, size_t size, Py_ssize_t at)
{
    uint32_t type = rd_u32(rec);
    if (type >= DECODE_NTYPES || decode_record_descs[type].name == NULL) {
        return decode_raw_record(self->st, rec, size);
    }
    if (size % 8 != 0) {
        return decode_error(self->st, rec, size, at, "size is not a multiple of 8");
    }
    const decode_config *picked = decode_pick(self, rec, size, at);
    if (picked == NULL) {
        return NULL;
    }
    /* A copy: an allocation below may run a finalizer that calls add(), which
       moves the config array. */
    decode_config c = *picked;
    if (type == PERF_RECORD_SAMPLE) {
        return decode_sample(self, &c, rec, size, at);
    }
    return decode_other(self, &c, rec, size, at);
}

/* ---- the interfaces used by "ring" ---- */

static PyObject *
decode_raw_record(perfsys_state *st, const unsigned char *rec, size_t size)
{
    uint32_t type = rd_u32(rec);
    uint16_t misc = rd_u16(rec + 4);
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
    return PyObject_TypeCheck(obj, st->decode.decoder_type);
}

static PyObject *
decode_record(PyObject *decoder, const unsigned char *rec, size_t size)
{
    DecoderObject *self = (DecoderObject *)decoder;
    PyObject *r;
    PERFSYS_BEGIN_CRITICAL(decoder);
    r = decode_one(self, rec, size, -1);
    PERFSYS_END_CRITICAL();
    return r;
}

/* ---- Decoder ---- */

/* The SampleRecord fields (1 << S_*) that a sample laid out by `c` has. */
static uint64_t
decode_sample_fields(const decode_config *c)
{
#define SAMPLE_BITS(idx, kind, bits, branch_bits, name, doc) {(bits), (branch_bits)},
    static const struct {
        uint64_t bits;
        uint64_t branch_bits;
    } map[S_NFIELDS] = {SAMPLE_FIELD_LIST(SAMPLE_BITS)};
#undef SAMPLE_BITS
    uint64_t f = 0;
    for (int k = 0; k < S_NFIELDS; k++) {
        if ((map[k].bits == 0 || (c->sample_type & map[k].bits)) &&
            (map[k].branch_bits == 0 || (c->branch_flags & map[k].branch_bits))) {
            f |= 1ull << k;
        }
    }
    return f;
}

/* Read the fields that shape records from a perf_event_attr buffer. */
static int
decode_config_from_attr(PyObject *attr, decode_config *c)
{
    Py_buffer view;
    if (PyObject_GetBuffer(attr, &view, PyBUF_SIMPLE) < 0) {
        PyErr_Format(PyExc_TypeError,
                     "a perf_event_attr must be a bytes-like object");
        return -1;
    }
    int ret = -1;
    const unsigned char *a = view.buf;
    size_t len = (size_t)view.len;
    if (len < PERF_ATTR_SIZE_VER0) {
        PyErr_Format(PyExc_ValueError, "perf_event_attr buffer of %zu bytes is shorter than "
                     "PERF_ATTR_SIZE_VER0 (%u)", len, PERF_ATTR_SIZE_VER0);
        goto done;
    }
    /* The kernel reads `size` bytes (PERF_ATTR_SIZE_VER0 when 0): fields past
       that are zero as far as it is concerned. */
    uint32_t asize = rd_u32(a + PERFSYS_OFFSETOF(perf_event_attr, size));
    if (asize == 0) {
        asize = PERF_ATTR_SIZE_VER0;
    }
    if (asize < len) {
        len = asize;
    }
    memset(c, 0, sizeof(*c));
    c->sample_type = rd_u64(a + PERFSYS_OFFSETOF(perf_event_attr, sample_type));
    c->read_format = rd_u64(a + PERFSYS_OFFSETOF(perf_event_attr, read_format));
    c->sample_id_all = (int)PERFSYS_BITFIELD(rd_u64(a + PERFSYS_OFFSETOF(perf_event_attr, sample_id_all)),
                                          perf_event_attr, sample_id_all);
    if (len >= PERF_ATTR_SIZE_VER2) {
        c->branch_flags = rd_u64(a + PERFSYS_OFFSETOF(perf_event_attr, branch_sample_type)) &
                          (PERF_SAMPLE_BRANCH_HW_INDEX | PERF_SAMPLE_BRANCH_COUNTERS);
    }
    if (len >= PERF_ATTR_SIZE_VER3) {
        c->nregs_user = (uint32_t)__builtin_popcountll(
            rd_u64(a + PERFSYS_OFFSETOF(perf_event_attr, sample_regs_user)));
    }
    if (len >= PERF_ATTR_SIZE_VER4) {
        c->nregs_intr = (uint32_t)__builtin_popcountll(
            rd_u64(a + PERFSYS_OFFSETOF(perf_event_attr, sample_regs_intr)));
    }
    if (c->sample_type & ~(uint64_t)(PERF_SAMPLE_MAX - 1)) {
        core_errorf(PyExc_ValueError, "sample_type 0x%llx has bits this version cannot decode",
                     (unsigned long long)c->sample_type);
        goto done;
    }
    if (c->read_format & ~(uint64_t)(PERF_FORMAT_MAX - 1)) {
        core_errorf(PyExc_ValueError, "read_format 0x%llx has bits this version cannot decode",
                     (unsigned long long)c->read_format);
        goto done;
    }
    if (!(c->sample_type & PERF_SAMPLE_BRANCH_STACK)) {
        c->branch_flags = 0;
    }
    if (!(c->sample_type & PERF_SAMPLE_REGS_USER)) {
        c->nregs_user = 0;
    }
    if (!(c->sample_type & PERF_SAMPLE_REGS_INTR)) {
        c->nregs_intr = 0;
    }
    c->fields = decode_sample_fields(c);
    if (c->sample_id_all) {
        uint64_t tb = c->sample_type & DECODE_TRAILER_BITS;
        c->trailer_size = 8u * (uint32_t)__builtin_popcountll(tb);
    }
    ret = 0;
done:
    PyBuffer_Release(&view);
    return ret;
}

static int
decode_same_layout(const decode_config *a, const decode_config *b)
{
    return a->sample_type == b->sample_type && a->read_format == b->read_format &&
           a->branch_flags == b->branch_flags && a->nregs_user == b->nregs_user &&
           a->nregs_intr == b->nregs_intr && a->sample_id_all == b->sample_id_all;
}

/* Add `c` to the decoder's configs, or raise and leave them unchanged. */
static int
decoder_add_config(DecoderObject *self, const decode_config *c)
{
    Py_ssize_t n = self->ncfg;
    int uniform = 1;
    for (Py_ssize_t k = 0; k < n; k++) {
        if (c->has_id && self->cfg[k].has_id && self->cfg[k].id == c->id) {
            PyErr_Format(PyExc_ValueError, "id %llu is already in this Decoder",
                         (unsigned long long)c->id);
            return -1;
        }
        if (!decode_same_layout(&self->cfg[k], c)) {
            uniform = 0;
        }
    }
    if (!uniform) {
        for (Py_ssize_t k = 0; k <= n; k++) {
            const decode_config *x = k < n ? &self->cfg[k] : c;
            if (!x->has_id) {
                PyErr_SetString(PyExc_ValueError,
                                "events whose records are laid out differently need ids: "
                                "build the Decoder from {id: attr, ...}");
                return -1;
            }
            if (!(x->sample_type & PERF_SAMPLE_IDENTIFIER)) {
                PyErr_Format(PyExc_ValueError,
                             "events whose records are laid out differently (sample_type, "
                             "read_format, ...) can share a ring only if every one has "
                             "PERF_SAMPLE_IDENTIFIER in sample_type; id %llu has not",
                             (unsigned long long)x->id);
                return -1;
            }
            if (x->sample_id_all != c->sample_id_all) {
                PyErr_SetString(PyExc_ValueError,
                                "events sharing a ring must agree on sample_id_all");
                return -1;
            }
        }
    }
    decode_config *cfg = PyMem_Realloc(self->cfg, sizeof(*cfg) * (size_t)(n + 1));
    if (cfg == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    /* insert keeping the array sorted by id */
    Py_ssize_t pos = n;
    while (pos > 0 && cfg[pos - 1].id > c->id) {
        cfg[pos] = cfg[pos - 1];
        pos--;
    }
    cfg[pos] = *c;
    self->cfg = cfg;
    self->ncfg = n + 1;
    self->uniform = uniform;
    return 0;
}

static int
decoder_add_pair(DecoderObject *self, PyObject *id, PyObject *attr)
{
    decode_config c;
    if (decode_config_from_attr(attr, &c) < 0) {
        return -1;
    }
    if (core_u64(id, "an event id", &c.id) < 0) {
        return -1;
    }
    c.has_id = 1;
    return decoder_add_config(self, &c);
}

static PyObject *
decoder_new(PyTypeObject *type, PyObject *args, PyObject *kwargs)
{
    if (kwargs != NULL && PyDict_Size(kwargs) != 0) {
        PyErr_SetString(PyExc_TypeError, "Decoder() takes no keyword arguments");
        return NULL;
    }
    if (PyTuple_Size(args) != 1) {
        PyErr_Format(PyExc_TypeError, "Decoder() takes exactly one argument (%zd given)",
                     PyTuple_Size(args));
        return NULL;
    }
    PyObject *arg = PyTuple_GetItem(args, 0);
    allocfunc alloc = (allocfunc)PyType_GetSlot(type, Py_tp_alloc);
    DecoderObject *self = (DecoderObject *)alloc(type, 0);
    if (self == NULL) {
        return NULL;
    }
    self->st = (perfsys_state *)PyType_GetModuleState(type);
    self->cfg = NULL;
    self->ncfg = 0;
    self->uniform = 1;
    if (self->st == NULL) {
        goto fail;
    }
    if (PyDict_Check(arg)) {
        if (PyDict_Size(arg) == 0) {
            PyErr_SetString(PyExc_ValueError, "Decoder() needs at least one attr");
            goto fail;
        }
        /* a snapshot of the items: reading an attr's buffer may run Python code */
        PyObject *items = PyDict_Items(arg);
        if (items == NULL) {
            goto fail;
        }
        for (Py_ssize_t k = 0; k < PyList_Size(items); k++) {
            PyObject *pair = PyList_GetItem(items, k);
            if (decoder_add_pair(self, PyTuple_GetItem(pair, 0), PyTuple_GetItem(pair, 1)) < 0) {
                Py_DECREF(items);
                goto fail;
            }
        }
        Py_DECREF(items);
    }
    else {
        decode_config c;
        if (decode_config_from_attr(arg, &c) < 0 || decoder_add_config(self, &c) < 0) {
            goto fail;
        }
    }
    return (PyObject *)self;
fail:
    Py_DECREF(self);
    return NULL;
}

static void
decoder_dealloc(PyObject *op)
{
    DecoderObject *self = (DecoderObject *)op;
    PyTypeObject *tp = Py_TYPE(op);
    PyMem_Free(self->cfg);
    freefunc tp_free = (freefunc)PyType_GetSlot(tp, Py_tp_free);
    tp_free(op);
    Py_DECREF(tp);
}

static PyObject *
decoder_add(PyObject *op, PyObject *const *args, Py_ssize_t nargs)
{
    if (core_nargs("add", nargs, 2, 2) < 0) {
        return NULL;
    }
    int rc;
    PERFSYS_BEGIN_CRITICAL(op);
    rc = decoder_add_pair((DecoderObject *)op, args[0], args[1]);
    PERFSYS_END_CRITICAL();
    if (rc < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

/* Check the header at buf[off:len] and return the record's size, or 0 with
   RecordError set. */
static size_t
decode_check_header(perfsys_state *st, const unsigned char *buf, size_t len, size_t off)
{
    if (len - off < 8) {
        PyErr_Format(st->decode.record_error,
                     "%zu bytes at offset %zu are too short for a perf_event_header",
                     len - off, off);
        return 0;
    }
    size_t size = rd_u16(buf + off + 6);
    if (size < 8) {
        PyErr_Format(st->decode.record_error,
                     "record at offset %zu has size %zu, less than its 8-byte header",
                     off, size);
        return 0;
    }
    if (size > len - off) {
        PyErr_Format(st->decode.record_error,
                     "record at offset %zu has size %zu, past the end of the %zu-byte buffer",
                     off, size, len);
        return 0;
    }
    return size;
}

static PyObject *
decoder_decode(PyObject *op, PyObject *arg)
{
    DecoderObject *self = (DecoderObject *)op;
    Py_buffer view;
    if (PyObject_GetBuffer(arg, &view, PyBUF_SIMPLE) < 0) {
        return NULL;
    }
    PyObject *r = NULL;
    size_t size = decode_check_header(self->st, view.buf, (size_t)view.len, 0);
    if (size != 0) {
        PERFSYS_BEGIN_CRITICAL(op);
        r = decode_one(self, view.buf, size, -1);
        PERFSYS_END_CRITICAL();
    }
    PyBuffer_Release(&view);
    return r;
}

static PyObject *
decoder_decode_all(PyObject *op, PyObject *arg)
{
    DecoderObject *self = (DecoderObject *)op;
    Py_buffer view;
    if (PyObject_GetBuffer(arg, &view, PyBUF_SIMPLE) < 0) {
        return NULL;
    }
    PyObject *list = PyList_New(0);
    if (list == NULL) {
        PyBuffer_Release(&view);
        return NULL;
    }
    const unsigned char *buf = view.buf;
    size_t len = (size_t)view.len;
    size_t off = 0;
    int ok = 1;
    PERFSYS_BEGIN_CRITICAL(op);
    while (off < len) {
        size_t size = decode_check_header(self->st, buf, len, off);
        if (size == 0) {
            ok = 0;
            break;
        }
        PyObject *r = decode_one(self, buf + off, size, (Py_ssize_t)off);
        if (r == NULL || PyList_Append(list, r) < 0) {
            Py_XDECREF(r);
            ok = 0;
            break;
        }
        Py_DECREF(r);
        off += size;
    }
    PERFSYS_END_CRITICAL();
    PyBuffer_Release(&view);
    if (!ok) {
        Py_DECREF(list);
        return NULL;
    }
    return list;
}

static PyObject *
decoder_get_ids(PyObject *op, void *closure)
{
    (void)closure;
    DecoderObject *self = (DecoderObject *)op;
    PyObject *t = NULL;
    PERFSYS_BEGIN_CRITICAL(op);
    Py_ssize_t n = 0;
    for (Py_ssize_t k = 0; k < self->ncfg; k++) {
        n += self->cfg[k].has_id;
    }
    t = PyTuple_New(n);
    if (t != NULL) {
        Py_ssize_t j = 0;
        for (Py_ssize_t k = 0; k < self->ncfg; k++) {
            if (!self->cfg[k].has_id) {
                continue;
            }
            PyObject *v = PyLong_FromUnsignedLongLong(self->cfg[k].id);
            if (v == NULL) {
                Py_CLEAR(t);
                break;
            }
            PyTuple_SetItem(t, j++, v);
        }
    }
    PERFSYS_END_CRITICAL();
    return t;
}

static PyMethodDef decoder_methods[] = {
    {"decode", (PyCFunction)decoder_decode, METH_O,
     "decode($self, buffer, /)\n--\n\n"
     "Decode the one record at the start of `buffer` (a bytes-like object holding a\n"
     "perf_event_header and its body; bytes past header.size are ignored). Returns a\n"
     "record of the type for header.type, or a RawRecord for a type this version does\n"
     "not know. Raises RecordError for a corrupt or truncated record."},
    {"decode_all", (PyCFunction)decoder_decode_all, METH_O,
     "decode_all($self, buffer, /)\n--\n\n"
     "Decode the consecutive records that fill `buffer` exactly into a list.\n"
     "Raises RecordError (naming the record's offset) for a corrupt record or a\n"
     "buffer that ends inside one."},
    {"add", (PyCFunction)(void (*)(void))decoder_add, METH_FASTCALL,
     "add($self, id, attr, /)\n--\n\n"
     "Add the event whose id (PERF_EVENT_IOC_ID) is `id` and whose perf_event_attr is\n"
     "`attr`. Events laid out differently must all have PERF_SAMPLE_IDENTIFIER."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef decoder_getset[] = {
    {"ids", decoder_get_ids, NULL, "the event ids this Decoder knows, ascending", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyType_Slot decoder_slots[] = {
    {Py_tp_new, decoder_new},
    {Py_tp_dealloc, decoder_dealloc},
    {Py_tp_methods, decoder_methods},
    {Py_tp_getset, decoder_getset},
    {Py_tp_doc,
     "Decoder(attrs, /)\n--\n\n"
     "Decodes the records that events write into a ring buffer.\n\n"
     "`attrs` is the perf_event_attr (any bytes-like object) of the one event that\n"
     "writes into the ring, or a dict {id: attr} of the events that share it through\n"
     "PERF_EVENT_IOC_SET_OUTPUT, keyed by their PERF_EVENT_IOC_ID. The Decoder copies\n"
     "sample_type, read_format, sample_id_all, branch_sample_type and the register masks;\n"
     "later changes to the attrs do not affect it. Events whose records are laid out\n"
     "differently are told apart by PERF_SAMPLE_IDENTIFIER, which each must then have."},
    {0, NULL},
};

static PyType_Spec decoder_spec = {
    .name = "perfsys.Decoder",
    .basicsize = sizeof(DecoderObject),
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_IMMUTABLETYPE,
    .slots = decoder_slots,
};

/* ---- columns: samples drained into arrays, and counted ---- */

/* The format of field f's column (SAMPLE_FIELD_LIST): every field of a fixed
   size has one, at the width the kernel writes it; the callchain is offsets
   into one flat array; the other fields (Python objects, other arrays) are
   checked but not drained. */
static const char *
column_format(int f)
{
    switch (f) {
    case S_TYPE:
        return NULL;             /* always PERF_RECORD_SAMPLE */
    case S_MISC:
        return "H";              /* the header's u16 */
    case S_CPU:
        return "I";              /* a u32 (and a reserved one) */
    default:
        break;
    }
    return sample_kind[f] == SK_U64 ? "Q" : sample_kind[f] == SK_I64 ? "i" : NULL;
}

static unsigned
column_width(const char *format)
{
    return format[0] == 'H' ? 2 : (format[0] == 'i' || format[0] == 'I') ? 4 : 8;
}

PyDoc_STRVAR(columns_doc,
"The samples of one RingBuffer.read_columns(), a column per field: each a memoryview\n"
"(format 'Q', 'i' for pid and tid, 'I' for cpu, 'H' for misc, native byte order) that\n"
"numpy takes as it is (np.asarray(columns.ip)); fields the samples do not carry are\n"
"None. The fields are SampleRecord's, those of a fixed size.");

/* SampleColumns: samples, a column per fixed-size SampleRecord field (in field
   order), callchain_offsets, callchain, records. The field list is made from
   the sample field table when the module is executed (its strings are the
   table's). */
static PyTypeObject *
columns_new_type(void)
{
    PyStructSequence_Field fields[S_NFIELDS + 5];
    int n = 0;
    fields[n++] = (PyStructSequence_Field){"samples", "the number of samples"};
    for (int f = 0; f < S_NFIELDS; f++) {
        if (column_format(f) != NULL) {
            fields[n++] = sample_fields[f];
        }
    }
    fields[n++] = (PyStructSequence_Field){
        "callchain_offsets", "PERF_SAMPLE_CALLCHAIN: samples + 1 offsets into callchain: "
                             "sample i's chain is callchain[offsets[i]:offsets[i + 1]]"};
    fields[n++] = (PyStructSequence_Field){
        "callchain", "PERF_SAMPLE_CALLCHAIN: every sample's addresses (PERF_CONTEXT_* "
                     "markers included), one after another"};
    fields[n++] = (PyStructSequence_Field){"records", "the other records, decoded, in ring order"};
    fields[n] = (PyStructSequence_Field){NULL, NULL};
    PyStructSequence_Desc desc = {"perfsys.SampleColumns", (char *)columns_doc, fields, n};
    return PyStructSequence_NewType(&desc);
}

/* One growing array, the bytearray a column's memoryview will show. */
typedef struct {
    PyObject *ba;                /* NULL until the first reserve */
    PyObject *spare;             /* an earlier drain's bytearray, to reuse if free */
    unsigned char *p;            /* its bytes */
    size_t len;                  /* bytes used */
    size_t cap;                  /* bytes it has */
} column_buf;

/* What a drain builds: the layout its samples share, the columns, the records. */
typedef struct {
    DecoderObject *decoder;      /* a strong reference */
    int uniform;                 /* the decoder's one layout, copied into cfg */
    decode_config cfg;
    uint64_t fields;             /* the SampleRecord fields of every sample, 1 << S_* */
    uint64_t sample_type;
    int chain_slot;              /* the callchain's slot in a sample_parts, or -1 */
    int ncols;
    struct {
        int field;               /* S_* */
        int slot;                /* its slot in a sample_parts */
        unsigned width;
        int is_signed;
        column_buf *buf;         /* &buf[field] */
    } cols[S_NFIELDS];
    column_buf buf[S_NFIELDS];   /* by field */
    size_t count;
    size_t cap;                  /* samples the columns have room for */
    column_buf offsets;          /* u64 per sample + 1 */
    column_buf flat;             /* u64 */
    PyObject *records;           /* list */
} columns_builder;

/* Room for `more` bytes. A drain reserves what the ring holds up front (see
   columns_hint), so this grows a column only when that was not done. */
static int
column_reserve(column_buf *b, size_t more)
{
    if (b->cap - b->len >= more) {
        return 0;
    }
    if (b->ba == NULL && b->spare != NULL) {
        /* an earlier drain's bytearray that only the ring still holds */
        if (Py_REFCNT(b->spare) == 1) {
            b->ba = b->spare;
        }
        else {
            Py_DECREF(b->spare);
        }
        b->spare = NULL;
    }
    size_t cap = b->cap ? b->cap : 4096;
    while (cap - b->len < more) {
        if (cap > (size_t)PY_SSIZE_T_MAX / 2) {
            PyErr_NoMemory();
            return -1;
        }
        cap *= 2;
    }
    if (b->ba == NULL) {
        /* NULL: no bytes copied, none written; pages are touched as they fill */
        b->ba = PyByteArray_FromStringAndSize(NULL, (Py_ssize_t)cap);
        if (b->ba == NULL) {
            return -1;
        }
    }
    else if (PyByteArray_Resize(b->ba, (Py_ssize_t)cap) < 0) {
        return -1;
    }
    b->p = (unsigned char *)PyByteArray_AsString(b->ba);
    b->cap = cap;
    return 0;
}

static void
columns_free(columns_builder *b)
{
    if (b == NULL) {
        return;
    }
    for (int k = 0; k < S_NFIELDS; k++) {
        Py_XDECREF(b->buf[k].ba);
        Py_XDECREF(b->buf[k].spare);
    }
    Py_XDECREF(b->offsets.ba);
    Py_XDECREF(b->offsets.spare);
    Py_XDECREF(b->flat.ba);
    Py_XDECREF(b->flat.spare);
    Py_XDECREF(b->records);
    Py_XDECREF((PyObject *)b->decoder);
    PyMem_Free(b);
}

/* The slot of field f in a sample with `fields`. */
static inline int
columns_slot(uint64_t fields, int f)
{
    return __builtin_popcountll(fields & ((1ull << f) - 1));
}

/* The column of spare slot k: a field's, then the offsets, then the flat chain. */
static column_buf *
columns_spare_buf(columns_builder *b, int k)
{
    return k < S_NFIELDS ? &b->buf[k] : k == S_NFIELDS ? &b->offsets : &b->flat;
}

_Static_assert(S_NFIELDS + 2 <= DECODE_COLUMN_SPARES, "DECODE_COLUMN_SPARES is too small");

static columns_builder *
columns_new(PyObject *decoder, PyObject **spares)
{
    DecoderObject *d = (DecoderObject *)decoder;
    uint64_t fields = 0, t = 0;
    int same = 1, uniform = 0;
    decode_config cfg;
    PERFSYS_BEGIN_CRITICAL(decoder);
    cfg = d->cfg[0];
    uniform = d->uniform;
    fields = cfg.fields;
    t = cfg.sample_type;
    for (Py_ssize_t k = 1; k < d->ncfg; k++) {
        same &= d->cfg[k].fields == fields;
    }
    PERFSYS_END_CRITICAL();
    if (!same) {
        PyErr_SetString(PyExc_ValueError,
                        "read_columns() needs samples of one layout: this Decoder's events "
                        "differ in sample_type or branch_sample_type");
        return NULL;
    }
    columns_builder *b = PyMem_Calloc(1, sizeof(*b));
    if (b == NULL) {
        PyErr_NoMemory();
        return NULL;
    }
    b->decoder = (DecoderObject *)Py_NewRef(decoder);
    for (int k = 0; k < S_NFIELDS + 2; k++) {
        columns_spare_buf(b, k)->spare = spares[k];
        spares[k] = NULL;
    }
    b->uniform = uniform;
    b->cfg = cfg;
    b->fields = fields;
    b->sample_type = t;
    b->chain_slot = (fields >> S_CALLCHAIN) & 1 ? columns_slot(fields, S_CALLCHAIN) : -1;
    for (int f = 0; f < S_NFIELDS; f++) {
        const char *format = column_format(f);
        if (format != NULL && ((fields >> f) & 1)) {
            b->cols[b->ncols].field = f;
            b->cols[b->ncols].slot = columns_slot(fields, f);
            b->cols[b->ncols].width = column_width(format);
            b->cols[b->ncols].is_signed = sample_kind[f] == SK_I64;
            b->cols[b->ncols].buf = &b->buf[f];
            b->ncols++;
        }
    }
    b->records = PyList_New(0);
    if (b->records == NULL) {
        columns_free(b);
        return NULL;
    }
    return b;
}

/* Room for `n` samples in every column. */
static int
columns_grow(columns_builder *b, size_t n)
{
    if (n <= b->cap) {
        return 0;
    }
    for (int i = 0; i < b->ncols; i++) {
        if (column_reserve(&b->buf[b->cols[i].field], (n - b->count) * b->cols[i].width) < 0) {
            return -1;
        }
    }
    if (b->chain_slot >= 0 && column_reserve(&b->offsets, 8 * (n + 1 - b->count)) < 0) {
        return -1;
    }
    b->cap = n;
    return 0;
}

/* Reserve room for every sample that `bytes` of records can hold (at most
   max_records, when >= 0): each column at once, so that nothing is copied as
   the drain goes. Each sample_type bit brings at least 8 bytes. */
static int
columns_hint(columns_builder *b, uint64_t bytes, Py_ssize_t max_records)
{
    uint64_t n = bytes / (8 + 8 * (uint64_t)__builtin_popcountll(b->sample_type));
    if (max_records >= 0 && (uint64_t)max_records < n) {
        n = (uint64_t)max_records;
    }
    if (columns_grow(b, (size_t)n) < 0) {
        return -1;
    }
    /* the chains cannot hold more words than the records */
    return b->chain_slot >= 0 ? column_reserve(&b->flat, (size_t)(bytes / 8) * 8) : 0;
}

/* One record: a sample into the columns, anything else decoded into records. */
static int
columns_add(columns_builder *b, const unsigned char *rec, size_t size)
{
    if (rd_u32(rec) != PERF_RECORD_SAMPLE) {
        PyObject *r = decode_record((PyObject *)b->decoder, rec, size);
        if (r == NULL) {
            return -1;
        }
        int rc = PyList_Append(b->records, r);
        Py_DECREF(r);
        return rc;
    }
    perfsys_state *st = b->decoder->st;
    const decode_config *c = &b->cfg;   /* every event as the drain began: one layout */
    decode_config picked_copy;
    if (!b->uniform) {
        const decode_config *picked;
        PERFSYS_BEGIN_CRITICAL((PyObject *)b->decoder);
        picked = decode_pick(b->decoder, rec, size, -1);
        if (picked != NULL) {
            picked_copy = *picked;
        }
        PERFSYS_END_CRITICAL();
        if (picked == NULL) {
            return -1;
        }
        c = &picked_copy;
    }
    if (c->fields != b->fields) {
        decode_error(st, rec, size, -1, "its event lays samples out unlike the others "
                     "(an event added to the Decoder during the drain)");
        return -1;
    }
    sample_parts parts;
    if (decode_sample_parts(st, c, rec, size, -1, &parts, 0) < 0) {
        return -1;               /* with objects == 0 it holds no reference */
    }
    if (b->count == b->cap && columns_grow(b, b->cap ? 2 * b->cap : 1024) < 0) {
        return -1;
    }
    for (int i = 0; i < b->ncols; i++) {
        column_buf *col = b->cols[i].buf;
        sample_slot_t v = parts.slot[b->cols[i].slot];
        if (parts.objmask != 0 && ((parts.objmask >> b->cols[i].field) & 1)) {
            v.u = 0;             /* stack_user_dyn_size when the stack is empty */
        }
        unsigned char *dst = col->p + col->len;
        switch (b->cols[i].width) {
        case 2: {
            uint16_t x = (uint16_t)v.u;
            memcpy(dst, &x, 2);
            break;
        }
        case 4: {
            uint32_t x = b->cols[i].is_signed ? (uint32_t)(int32_t)v.i : (uint32_t)v.u;
            memcpy(dst, &x, 4);
            break;
        }
        default:
            memcpy(dst, &v.u, 8);
        }
        col->len += b->cols[i].width;
    }
    if (b->chain_slot >= 0) {
        uint32_t nr = 0;
        const unsigned char *src = NULL;
        for (int i = 0; i < parts.narr; i++) {
            if (parts.arr[i].slot == b->chain_slot) {
                nr = parts.arr[i].n;
                src = parts.arr[i].src;
            }
        }
        if (column_reserve(&b->flat, 8 * (size_t)nr) < 0) {
            return -1;
        }
        if (b->count == 0) {
            memset(b->offsets.p, 0, 8);
            b->offsets.len = 8;
        }
        if (nr != 0) {
            memcpy(b->flat.p + b->flat.len, src, 8 * (size_t)nr);
            b->flat.len += 8 * (size_t)nr;
        }
        uint64_t end = b->flat.len / 8;
        memcpy(b->offsets.p + b->offsets.len, &end, 8);
        b->offsets.len += 8;
    }
    b->count++;
    return 0;
}

/* A memoryview of `format` over the column's bytearray, cut to what it holds. */
static PyObject *
columns_view(column_buf *c, const char *format)
{
    if (c->ba == NULL) {
        c->ba = PyByteArray_FromStringAndSize(NULL, 0);
        if (c->ba == NULL) {
            return NULL;
        }
    }
    else if (PyByteArray_Resize(c->ba, (Py_ssize_t)c->len) < 0) {
        return NULL;
    }
    c->cap = c->len;
    PyObject *raw = PyMemoryView_FromObject(c->ba);
    if (raw == NULL) {
        return NULL;
    }
    PyObject *view = PyObject_CallMethod(raw, "cast", "s", format);
    Py_DECREF(raw);
    return view;
}

/* The SampleColumns, and the builder freed (also on failure). */
static PyObject *
columns_finish(columns_builder *b, PyObject **keep)
{
    perfsys_state *st = b->decoder->st;
    PyObject *r = PyStructSequence_New(st->decode.sample_columns_type);
    if (r == NULL) {
        columns_free(b);
        return NULL;
    }
    Py_ssize_t i = 0;
    PyObject *v = PyLong_FromSize_t(b->count);
    if (v == NULL) {
        goto fail;
    }
    PyStructSequence_SetItem(r, i++, v);
    for (int f = 0; f < S_NFIELDS; f++) {
        const char *format = column_format(f);
        if (format == NULL) {
            continue;
        }
        v = (b->fields >> f) & 1 ? columns_view(&b->buf[f], format) : Py_NewRef(Py_None);
        if (v == NULL) {
            goto fail;
        }
        PyStructSequence_SetItem(r, i++, v);
    }
    if (b->chain_slot >= 0) {
        if (b->count == 0) {
            if (column_reserve(&b->offsets, 8) < 0) {
                goto fail;
            }
            memset(b->offsets.p, 0, 8);
            b->offsets.len = 8;
        }
        if ((v = columns_view(&b->offsets, "Q")) == NULL) {
            goto fail;
        }
        PyStructSequence_SetItem(r, i++, v);
        if ((v = columns_view(&b->flat, "Q")) == NULL) {
            goto fail;
        }
        PyStructSequence_SetItem(r, i++, v);
    }
    else {
        PyStructSequence_SetItem(r, i++, Py_NewRef(Py_None));
        PyStructSequence_SetItem(r, i++, Py_NewRef(Py_None));
    }
    PyStructSequence_SetItem(r, i, Py_NewRef(b->records));
    for (int k = 0; k < S_NFIELDS + 2; k++) {
        PyObject *ba = columns_spare_buf(b, k)->ba;
        keep[k] = ba != NULL ? Py_NewRef(ba) : NULL;
    }
    columns_free(b);
    return r;
fail:
    Py_DECREF(r);
    columns_free(b);
    return NULL;
}

/* ---- counting ---- */

/* An open-addressing table of distinct u64 sequences (keys point into the
   caller's buffer) and their counts. */
typedef struct {
    uint64_t hash;
    const unsigned char *key;    /* n u64, not necessarily aligned */
    size_t n;
    uint64_t count;
} count_slot;

typedef struct {
    count_slot *slots;
    size_t mask;
    size_t used;
} count_table;

static inline uint64_t
count_hash(const unsigned char *k, size_t n)
{
    uint64_t h = 0x9e3779b97f4a7c15ull ^ n;
    for (size_t i = 0; i < n; i++) {
        h ^= rd_u64(k + 8 * i);
        h *= 0xff51afd7ed558ccdull;
        h ^= h >> 32;
    }
    return h | 1;                /* 0 marks an empty slot */
}

static int
count_grow(count_table *t)
{
    size_t cap = t->slots ? (t->mask + 1) * 2 : 1024;
    count_slot *s = PyMem_Calloc(cap, sizeof(count_slot));
    if (s == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    if (t->slots) {
        for (size_t i = 0; i <= t->mask; i++) {
            if (t->slots[i].hash) {
                size_t j = t->slots[i].hash & (cap - 1);
                while (s[j].hash) {
                    j = (j + 1) & (cap - 1);
                }
                s[j] = t->slots[i];
            }
        }
        PyMem_Free(t->slots);
    }
    t->slots = s;
    t->mask = cap - 1;
    return 0;
}

static int
count_add(count_table *t, const unsigned char *key, size_t n)
{
    if (t->slots == NULL || (t->used + 1) * 2 > t->mask + 1) {
        if (count_grow(t) < 0) {
            return -1;
        }
    }
    uint64_t h = count_hash(key, n);
    size_t j = h & t->mask;
    for (;;) {
        count_slot *s = &t->slots[j];
        if (s->hash == 0) {
            s->hash = h;
            s->key = key;
            s->n = n;
            s->count = 1;
            t->used++;
            return 0;
        }
        if (s->hash == h && s->n == n && memcmp(s->key, key, n * 8) == 0) {
            s->count++;
            return 0;
        }
        j = (j + 1) & t->mask;
    }
}

/* {tuple or int: count} from the table; as_tuple: keys as tuples of ints. */
#define COUNT_INT_CACHE 512

static PyObject *
count_dict(count_table *t, int as_tuple)
{
    uint64_t cache_key[COUNT_INT_CACHE];
    PyObject *cache_obj[COUNT_INT_CACHE] = {NULL};
    PyObject *d = PyDict_New();
    if (d == NULL) {
        return NULL;
    }
    for (size_t i = 0; t->slots != NULL && i <= t->mask; i++) {
        count_slot *s = &t->slots[i];
        if (!s->hash) {
            continue;
        }
        PyObject *key;
        if (as_tuple) {
            key = PyTuple_New((Py_ssize_t)s->n);
            for (size_t k = 0; key != NULL && k < s->n; k++) {
                /* chains share frames: the int of a recent address is reused */
                uint64_t v = rd_u64(s->key + 8 * k);
                size_t slot = (size_t)((v >> 4) ^ (v >> 16)) & (COUNT_INT_CACHE - 1);
                PyObject *o = cache_obj[slot];
                if (o == NULL || cache_key[slot] != v) {
                    o = PyLong_FromUnsignedLongLong(v);
                    if (o == NULL) {
                        Py_CLEAR(key);
                        break;
                    }
                    Py_XDECREF(cache_obj[slot]);
                    cache_obj[slot] = Py_NewRef(o);
                    cache_key[slot] = v;
                }
                else {
                    Py_INCREF(o);
                }
                PyTuple_SetItem(key, (Py_ssize_t)k, o);
            }
        }
        else {
            key = PyLong_FromUnsignedLongLong(rd_u64(s->key));
        }
        PyObject *c = key ? PyLong_FromUnsignedLongLong(s->count) : NULL;
        if (c == NULL || PyDict_SetItem(d, key, c) < 0) {
            Py_XDECREF(key);
            Py_XDECREF(c);
            Py_CLEAR(d);
            break;
        }
        Py_DECREF(key);
        Py_DECREF(c);
    }
    for (size_t i = 0; i < COUNT_INT_CACHE; i++) {
        Py_XDECREF(cache_obj[i]);
    }
    return d;
}

/* A contiguous buffer of 8-byte items (any format with itemsize 8, or bytes). */
static int
count_get_u64(PyObject *obj, Py_buffer *view, const char *what)
{
    if (PyObject_GetBuffer(obj, view, PyBUF_FORMAT | PyBUF_C_CONTIGUOUS) < 0) {
        return -1;
    }
    const char *f = view->format == NULL ? "B" : view->format;
    size_t flen = strlen(f);
    int bytes_like = strcmp(f, "B") == 0 || strcmp(f, "b") == 0 || strcmp(f, "c") == 0;
    int integer = flen > 0 && strchr("QqLlNn", f[flen - 1]) != NULL &&
                  (flen == 1 || (flen == 2 && strchr("@=<>!", f[0]) != NULL));
    if ((bytes_like ? view->len % 8 != 0 : !integer || view->itemsize != 8)) {
        PyErr_Format(PyExc_TypeError,
                     "%s must hold 8-byte integers (a memoryview of format 'Q', a numpy "
                     "uint64 array, or bytes of a multiple of 8), not items of format '%s'",
                     what, f);
        PyBuffer_Release(view);
        return -1;
    }
    return 0;
}

PyDoc_STRVAR(decode_count_callchains_doc,
"count_callchains($module, offsets, callchain, /)\n--\n\n"
"Count the distinct callchains of a SampleColumns: {tuple of addresses: samples}.\n\n"
"`offsets` and `callchain` are columns.callchain_offsets and columns.callchain (or\n"
"any buffers of u64 laid out the same way: chain i is\n"
"callchain[offsets[i]:offsets[i + 1]]). The chains are hashed and compared as\n"
"the kernel wrote them, PERF_CONTEXT_* markers included; a tuple is made once\n"
"per distinct chain.");

static PyObject *
decode_count_callchains(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    (void)module;
    if (core_parse("count_callchains", args, nargs, NULL, NULL, 2, 2, NULL) < 0) {
        return NULL;
    }
    Py_buffer ov, cv;
    if (count_get_u64(args[0], &ov, "offsets") < 0) {
        return NULL;
    }
    if (count_get_u64(args[1], &cv, "callchain") < 0) {
        PyBuffer_Release(&ov);
        return NULL;
    }
    PyObject *result = NULL;
    count_table t = {NULL, 0, 0};
    const unsigned char *off = ov.buf;
    const unsigned char *flat = cv.buf;
    size_t noff = (size_t)ov.len / 8, nflat = (size_t)cv.len / 8;
    uint64_t prev = noff ? rd_u64(off) : 0;
    if (prev > nflat) {
        PyErr_Format(PyExc_ValueError, "offsets[0] = %llu is past the callchain's %zu items",
                     (unsigned long long)prev, nflat);
        goto done;
    }
    for (size_t i = 1; i < noff; i++) {
        uint64_t o = rd_u64(off + 8 * i);
        if (o < prev || o > nflat) {
            PyErr_Format(PyExc_ValueError,
                         "offsets[%zu] = %llu: offsets must not decrease and must stay "
                         "within the callchain's %zu items", i, (unsigned long long)o, nflat);
            goto done;
        }
        if (count_add(&t, flat + 8 * prev, (size_t)(o - prev)) < 0) {
            goto done;
        }
        prev = o;
    }
    result = count_dict(&t, 1);
done:
    PyMem_Free(t.slots);
    PyBuffer_Release(&ov);
    PyBuffer_Release(&cv);
    return result;
}

PyDoc_STRVAR(decode_count_values_doc,
"count_values($module, column, /)\n--\n\n"
"Count the distinct values of a u64 column (columns.ip, columns.addr, ...):\n"
"{value: samples}.");

static PyObject *
decode_count_values(PyObject *module, PyObject *arg)
{
    (void)module;
    Py_buffer v;
    if (count_get_u64(arg, &v, "column") < 0) {
        return NULL;
    }
    count_table t = {NULL, 0, 0};
    const unsigned char *p = v.buf;
    size_t n = (size_t)v.len / 8;
    PyObject *result = NULL;
    for (size_t i = 0; i < n; i++) {
        if (count_add(&t, p + 8 * i, 1) < 0) {
            goto done;
        }
    }
    result = count_dict(&t, 0);
done:
    PyMem_Free(t.slots);
    PyBuffer_Release(&v);
    return result;
}

static PyMethodDef decode_methods[] = {
    {"count_callchains", (PyCFunction)(void (*)(void))decode_count_callchains, METH_FASTCALL,
     decode_count_callchains_doc},
    {"count_values", decode_count_values, METH_O, decode_count_values_doc},
    {NULL, NULL, 0, NULL},
};

/* ---- the interfaces used by "ring": columns ---- */

static void *
decode_columns_new(PyObject *decoder, PyObject **spares)
{
    return columns_new(decoder, spares);
}

static int
decode_columns_hint(void *builder, uint64_t bytes, Py_ssize_t max_records)
{
    return columns_hint(builder, bytes, max_records);
}

static int
decode_columns_add(void *builder, const unsigned char *rec, size_t size)
{
    return columns_add(builder, rec, size);
}

static PyObject *
decode_columns_finish(void *builder, PyObject **keep)
{
    return columns_finish(builder, keep);
}

static void
decode_columns_free(void *builder)
{
    columns_free(builder);
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
    for (int k = 1; k < DECODE_NTYPES; k++) {
        if (decode_record_descs[k].name == NULL) {
            continue;  /* no row in _perfsys_records.h: decoded as RawRecord */
        }
        if (k == PERF_RECORD_SAMPLE) {
            PyTypeObject *tp = sample_new_type(m);
            if (tp == NULL) {
                return -1;
            }
            st->decode.record_types[k] = tp;
            if (PyModule_AddObjectRef(m, "SampleRecord", (PyObject *)tp) < 0) {
                return -1;
            }
            continue;
        }
        PyStructSequence_Desc desc = {
            (char *)decode_record_descs[k].name, (char *)decode_record_descs[k].doc,
            decode_record_descs[k].fields, decode_record_descs[k].nfields,
        };
        PyTypeObject *tp = PyStructSequence_NewType(&desc);
        if (tp == NULL) {
            return -1;
        }
        st->decode.record_types[k] = tp;
        if (PyModule_AddObjectRef(m, strchr(desc.name, '.') + 1, (PyObject *)tp) < 0) {
            return -1;
        }
    }
    st->decode.branch_entry_type = PyStructSequence_NewType(&branch_entry_desc);
    if (st->decode.branch_entry_type == NULL ||
        PyModule_AddObjectRef(m, "BranchEntry", (PyObject *)st->decode.branch_entry_type) < 0) {
        return -1;
    }
    st->decode.decoder_type = (PyTypeObject *)PyType_FromModuleAndSpec(m, &decoder_spec, NULL);
    if (st->decode.decoder_type == NULL ||
        PyModule_AddObjectRef(m, "Decoder", (PyObject *)st->decode.decoder_type) < 0) {
        return -1;
    }
    st->decode.sample_columns_type = columns_new_type();
    if (st->decode.sample_columns_type == NULL ||
        PyModule_AddObjectRef(m, "SampleColumns",
                              (PyObject *)st->decode.sample_columns_type) < 0 ||
        PyModule_AddFunctions(m, decode_methods) < 0) {
        return -1;
    }
    st->decode.record_error = PyErr_NewExceptionWithDoc(
        "perfsys.RecordError",
        "A record is corrupt or truncated, or does not fit the Decoder's attrs.",
        PyExc_ValueError, NULL);
    if (st->decode.record_error == NULL ||
        PyModule_AddObjectRef(m, "RecordError", st->decode.record_error) < 0) {
        return -1;
    }
    return 0;
}

static int
decode_traverse(decode_state *s, visitproc visit, void *arg)
{
    Py_VISIT(s->raw_record_type);
    for (int k = 0; k < DECODE_NTYPES; k++) {
        Py_VISIT(s->record_types[k]);
    }
    Py_VISIT(s->branch_entry_type);
    Py_VISIT(s->decoder_type);
    Py_VISIT(s->record_error);
    Py_VISIT(s->sample_columns_type);
    return 0;
}

static void
decode_clear(decode_state *s)
{
    Py_CLEAR(s->raw_record_type);
    for (int k = 0; k < DECODE_NTYPES; k++) {
        Py_CLEAR(s->record_types[k]);
    }
    Py_CLEAR(s->branch_entry_type);
    Py_CLEAR(s->decoder_type);
    Py_CLEAR(s->record_error);
    Py_CLEAR(s->sample_columns_type);
#ifndef Py_GIL_DISABLED
    for (size_t k = 0; k < DECODE_IP_CACHE; k++) {
        Py_CLEAR(s->ip_int[k]);
    }
#endif
}

/* ------------------------------------------------------------------------- */
/* 6. section "ring"                                                          */
/* ------------------------------------------------------------------------- */

/* RingBuffer maps the ring buffer of one perf event file descriptor: one
   header page (struct perf_event_mmap_page) followed by 2^n data pages, and
   optionally a separate AUX area. It owns a duplicate of the descriptor it was
   given (F_DUPFD_CLOEXEC), so the caller may close theirs at any time;
   fileno() returns the duplicate, which shares the open file description with
   the original (ioctls on either act on the same event).

   Normal mode maps the pages PROT_READ|PROT_WRITE: the kernel never writes
   over records that user space has not released through data_tail. Overwrite
   mode maps them PROT_READ only, which the kernel takes to mean that it may
   overwrite old records; it is meant for events opened with write_backward,
   whose records are read newest first after output is paused
   (PERF_EVENT_IOC_PAUSE_OUTPUT).

   The buffer protocol exports the header page only: the kernel maps the data
   pages so that a store into them raises SIGBUS, which no Python code should
   be able to provoke through a memoryview.

   Every record is copied out of the mapping into a private buffer before it is
   decoded, so a record that wraps past the end of the data area (its 8-byte
   header included) comes out whole, and nothing the kernel writes meanwhile can
   change a length after it was checked. */

#include <fcntl.h>
#include <stdio.h>
#include <sys/eventfd.h>
#include <time.h>

#define RING_SCRATCH_SIZE 65536u   /* header.size is a u16: no record is larger */

typedef struct {
    PyObject_HEAD
    int fd;                        /* our duplicate; -1 once closed */
    unsigned char *base;           /* header page + data pages; NULL once closed */
    size_t map_size;
    size_t page_size;
    size_t data_pages;
    uint64_t data_size;            /* a power of two */
    unsigned char *data;           /* base + page_size */
    unsigned char *aux_base;       /* NULL when no AUX area */
    size_t aux_map_size;
    perfsys_mapping map, aux_map;  /* both areas, listed for fork() */
    unsigned long generation;      /* perfsys_generation when mapped */
    uint64_t aux_offset;
    int overwrite;
    int testing;                   /* a memfd laid out like a ring (RingBuffer._testing) */
    int reading;                   /* a read() is copying out of the mapping */
    int waiters;                   /* wait() calls polling fd */
    int wake_fd;                   /* eventfd close() writes to wake them; -1: none yet */
    int closed_fd;                 /* fd, closed while waiters polled it: the last one closes it */
    Py_ssize_t exports;            /* live buffer views */
    unsigned char *scratch;        /* RING_SCRATCH_SIZE bytes */
    uint64_t ov_prev;              /* overwrite mode: data_head at the previous read */
    uint64_t lost;                 /* sum of PERF_RECORD_LOST.lost */
    uint64_t lost_records;         /* number of PERF_RECORD_LOST records */
    uint64_t lost_samples;         /* sum of PERF_RECORD_LOST_SAMPLES.lost */
    uint64_t records;              /* records handed out */
    PyObject *spares[DECODE_COLUMN_SPARES]; /* read_columns(): the last drain's bytearrays */
} RingObject;

/* The header page's u64 fields lie at multiples of 8. Saying so lets 32-bit x86,
   where a uint64_t is 4-aligned, do their atomic loads and stores inline. */
typedef uint64_t ring_u64_t __attribute__((aligned(8)));

static inline ring_u64_t *
ring_u64(const RingObject *self, size_t offset)
{
    return (ring_u64_t *)(void *)(self->base + offset);
}

static inline uint64_t
ring_load_head(const RingObject *self)
{
    return __atomic_load_n(ring_u64(self, PERFSYS_OFFSETOF(perf_event_mmap_page, data_head)), __ATOMIC_ACQUIRE);
}

static inline uint64_t
ring_load_tail(const RingObject *self)
{
    return __atomic_load_n(ring_u64(self, PERFSYS_OFFSETOF(perf_event_mmap_page, data_tail)), __ATOMIC_RELAXED);
}

static inline void
ring_store_tail(RingObject *self, uint64_t tail)
{
    __atomic_store_n(ring_u64(self, PERFSYS_OFFSETOF(perf_event_mmap_page, data_tail)), tail, __ATOMIC_RELEASE);
}

static int
ring_check_open(RingObject *self)
{
    if (self->base == NULL) {
        PyErr_SetString(PyExc_ValueError, "I/O operation on closed RingBuffer");
        return -1;
    }
    if (self->generation != perfsys_generation) {
        return perfsys_forked_error("RingBuffer");
    }
    return 0;
}

/* discard() and data_tail stores while a read() is under way on this ring (a
   free-threaded read() suspended while another thread holds its Decoder, or a
   finalizer run by the collector inside it) would hand records out twice, or
   move the tail back: they raise instead, as close() does. */
static int
ring_check_not_reading(RingObject *self, const char *what)
{
    if (self->reading) {
        PyErr_Format(PyExc_RuntimeError, "cannot %s while read() runs on this RingBuffer", what);
        return -1;
    }
    return 0;
}

/* Copy `len` bytes at position `pos` (a free-running byte counter, as the
   heads and tails are) of a ring area of `size` bytes (a power of two, the data
   or the AUX area) into dst, wrapping at the area's end. len <= size. */
static void
ring_copy_wrapped(const unsigned char *area, uint64_t size, uint64_t pos, unsigned char *dst,
                  size_t len)
{
    size_t off = (size_t)(pos & (size - 1));
    size_t first = (size_t)size - off;
    if (first >= len) {
        memcpy(dst, area + off, len);
    }
    else {
        memcpy(dst, area + off, first);
        memcpy(dst + first, area, len - first);
    }
}

static int
is_power_of_two(Py_ssize_t n)
{
    return n > 0 && (n & (n - 1)) == 0;
}

static void
ring_release_resources(RingObject *self)
{
    self->aux_base = NULL;
    perfsys_map_remove(&self->aux_map);
    self->base = NULL;
    self->data = NULL;
    perfsys_map_remove(&self->map);
    if (self->fd >= 0) {
        int fd = self->fd;
        self->fd = -1;
        core_counter_fd_forget(fd);
        if (self->waiters > 0 && self->generation == perfsys_generation) {
            /* wait() polls it: wake the waiters, and the last one closes it */
            uint64_t one = 1;
            self->closed_fd = fd;
            (void)!write(self->wake_fd, &one, sizeof(one));
        }
        else {
            close(fd);
        }
    }
    if (self->wake_fd >= 0 && self->closed_fd < 0) {
        close(self->wake_fd);
        self->wake_fd = -1;
    }
    if (self->scratch != NULL) {
        PyMem_Free(self->scratch);
        self->scratch = NULL;
    }
    for (int k = 0; k < DECODE_COLUMN_SPARES; k++) {
        Py_CLEAR(self->spares[k]);
    }
}

/* Map the ring of `fd` (a perf event; or, when `testing`, a memfd that this
   function sizes and seals) into a new RingObject. Arguments are checked. */
static PyObject *
ring_create(PyTypeObject *type, int fd, Py_ssize_t data_pages, Py_ssize_t aux_pages,
            int overwrite, int testing)
{
    RingObject *self = NULL;
    int err;

    long page = sysconf(_SC_PAGESIZE);
    if (page <= 0) {
        page = 4096;
    }
    size_t page_size = (size_t)page;
    if (!is_power_of_two(data_pages)) {
        PyErr_Format(PyExc_ValueError,
                     "data_pages must be a power of two (1, 2, 4, ...), not %zd", data_pages);
        return NULL;
    }
    if ((size_t)data_pages > SIZE_MAX / page_size - 1 ||
        (size_t)data_pages > (size_t)INT64_MAX / page_size - 1) {
        PyErr_Format(PyExc_ValueError, "data_pages %zd is too large to map", data_pages);
        return NULL;
    }
    if (aux_pages != 0) {
        if (!is_power_of_two(aux_pages)) {
            PyErr_Format(PyExc_ValueError,
                         "aux_pages must be 0 or a power of two, not %zd", aux_pages);
            return NULL;
        }
        if ((size_t)aux_pages > SIZE_MAX / page_size) {
            PyErr_Format(PyExc_ValueError, "aux_pages %zd is too large to map", aux_pages);
            return NULL;
        }
        if (overwrite) {
            PyErr_SetString(PyExc_ValueError,
                            "an AUX area needs a writable header page: "
                            "aux_pages cannot be combined with overwrite=True");
            return NULL;
        }
    }
    if (!testing) {
        if (perfsys_audit((perfsys_state *)PyType_GetModuleState(type), "perfsys.RingBuffer",
                          "innO", fd, data_pages, aux_pages,
                          overwrite ? Py_True : Py_False) < 0) {
            return NULL;
        }
        if (core_check_perf_fd(fd, "RingBuffer") < 0) {
            return NULL;
        }
    }

    allocfunc alloc = (allocfunc)PyType_GetSlot(type, Py_tp_alloc);
    self = (RingObject *)alloc(type, 0);
    if (self == NULL) {
        return NULL;
    }
    self->fd = -1;
    self->wake_fd = -1;
    self->closed_fd = -1;
    self->page_size = page_size;
    self->data_pages = (size_t)data_pages;
    self->data_size = (uint64_t)data_pages * page_size;
    self->map_size = ((size_t)data_pages + 1) * page_size;
    self->overwrite = overwrite;
    self->testing = testing;

    self->scratch = PyMem_Malloc(RING_SCRATCH_SIZE);
    if (self->scratch == NULL) {
        PyErr_NoMemory();
        goto error;
    }
    if (testing) {
#ifdef SYS_memfd_create
        self->fd = (int)syscall(SYS_memfd_create, "perfsys-ring-test", 0x0003u);
        /* MFD_CLOEXEC | MFD_ALLOW_SEALING */
#else
        errno = ENOSYS;
#endif
        if (self->fd < 0) {
            err = errno;
            perfsys_set_oserror(err, "memfd_create");
            goto error;
        }
        if (ftruncate(self->fd, (off_t)self->map_size) < 0 ||
            fcntl(self->fd, F_ADD_SEALS, 0x0002 | 0x0004) < 0) {   /* F_SEAL_SHRINK|F_SEAL_GROW */
            err = errno;
            perfsys_set_oserror(err, "ftruncate");
            goto error;
        }
    }
    else {
        self->fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
        if (self->fd < 0) {
            err = errno;
            perfsys_set_oserror(err, "fcntl(F_DUPFD_CLOEXEC)");
            goto error;
        }
    }
    int prot = overwrite && !testing ? PROT_READ : PROT_READ | PROT_WRITE;
    void *p = mmap(NULL, self->map_size, prot, MAP_SHARED, self->fd, 0);
    if (p == MAP_FAILED) {
        err = errno;
        core_raise_oserror(err, "mmap", err != EINVAL ? NULL :
            "the kernel maps no event opened with inherit=1 on a task for every CPU "
            "(pid >= 0, cpu == -1): open it once per CPU (cpu >= 0, as perfsys.sampler "
            "does), or without inherit; an event that already has a ring of another "
            "size is refused too");
        goto error;
    }
    self->base = p;
    self->data = self->base + page_size;
    perfsys_map_add(&self->map, p, self->map_size);
    self->generation = perfsys_generation;
    if (testing) {
        *ring_u64(self, PERFSYS_OFFSETOF(perf_event_mmap_page, data_offset)) = page_size;
        *ring_u64(self, PERFSYS_OFFSETOF(perf_event_mmap_page, data_size)) = self->data_size;
    }

    if (aux_pages != 0) {
        size_t aux_size = (size_t)aux_pages * page_size;
        self->aux_offset = (uint64_t)self->map_size;
        self->aux_map_size = aux_size;
        *ring_u64(self, PERFSYS_OFFSETOF(perf_event_mmap_page, aux_offset)) = self->aux_offset;
        *ring_u64(self, PERFSYS_OFFSETOF(perf_event_mmap_page, aux_size)) = (uint64_t)aux_size;
        void *a = mmap(NULL, aux_size, PROT_READ | PROT_WRITE, MAP_SHARED, self->fd,
                       (off_t)self->aux_offset);
        if (a == MAP_FAILED) {
            err = errno;
            perfsys_set_oserror(err, "mmap(AUX area)");
            goto error;
        }
        self->aux_base = a;
        perfsys_map_add(&self->aux_map, a, aux_size);
    }
    return (PyObject *)self;

error:
    ring_release_resources(self);
    Py_DECREF(self);
    return NULL;
}

static PyObject *
ring_new(PyTypeObject *type, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = {"fd", "data_pages", "aux_pages", "overwrite", NULL};
    PyObject *fdobj, *data_obj, *aux_obj = NULL;
    long long data_pages, aux_pages = 0;
    int overwrite = 0, fd;

    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OO|$Op:RingBuffer", kwlist,
                                     &fdobj, &data_obj, &aux_obj, &overwrite) ||
        core_fd(fdobj, "fd", &fd) < 0 ||
        core_int_in(data_obj, "data_pages", PY_SSIZE_T_MIN, PY_SSIZE_T_MAX, PY_SSIZE_T_MIN,
                    PY_SSIZE_T_MAX, &data_pages) < 0 ||
        (aux_obj != NULL &&
         core_int_in(aux_obj, "aux_pages", PY_SSIZE_T_MIN, PY_SSIZE_T_MAX, PY_SSIZE_T_MIN,
                     PY_SSIZE_T_MAX, &aux_pages) < 0)) {
        return NULL;
    }
    return ring_create(type, fd, (Py_ssize_t)data_pages, (Py_ssize_t)aux_pages, overwrite, 0);
}

PyDoc_STRVAR(ring_testing_doc,
"_testing($type, /, data_pages, overwrite=False)\n--\n\n"
"A RingBuffer over a sealed memfd laid out like a ring (header page, then\n"
"data_pages pages), with the whole mapping exported writable, so tests can\n"
"write records and data_head by hand. Not for profiling.");

static PyObject *
ring_testing(PyObject *cls, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = {"data_pages", "overwrite", NULL};
    PyObject *data_obj;
    long long data_pages;
    int overwrite = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O|p:_testing", kwlist,
                                     &data_obj, &overwrite) ||
        core_int_in(data_obj, "data_pages", PY_SSIZE_T_MIN, PY_SSIZE_T_MAX, PY_SSIZE_T_MIN,
                    PY_SSIZE_T_MAX, &data_pages) < 0) {
        return NULL;
    }
    return ring_create((PyTypeObject *)cls, -1, (Py_ssize_t)data_pages, 0, overwrite, 1);
}

static void
ring_dealloc(PyObject *op)
{
    RingObject *self = (RingObject *)op;
    PyTypeObject *tp = Py_TYPE(op);
    ring_release_resources(self);
    freefunc tp_free = (freefunc)PyType_GetSlot(tp, Py_tp_free);
    tp_free(op);
    Py_DECREF(tp);
}

static PyObject *
ring_repr(PyObject *op)
{
    RingObject *self = (RingObject *)op;
    PyObject *r;
    PERFSYS_BEGIN_CRITICAL(op);
    if (self->base == NULL) {
        r = PyUnicode_FromString("<perfsys.RingBuffer closed>");
    }
    else {
        r = PyUnicode_FromFormat("<perfsys.RingBuffer fd=%d data_pages=%zu aux_pages=%zu%s>",
                                 self->fd, self->data_pages,
                                 self->aux_map_size / self->page_size,
                                 self->overwrite ? " overwrite" : "");
    }
    PERFSYS_END_CRITICAL();
    return r;
}

/* -- buffer protocol ------------------------------------------------------ */

static int
ring_getbuffer(PyObject *op, Py_buffer *view, int flags)
{
    RingObject *self = (RingObject *)op;
    int r = -1;
    PERFSYS_BEGIN_CRITICAL(op);
    /* A perf ring exports its header page only: the kernel maps the data
       pages so that a store into them raises SIGBUS, and read() is the way
       to the records. */
    Py_ssize_t len = (Py_ssize_t)(self->testing ? self->map_size : self->page_size);
    int readonly = self->overwrite && !self->testing;
    if (ring_check_open(self) == 0 &&
        PyBuffer_FillInfo(view, op, self->base, len, readonly, flags) == 0) {
        self->exports++;
        r = 0;
    }
    PERFSYS_END_CRITICAL();
    return r;
}

static void
ring_releasebuffer(PyObject *op, Py_buffer *view)
{
    (void)view;
    RingObject *self = (RingObject *)op;
    PERFSYS_BEGIN_CRITICAL(op);
    self->exports--;
    PERFSYS_END_CRITICAL();
}

/* -- methods -------------------------------------------------------------- */

PyDoc_STRVAR(ring_close_doc,
"close($self, /)\n--\n\n"
"Unmap the ring buffer (and its AUX area) and close the RingBuffer's own file\n"
"descriptor. Closing a closed RingBuffer does nothing. Raises BufferError while\n"
"memoryviews or ctypes objects made from the buffer are alive.");

static PyObject *
ring_close(PyObject *op, PyObject *Py_UNUSED(ignored))
{
    RingObject *self = (RingObject *)op;
    PyObject *r = Py_None;
    PERFSYS_BEGIN_CRITICAL(op);
    if (self->exports > 0) {
        PyErr_SetString(PyExc_BufferError,
                        "cannot close a RingBuffer while exported buffers (memoryviews, "
                        "ctypes from_buffer objects) are alive");
        r = NULL;
    }
    else if (self->reading) {
        PyErr_SetString(PyExc_RuntimeError, "cannot close a RingBuffer while read() runs on it");
        r = NULL;
    }
    else {
        ring_release_resources(self);
    }
    PERFSYS_END_CRITICAL();
    return Py_XNewRef(r);
}

PyDoc_STRVAR(ring_fileno_doc,
"fileno($self, /)\n--\n\n"
"The RingBuffer's own duplicate of the event's file descriptor, for poll, select,\n"
"epoll and the ioctls. It is closed by close().");

static PyObject *
ring_fileno(PyObject *op, PyObject *Py_UNUSED(ignored))
{
    RingObject *self = (RingObject *)op;
    PyObject *r = NULL;
    PERFSYS_BEGIN_CRITICAL(op);
    if (ring_check_open(self) == 0) {
        r = PyLong_FromLong(self->fd);
    }
    PERFSYS_END_CRITICAL();
    return r;
}

static PyObject *
ring_enter(PyObject *op, PyObject *Py_UNUSED(ignored))
{
    RingObject *self = (RingObject *)op;
    int ok;
    PERFSYS_BEGIN_CRITICAL(op);
    ok = ring_check_open(self) == 0;
    PERFSYS_END_CRITICAL();
    return ok ? Py_NewRef(op) : NULL;
}

static PyObject *
ring_exit(PyObject *op, PyObject *const *args, Py_ssize_t nargs)
{
    (void)args;
    (void)nargs;
    PyObject *r = ring_close(op, NULL);
    if (r == NULL) {
        return NULL;
    }
    Py_DECREF(r);
    Py_RETURN_FALSE;
}

/* The bad-record error. Says where, and how to get past it. */
static void
ring_set_corrupt(uint64_t pos, uint64_t head, const char *what, unsigned long value)
{
    PyErr_Format(PyExc_ValueError,
                 "corrupt ring buffer at position %llu (data_head %llu): %s %lu; "
                 "discard() drops the unread data",
                 (unsigned long long)pos, (unsigned long long)head, what, value);
}

/* Count what the kernel says it dropped. `rec` is a whole record of `size`
   bytes (>= 8, checked). */
static void
ring_account(RingObject *self, const unsigned char *rec, size_t size)
{
    uint32_t type;
    uint64_t v;
    memcpy(&type, rec, 4);
    if (type == PERF_RECORD_LOST && size >= 24) {
        memcpy(&v, rec + 16, 8);      /* after the header and id */
        self->lost += v;
        self->lost_records++;
    }
    else if (type == PERF_RECORD_LOST_SAMPLES && size >= 16) {
        memcpy(&v, rec + 8, 8);
        self->lost_samples += v;
    }
    self->records++;
}

/* Where a drain puts its records: Python objects into a list (made by
   `decoder`, or RawRecords when it is None), or samples into columns. */
typedef struct {
    PyObject *decoder;
    PyObject *list;
    void *columns;               /* a decode_columns_new() builder, or NULL */
} ring_sink;

/* Hand the record in self->scratch to the sink. */
static int
ring_emit(RingObject *self, perfsys_state *st, ring_sink *sink, size_t size)
{
    if (sink->columns != NULL) {
        if (decode_columns_add(sink->columns, self->scratch, size) < 0) {
            return -1;
        }
        ring_account(self, self->scratch, size);
        return 0;
    }
    PyObject *obj = sink->decoder == Py_None
                        ? decode_raw_record(st, self->scratch, size)
                        : decode_record(sink->decoder, self->scratch, size);
    if (obj == NULL) {
        return -1;
    }
    int r = PyList_Append(sink->list, obj);
    Py_DECREF(obj);
    if (r < 0) {
        return -1;
    }
    ring_account(self, self->scratch, size);
    return 0;
}

/* The one reader of a record, for both directions: take the record at ring
   position `pos`, `left` bytes of which may be read, into self->scratch and
   return its size. Reading backward (overwrite mode), 0 says to stop there: the
   rest was overwritten by newer records, or never written. -1 with ValueError
   set for a corrupt record; `head` is for that message. */
static Py_ssize_t
ring_take(RingObject *self, uint64_t pos, uint64_t left, uint64_t head, int backward)
{
    const size_t header = PERFSYS_SIZEOF(perf_event_header);
    if (left < header) {
        if (backward) {
            return 0;
        }
        ring_set_corrupt(pos, head, "partial record header, bytes left", (unsigned long)left);
        return -1;
    }
    ring_copy_wrapped(self->data, self->data_size, pos, self->scratch, header);
    size_t size = rd_u16(self->scratch + PERFSYS_OFFSETOF(perf_event_header, size));
    if (backward && size == 0) {
        return 0;
    }
    if (size < header || size % 8 != 0 || (backward && size > self->data_size)) {
        ring_set_corrupt(pos, head, "record size", (unsigned long)size);
        return -1;
    }
    if (size > self->data_size || size > left) {
        if (backward) {
            return 0;
        }
        ring_set_corrupt(pos, head, "record runs past data_head: size", (unsigned long)size);
        return -1;
    }
    ring_copy_wrapped(self->data, self->data_size, pos, self->scratch, size);
    return (Py_ssize_t)size;
}

/* Normal mode: records from data_tail up to data_head, oldest first. */
static int
ring_read_forward(RingObject *self, perfsys_state *st, ring_sink *sink, Py_ssize_t max_records)
{
    uint64_t head = ring_load_head(self);
    uint64_t tail = ring_load_tail(self);
    uint64_t pos = tail;
    Py_ssize_t n = 0;
    int failed = 0;

    if (head - tail > self->data_size) {
        ring_set_corrupt(tail, head, "data_head - data_tail exceeds the data area:",
                         (unsigned long)(head - tail));
        return -1;
    }
    if (sink->columns != NULL && decode_columns_hint(sink->columns, head - tail, max_records) < 0) {
        return -1;
    }
    while (pos != head && (max_records < 0 || n < max_records)) {
        Py_ssize_t size = ring_take(self, pos, head - pos, head, 0);
        if (size < 0 || ring_emit(self, st, sink, (size_t)size) < 0) {
            failed = 1;
            break;
        }
        pos += (uint64_t)size;
        n++;
    }
    if (pos != tail) {
        ring_store_tail(self, pos);
    }
    if (failed) {
        if (n == 0) {
            return -1;
        }
        /* Hand out what came before the bad record; the next call starts at it
           and raises again. */
        PyErr_Clear();
    }
    return 0;
}

/* Overwrite mode: write_backward records from data_head up to the head seen
   by the previous read (at most one data area's worth), newest first. */
static int
ring_read_backward(RingObject *self, perfsys_state *st, ring_sink *sink, Py_ssize_t max_records)
{
    uint64_t head = ring_load_head(self);
    if ((int64_t)head > 0) {
        PyErr_SetString(PyExc_ValueError,
                        "data_head moved forward: overwrite mode reads events opened "
                        "with write_backward=1 only");
        return -1;
    }
    uint64_t span = self->ov_prev - head;
    if (span > self->data_size) {
        span = self->data_size;
    }
    uint64_t done = 0;
    Py_ssize_t n = 0;
    int failed = 0;
    if (sink->columns != NULL && decode_columns_hint(sink->columns, span, max_records) < 0) {
        return -1;
    }
    while (done < span && (max_records < 0 || n < max_records)) {
        Py_ssize_t size = ring_take(self, head + done, span - done, head, 1);
        if (size == 0) {
            break;      /* overwritten, or never written */
        }
        if (size < 0 || ring_emit(self, st, sink, (size_t)size) < 0) {
            failed = 1;
            break;
        }
        done += (uint64_t)size;
        n++;
    }
    if (failed && n == 0) {
        return -1;
    }
    if (failed) {
        PyErr_Clear();
    }
    self->ov_prev = head;
    return 0;
}

PyDoc_STRVAR(ring_read_doc,
"read($self, /, max_records=-1, decoder=None)\n--\n\n"
"Take records out of the ring and return them as a list.\n\n"
"With no decoder each record is a RawRecord(type, misc, data); with a Decoder it\n"
"is what the decoder makes of it. max_records (-1: no limit) bounds the list.\n\n"
"Normal mode returns the records from data_tail up to data_head, oldest first,\n"
"and moves data_tail (release ordering) past exactly the records returned.\n"
"Overwrite mode returns the records written since the previous read, newest\n"
"first, at most one data area's worth; pause output first.\n\n"
"A record whose size is 0, not a multiple of 8, or runs past data_head raises\n"
"ValueError when it is the first record of a call; records before it are\n"
"returned by the call that reaches it. data_tail never moves past it: discard()\n"
"drops the unread data. Errors from the decoder are reported the same way.\n\n"
"A read() that starts while another runs on the same ring (in another thread\n"
"that took over during a garbage collection, or in a finalizer) returns [];\n"
"the running call hands those records out.");

/* The arguments of read() and read_columns(): (max_records=-1, decoder=None),
   the decoder a Decoder (or None when !need_decoder); and the module state. */
static int
ring_read_args(PyObject *op, const char *fname, PyObject *const *args, Py_ssize_t nargs,
               PyObject *kwnames, int need_decoder, Py_ssize_t *max_records,
               PyObject **decoder, perfsys_state **st)
{
    static const char *const names[] = {"max_records", "decoder"};
    PyObject *vals[2];
    if (core_parse(fname, args, nargs, kwnames, names, 0, 2, vals) < 0) {
        return -1;
    }
    *max_records = -1;
    if (vals[0] != NULL && vals[0] != Py_None) {
        long long v;
        if (core_int_in(vals[0], "max_records", LLONG_MIN, LLONG_MAX, PY_SSIZE_T_MIN,
                        PY_SSIZE_T_MAX, &v) < 0) {
            return -1;
        }
        *max_records = (Py_ssize_t)v;
        if (*max_records < -1) {
            PyErr_SetString(PyExc_ValueError, "max_records must be >= 0, or -1 for no limit");
            return -1;
        }
    }
    *decoder = vals[1] == NULL ? Py_None : vals[1];
    PyObject *module = PyType_GetModule(Py_TYPE(op));
    if (module == NULL) {
        return -1;
    }
    *st = get_state(module);
    if ((need_decoder || *decoder != Py_None) && !decode_is_decoder(*st, *decoder)) {
        PyErr_Format(PyExc_TypeError, "%s() needs decoder=, a perfsys.Decoder%s, not %R", fname,
                     need_decoder ? "" : " or None", (PyObject *)Py_TYPE(*decoder));
        return -1;
    }
    return 0;
}

/* Drain into `sink` under the ring's lock; 0, or -1 with an exception. */
static int
ring_drain(RingObject *self, perfsys_state *st, ring_sink *sink, Py_ssize_t max_records)
{
    int r = -1;
    PERFSYS_BEGIN_CRITICAL((PyObject *)self);
    if (ring_check_open(self) == 0) {
        if (self->reading) {
            /* Another read() is under way: a thread that took over while the
               garbage collector ran inside it, or a finalizer. That call hands
               out these records. */
            r = 0;
        }
        else {
            self->reading = 1;
            r = self->overwrite ? ring_read_backward(self, st, sink, max_records)
                                : ring_read_forward(self, st, sink, max_records);
            self->reading = 0;
        }
    }
    PERFSYS_END_CRITICAL();
    return r;
}

static PyObject *
ring_read(PyObject *op, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    Py_ssize_t max_records;
    PyObject *decoder;
    perfsys_state *st;
    if (ring_read_args(op, "read", args, nargs, kwnames, 0, &max_records, &decoder, &st) < 0) {
        return NULL;
    }
    PyObject *list = PyList_New(0);
    if (list == NULL) {
        return NULL;
    }
    ring_sink sink = {decoder, list, NULL};
    if (ring_drain((RingObject *)op, st, &sink, max_records) < 0) {
        Py_DECREF(list);
        return NULL;
    }
    return list;
}

PyDoc_STRVAR(ring_read_columns_doc,
"read_columns($self, /, max_records=-1, decoder)\n--\n\n"
"Take records out of the ring as read() does, the samples into columns: returns\n"
"a SampleColumns, with no Python object per sample.\n\n"
"Each SampleRecord field of a fixed size that the samples carry (misc,\n"
"identifier, ip, pid, tid, time, addr, id, stream_id, cpu, period, weight,\n"
"data_src, ...) is one memoryview (format 'Q', or 'i' for pid and tid, 'I' for\n"
"cpu, 'H' for misc); fields the samples do not carry are None; callchains are\n"
"callchain_offsets (samples + 1 u64) into one flat callchain array. The fields\n"
"that are not of a fixed size (read, raw, branch_stack, regs_user, regs_intr,\n"
"stack_user, aux, branch_counters) are checked and skipped: read() decodes them.\n"
"The other records (MMAP2, COMM, LOST, ...) are decoded by `decoder` into the\n"
"records list, in ring order. The decoder's events must lay samples out alike\n"
"(one sample_type and branch_sample_type); ValueError otherwise. max_records,\n"
"data_tail, lost-data accounting and errors are as in read().");

static PyObject *
ring_read_columns(PyObject *op, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    Py_ssize_t max_records;
    PyObject *decoder;
    perfsys_state *st;
    if (ring_read_args(op, "read_columns", args, nargs, kwnames, 1, &max_records, &decoder,
                       &st) < 0) {
        return NULL;
    }
    RingObject *self = (RingObject *)op;
    ring_sink sink = {decoder, NULL, NULL};
    PERFSYS_BEGIN_CRITICAL(op);
    sink.columns = decode_columns_new(decoder, self->spares);
    PERFSYS_END_CRITICAL();
    if (sink.columns == NULL) {
        return NULL;
    }
    if (ring_drain(self, st, &sink, max_records) < 0) {
        decode_columns_free(sink.columns);
        return NULL;
    }
    PyObject *keep[DECODE_COLUMN_SPARES] = {NULL};
    PyObject *r = decode_columns_finish(sink.columns, keep);
    PERFSYS_BEGIN_CRITICAL(op);
    for (int k = 0; k < DECODE_COLUMN_SPARES && self->base != NULL; k++) {
        if (self->spares[k] == NULL) {     /* another drain may have put one back */
            self->spares[k] = keep[k];
            keep[k] = NULL;
        }
    }
    PERFSYS_END_CRITICAL();
    for (int k = 0; k < DECODE_COLUMN_SPARES; k++) {
        Py_XDECREF(keep[k]);
    }
    return r;
}

PyDoc_STRVAR(ring_discard_doc,
"discard($self, /)\n--\n\n"
"Drop every unread record: data_tail := data_head (normal mode), or forget the\n"
"records written so far (overwrite mode). Returns the number of bytes dropped.");

static PyObject *
ring_discard(PyObject *op, PyObject *Py_UNUSED(ignored))
{
    RingObject *self = (RingObject *)op;
    PyObject *r = NULL;
    PERFSYS_BEGIN_CRITICAL(op);
    if (ring_check_open(self) == 0 && ring_check_not_reading(self, "discard()") == 0) {
        uint64_t head = ring_load_head(self);
        uint64_t dropped;
        if (self->overwrite) {
            dropped = self->ov_prev - head;
            self->ov_prev = head;
        }
        else {
            dropped = head - ring_load_tail(self);
            ring_store_tail(self, head);
        }
        r = PyLong_FromUnsignedLongLong(dropped);
    }
    PERFSYS_END_CRITICAL();
    return r;
}

static int64_t
monotonic_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* poll(2) of the ring's fd and of its wake-up eventfd until `deadline`
   (monotonic ns; -1: none), the timeout counted afresh on each try. */
typedef struct {
    struct pollfd pfd[2];
    int64_t deadline;
} ring_poll_args;

static long
ring_poll_call(void *ctx)
{
    ring_poll_args *a = ctx;
    int ms = -1;
    if (a->deadline >= 0) {
        int64_t left = a->deadline - monotonic_ns();
        if (left < 0) {
            left = 0;
        }
        int64_t lms = (left + 999999) / 1000000;
        ms = lms > INT32_MAX ? INT32_MAX : (int)lms;
    }
    a->pfd[0].revents = a->pfd[1].revents = 0;
    return poll(a->pfd, 2, ms);
}

PyDoc_STRVAR(ring_wait_doc,
"wait($self, /, timeout=None)\n--\n\n"
"Block until the kernel signals the ring (poll(2) on its fd for POLLIN) or\n"
"`timeout` seconds pass (None: no limit), with the GIL released.\n\n"
"Returns the poll revents mask: 0 on timeout, select.POLLIN when there is data,\n"
"select.POLLHUP when the event has hung up (every task it followed has exited;\n"
"drain what is left and stop waiting: later waits return at once). In normal\n"
"mode it returns POLLIN at once when unread records are already in the ring.\n"
"When poll is interrupted by a signal the handlers run (their exception\n"
"propagates) and the wait resumes with the time that remains.");

static PyObject *
ring_wait(PyObject *op, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    RingObject *self = (RingObject *)op;
    static const char *const names[] = {"timeout"};
    PyObject *timeout_obj;
    if (core_parse("wait", args, nargs, kwnames, names, 0, 1, &timeout_obj) < 0) {
        return NULL;
    }
    if (timeout_obj == NULL) {
        timeout_obj = Py_None;
    }
    int64_t deadline = -1;
    if (timeout_obj != Py_None) {
        double t = PyFloat_AsDouble(timeout_obj);
        if (t == -1.0 && PyErr_Occurred()) {
            return NULL;
        }
        if (!(t >= 0.0)) {
            PyErr_SetString(PyExc_ValueError, "timeout must be a non-negative number or None");
            return NULL;
        }
        if (t > 1e9) {
            t = 1e9;    /* about 31 years */
        }
        deadline = monotonic_ns() + (int64_t)(t * 1e9);
    }
    int fd = -1, wake = -1;
    int ready = 0;
    PERFSYS_BEGIN_CRITICAL(op);
    if (ring_check_open(self) == 0) {
        if (self->wake_fd < 0) {
            self->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
            if (self->wake_fd < 0) {
                perfsys_set_oserror(errno, "eventfd");
            }
        }
        if (self->wake_fd >= 0) {
            fd = self->fd;
            wake = self->wake_fd;
            ready = !self->overwrite && ring_load_head(self) != ring_load_tail(self);
            self->waiters++;
        }
    }
    PERFSYS_END_CRITICAL();
    if (fd < 0) {
        return NULL;
    }
    PyObject *result = ready ? PyLong_FromLong(POLLIN) : NULL;
    /* the ring's fd, and the eventfd close() writes to: a wait() never polls a
       number that close() gave back to the system */
    ring_poll_args a = {.pfd = {{.fd = fd, .events = POLLIN, .revents = 0},
                                {.fd = wake, .events = POLLIN, .revents = 0}},
                        .deadline = deadline};
    while (!ready) {
        int err, closed;
        long r = perfsys_retry_eintr(ring_poll_call, &a, 1, &err);
        if (r < 0 && err == 0) {
            break;      /* a signal handler raised */
        }
        PERFSYS_BEGIN_CRITICAL(op);
        closed = self->base == NULL;
        PERFSYS_END_CRITICAL();
        if (closed) {
            PyErr_SetString(PyExc_ValueError, "I/O operation on closed RingBuffer");
            break;
        }
        if (r < 0) {
            perfsys_set_oserror(err, "poll");
            break;
        }
        if (r == 0 && deadline >= 0 && monotonic_ns() < deadline) {
            continue;   /* the INT32_MAX ms clamp, or rounding */
        }
        result = PyLong_FromLong(a.pfd[0].revents);
        break;
    }
    PERFSYS_BEGIN_CRITICAL(op);
    if (--self->waiters == 0 && self->closed_fd >= 0) {
        close(self->closed_fd);
        close(self->wake_fd);
        self->closed_fd = self->wake_fd = -1;
    }
    PERFSYS_END_CRITICAL();
    return result;
}

PyDoc_STRVAR(ring_read_aux_doc,
"read_aux($self, /)\n--\n\n"
"Copy the AUX area's unread bytes, aux_tail up to aux_head, into a bytes object\n"
"(wrapping at its end) and move aux_tail past them (release ordering).");

static PyObject *
ring_read_aux(PyObject *op, PyObject *Py_UNUSED(ignored))
{
    RingObject *self = (RingObject *)op;
    PyObject *r = NULL;
    PERFSYS_BEGIN_CRITICAL(op);
    if (ring_check_open(self) < 0) {
        goto done;
    }
    if (self->aux_base == NULL) {
        PyErr_SetString(PyExc_ValueError, "this RingBuffer has no AUX area (aux_pages=0)");
        goto done;
    }
    uint64_t head = __atomic_load_n(ring_u64(self, PERFSYS_OFFSETOF(perf_event_mmap_page, aux_head)),
                                    __ATOMIC_ACQUIRE);
    uint64_t tail = __atomic_load_n(ring_u64(self, PERFSYS_OFFSETOF(perf_event_mmap_page, aux_tail)),
                                    __ATOMIC_RELAXED);
    uint64_t n = head - tail;
    uint64_t size = self->aux_map_size;
    if (n > size) {
        ring_set_corrupt(tail, head, "aux_head - aux_tail exceeds the AUX area:",
                         (unsigned long)n);
        goto done;
    }
    r = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)n);
    if (r == NULL) {
        goto done;
    }
    ring_copy_wrapped(self->aux_base, size, tail, (unsigned char *)PyBytes_AsString(r),
                      (size_t)n);
    __atomic_store_n(ring_u64(self, PERFSYS_OFFSETOF(perf_event_mmap_page, aux_tail)), head, __ATOMIC_RELEASE);
done:
    PERFSYS_END_CRITICAL();
    return r;
}

/* -- properties ----------------------------------------------------------- */

/* Read a u64 field of the header page (or of the object) under the lock. */
static PyObject *
ring_get_u64(RingObject *self, int which)
{
    PyObject *r = NULL;
    PERFSYS_BEGIN_CRITICAL((PyObject *)self);
    if (ring_check_open(self) == 0) {
        uint64_t v = 0;
        switch (which) {
        case 0: v = ring_load_head(self); break;
        case 1: v = ring_load_tail(self); break;
        case 2:
            v = __atomic_load_n(ring_u64(self, PERFSYS_OFFSETOF(perf_event_mmap_page, aux_head)), __ATOMIC_ACQUIRE);
            break;
        case 3:
            v = __atomic_load_n(ring_u64(self, PERFSYS_OFFSETOF(perf_event_mmap_page, aux_tail)), __ATOMIC_RELAXED);
            break;
        case 4:
            v = self->overwrite ? self->ov_prev - ring_load_head(self)
                                : ring_load_head(self) - ring_load_tail(self);
            if (v > self->data_size && self->overwrite) {
                v = self->data_size;
            }
            break;
        }
        r = PyLong_FromUnsignedLongLong(v);
    }
    PERFSYS_END_CRITICAL();
    return r;
}

static PyObject *
ring_get_data_head(PyObject *op, void *c) { (void)c; return ring_get_u64((RingObject *)op, 0); }
static PyObject *
ring_get_data_tail(PyObject *op, void *c) { (void)c; return ring_get_u64((RingObject *)op, 1); }
static PyObject *
ring_get_aux_head(PyObject *op, void *c) { (void)c; return ring_get_u64((RingObject *)op, 2); }
static PyObject *
ring_get_aux_tail(PyObject *op, void *c) { (void)c; return ring_get_u64((RingObject *)op, 3); }
static PyObject *
ring_get_available(PyObject *op, void *c) { (void)c; return ring_get_u64((RingObject *)op, 4); }

static int
ring_set_tail_common(PyObject *op, PyObject *value, int aux)
{
    RingObject *self = (RingObject *)op;
    if (value == NULL) {
        PyErr_SetString(PyExc_AttributeError, "cannot delete the tail");
        return -1;
    }
    uint64_t v;
    if (core_u64(value, aux ? "aux_tail" : "data_tail", &v) < 0) {
        return -1;
    }
    int r = -1;
    PERFSYS_BEGIN_CRITICAL(op);
    if (ring_check_open(self) < 0) {
        goto done;
    }
    if (self->overwrite) {
        PyErr_SetString(PyExc_ValueError,
                        "an overwrite-mode RingBuffer is mapped read-only: it has no tail to move");
        goto done;
    }
    if (!aux && ring_check_not_reading(self, "move data_tail") < 0) {
        goto done;
    }
    size_t off_head = aux ? PERFSYS_OFFSETOF(perf_event_mmap_page, aux_head) : PERFSYS_OFFSETOF(perf_event_mmap_page, data_head);
    size_t off_tail = aux ? PERFSYS_OFFSETOF(perf_event_mmap_page, aux_tail) : PERFSYS_OFFSETOF(perf_event_mmap_page, data_tail);
    uint64_t size = aux ? (uint64_t)self->aux_map_size : self->data_size;
    if (aux && self->aux_base == NULL) {
        PyErr_SetString(PyExc_ValueError, "this RingBuffer has no AUX area (aux_pages=0)");
        goto done;
    }
    uint64_t head = __atomic_load_n(ring_u64(self, off_head), __ATOMIC_ACQUIRE);
    if (head - (uint64_t)v > size) {
        PyErr_Format(PyExc_ValueError,
                     "%s %llu is outside [head - %llu, head] (head %llu)",
                     aux ? "aux_tail" : "data_tail", (unsigned long long)v, (unsigned long long)size,
                     (unsigned long long)head);
        goto done;
    }
    __atomic_store_n(ring_u64(self, off_tail), (uint64_t)v, __ATOMIC_RELEASE);
    r = 0;
done:
    PERFSYS_END_CRITICAL();
    return r;
}

static int
ring_set_data_tail(PyObject *op, PyObject *value, void *c) { (void)c; return ring_set_tail_common(op, value, 0); }
static int
ring_set_aux_tail(PyObject *op, PyObject *value, void *c) { (void)c; return ring_set_tail_common(op, value, 1); }

/* Fixed facts and counters: readable after close too. */
static PyObject *
ring_get_counter(PyObject *op, void *c)
{
    RingObject *self = (RingObject *)op;
    uint64_t v = 0;
    PERFSYS_BEGIN_CRITICAL(op);
    switch ((int)(intptr_t)c) {
    case 0: v = self->lost; break;
    case 1: v = self->lost_records; break;
    case 2: v = self->lost_samples; break;
    case 3: v = self->records; break;
    case 4: v = self->data_size; break;
    case 5: v = self->page_size; break;
    case 6: v = self->aux_map_size; break;
    case 7: v = self->aux_offset; break;
    case 8: v = self->map_size; break;
    }
    PERFSYS_END_CRITICAL();
    return PyLong_FromUnsignedLongLong(v);
}

static PyObject *
ring_get_closed(PyObject *op, void *c)
{
    (void)c;
    RingObject *self = (RingObject *)op;
    int closed;
    PERFSYS_BEGIN_CRITICAL(op);
    closed = self->base == NULL;
    PERFSYS_END_CRITICAL();
    return PyBool_FromLong(closed);
}

static PyObject *
ring_get_overwrite(PyObject *op, void *c)
{
    (void)c;
    return PyBool_FromLong(((RingObject *)op)->overwrite);
}

#define RING_COUNTER(name, idx, doc) \
    {name, ring_get_counter, NULL, PyDoc_STR(doc), (void *)(intptr_t)(idx)}

static PyGetSetDef ring_getset[] = {
    {"data_head", ring_get_data_head, NULL,
     PyDoc_STR("The kernel's write position (free-running byte count), loaded with acquire "
               "ordering."), NULL},
    {"data_tail", ring_get_data_tail, ring_set_data_tail,
     PyDoc_STR("The reader's position; assigning stores it with release ordering and frees "
               "the space before it for the kernel. Must lie in [data_head - data_size, "
               "data_head]."), NULL},
    {"aux_head", ring_get_aux_head, NULL,
     PyDoc_STR("The AUX area's write position, loaded with acquire ordering."), NULL},
    {"aux_tail", ring_get_aux_tail, ring_set_aux_tail,
     PyDoc_STR("The AUX area's read position; assigning stores it with release ordering."),
     NULL},
    {"available", ring_get_available, NULL,
     PyDoc_STR("Bytes of records written and not yet read."), NULL},
    {"closed", ring_get_closed, NULL, PyDoc_STR("True once close() has run."), NULL},
    {"overwrite", ring_get_overwrite, NULL,
     PyDoc_STR("True when mapped read-only, letting the kernel overwrite old records."), NULL},
    RING_COUNTER("lost", 0, "Sum of the `lost` fields of the PERF_RECORD_LOST records read."),
    RING_COUNTER("lost_records", 1, "Number of PERF_RECORD_LOST records read."),
    RING_COUNTER("lost_samples", 2,
                 "Sum of the `lost` fields of the PERF_RECORD_LOST_SAMPLES records read."),
    RING_COUNTER("records_read", 3, "Number of records read() has returned."),
    RING_COUNTER("data_size", 4, "Size of the data area in bytes (data_pages * page_size)."),
    RING_COUNTER("page_size", 5, "The system page size."),
    RING_COUNTER("aux_size", 6, "Size of the AUX area in bytes (0 without one)."),
    RING_COUNTER("aux_offset", 7, "File offset of the AUX area (0 without one)."),
    RING_COUNTER("size", 8, "Size of the main mapping: (1 + data_pages) * page_size."),
    {NULL, NULL, NULL, NULL, NULL},
};

static PyMethodDef ring_methods[] = {
    {"close", ring_close, METH_NOARGS, ring_close_doc},
    {"fileno", ring_fileno, METH_NOARGS, ring_fileno_doc},
    {"read", (PyCFunction)(void (*)(void))ring_read, METH_FASTCALL | METH_KEYWORDS,
     ring_read_doc},
    {"read_columns", (PyCFunction)(void (*)(void))ring_read_columns,
     METH_FASTCALL | METH_KEYWORDS, ring_read_columns_doc},
    {"discard", ring_discard, METH_NOARGS, ring_discard_doc},
    {"wait", (PyCFunction)(void (*)(void))ring_wait, METH_FASTCALL | METH_KEYWORDS,
     ring_wait_doc},
    {"read_aux", ring_read_aux, METH_NOARGS, ring_read_aux_doc},
    {"_testing", (PyCFunction)(void (*)(void))ring_testing,
     METH_VARARGS | METH_KEYWORDS | METH_CLASS, ring_testing_doc},
    {"__enter__", ring_enter, METH_NOARGS, NULL},
    {"__exit__", (PyCFunction)(void (*)(void))ring_exit, METH_FASTCALL, NULL},
    {NULL, NULL, 0, NULL},
};

PyDoc_STRVAR(ring_doc,
"RingBuffer(fd, data_pages, *, aux_pages=0, overwrite=False)\n--\n\n"
"The mmap'ed ring buffer of a perf event: 1 + data_pages pages (data_pages a\n"
"power of two) of the event file descriptor `fd` (an int or an object with\n"
"fileno()), plus an AUX area of aux_pages pages when aux_pages is not 0.\n\n"
"The RingBuffer works on its own duplicate of fd (see fileno()); the caller\n"
"keeps and closes the original. The header page is exported through the buffer\n"
"protocol, so perf_event_mmap_page.from_buffer(ring) is a live view of it\n"
"(read-only in overwrite mode: use from_buffer_copy there); the data pages are\n"
"reached through read(), since the kernel makes stores into them fatal.\n"
"overwrite=True maps the pages read-only, which lets the kernel overwrite old\n"
"records: use it with write_backward events and pause output before read().");

static PyType_Slot ring_slots[] = {
    {Py_tp_doc, (void *)ring_doc},
    {Py_tp_new, ring_new},
    {Py_tp_dealloc, ring_dealloc},
    {Py_tp_repr, ring_repr},
    {Py_tp_methods, ring_methods},
    {Py_tp_getset, ring_getset},
    {Py_bf_getbuffer, ring_getbuffer},
    {Py_bf_releasebuffer, ring_releasebuffer},
    {0, NULL},
};

static PyType_Spec ring_spec = {
    .name = "perfsys.RingBuffer",
    .basicsize = sizeof(RingObject),
    .itemsize = 0,
    .flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_IMMUTABLETYPE,
    .slots = ring_slots,
};

static int
ring_exec(PyObject *m, perfsys_state *st)
{
    st->ring.ring_type = (PyTypeObject *)PyType_FromModuleAndSpec(m, &ring_spec, NULL);
    if (st->ring.ring_type == NULL) {
        return -1;
    }
    if (PyModule_AddObjectRef(m, "RingBuffer", (PyObject *)st->ring.ring_type) < 0) {
        return -1;
    }
    return 0;
}

static int
ring_traverse(ring_state *s, visitproc visit, void *arg)
{
    Py_VISIT(s->ring_type);
    return 0;
}

static void
ring_clear(ring_state *s)
{
    Py_CLEAR(s->ring_type);
}

/* ------------------------------------------------------------------------- */
/* 7. module definition                                                       */
/* ------------------------------------------------------------------------- */

/* Every number of _perfsys_abi.h by its kernel name, as `_abi` ("PERF_X",
   "sizeof(s)", "offsetof(s, m)"), and where each bitfield's lowest bit lies in
   its storage unit read as a native integer, as `_abi_bits` ("s.m"), for
   tests/test_abi.py. */
static int
add_abi_dict(PyObject *m, const char *attr, const char *const *names,
             const unsigned long long *values, size_t n)
{
    PyObject *d = PyDict_New();
    if (d == NULL) {
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        PyObject *v = PyLong_FromUnsignedLongLong(values[i]);
        if (v == NULL || PyDict_SetItemString(d, names[i], v) < 0) {
            Py_XDECREF(v);
            Py_DECREF(d);
            return -1;
        }
        Py_DECREF(v);
    }
    int r = PyModule_AddObjectRef(m, attr, d);
    Py_DECREF(d);
    return r;
}

static int
add_abi_tables(PyObject *m)
{
#define ABI_NAME(name, value) name,
#define ABI_VALUE(name, value) (unsigned long long)(value),
#define ABI_BIT_NAME(s, m) #s "." #m,
#define ABI_BIT_VALUE(s, m) (unsigned long long)PERFSYS_BITSHIFT(s, m),
    static const char *const names[] = {PERFSYS_ABI_NUMBERS(ABI_NAME)};
    static const unsigned long long values[] = {PERFSYS_ABI_NUMBERS(ABI_VALUE)};
    static const char *const bit_names[] = {PERFSYS_ABI_BITFIELDS(ABI_BIT_NAME)};
    static const unsigned long long bit_values[] = {PERFSYS_ABI_BITFIELDS(ABI_BIT_VALUE)};
#undef ABI_NAME
#undef ABI_VALUE
#undef ABI_BIT_NAME
#undef ABI_BIT_VALUE
    if (add_abi_dict(m, "_abi", names, values, sizeof(values) / sizeof(values[0])) < 0) {
        return -1;
    }
    return add_abi_dict(m, "_abi_bits", bit_names, bit_values,
                        sizeof(bit_values) / sizeof(bit_values[0]));
}

static int
perfsys_exec(PyObject *m)
{
    perfsys_state *st = get_state(m);
    (void)pthread_once(&perfsys_atfork_once, perfsys_atfork_register);
    if (core_exec(m, st) < 0 || decode_exec(m, st) < 0 || ring_exec(m, st) < 0) {
        return -1;
    }
    if (add_abi_tables(m) < 0) {
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

/* Module slots. Py_mod_multiple_interpreters (3.12) and Py_mod_gil (3.13) are
   newer than the 3.11 limited API an abi3 build compiles against, and a 3.11
   interpreter rejects slot ids it does not know. Their numbers are part of the
   stable ABI, so an abi3 build names them itself and chooses at import, by the
   running interpreter's Py_Version, the table that interpreter understands.
   Everything the module keeps is in module state or in constant tables, so it
   supports a GIL per interpreter, and it never relies on the GIL. */
#ifdef Py_mod_multiple_interpreters
#  define PERFSYS_SLOT_MULTIPLE_INTERPRETERS Py_mod_multiple_interpreters
#  define PERFSYS_PER_INTERPRETER_GIL_SUPPORTED Py_MOD_PER_INTERPRETER_GIL_SUPPORTED
#else
#  define PERFSYS_SLOT_MULTIPLE_INTERPRETERS 3
#  define PERFSYS_PER_INTERPRETER_GIL_SUPPORTED ((void *)2)
#endif
#ifdef Py_mod_gil
#  define PERFSYS_SLOT_GIL Py_mod_gil
#  define PERFSYS_GIL_NOT_USED Py_MOD_GIL_NOT_USED
#else
#  define PERFSYS_SLOT_GIL 4
#  define PERFSYS_GIL_NOT_USED ((void *)1)
#endif

/* An abi3 build uses this table on 3.13 and newer; a full-API build, made for one
   interpreter version, names what that version's headers define. */
static PyModuleDef_Slot perfsys_slots[] = {
    {Py_mod_exec, perfsys_exec},
#if defined(Py_LIMITED_API) || defined(Py_mod_multiple_interpreters)
    {PERFSYS_SLOT_MULTIPLE_INTERPRETERS, PERFSYS_PER_INTERPRETER_GIL_SUPPORTED},
#endif
#if defined(Py_LIMITED_API) || defined(Py_mod_gil)
    {PERFSYS_SLOT_GIL, PERFSYS_GIL_NOT_USED},
#endif
    {0, NULL},
};

#define PERFSYS_MODULE_DEF(slots)                                                   \
    {                                                                               \
        PyModuleDef_HEAD_INIT,                                                      \
        .m_name = "perfsys._perfsys",                                               \
        .m_doc = "Direct, unsafe bindings to Linux's perf_event_open(2): the system " \
                 "call, its ioctls, counter reads, the mmap'ed ring buffer and "     \
                 "record decoding.",                                                \
        .m_size = sizeof(perfsys_state),                                            \
        .m_methods = NULL,                                                          \
        .m_slots = (slots),                                                         \
        .m_traverse = perfsys_traverse,                                             \
        .m_clear = perfsys_clear,                                                   \
        .m_free = perfsys_free,                                                     \
    }

static struct PyModuleDef perfsys_module = PERFSYS_MODULE_DEF(perfsys_slots);

#ifdef Py_LIMITED_API
/* For 3.12: without Py_mod_gil. */
static PyModuleDef_Slot perfsys_slots_312[] = {
    {Py_mod_exec, perfsys_exec},
    {PERFSYS_SLOT_MULTIPLE_INTERPRETERS, PERFSYS_PER_INTERPRETER_GIL_SUPPORTED},
    {0, NULL},
};
static struct PyModuleDef perfsys_module_312 = PERFSYS_MODULE_DEF(perfsys_slots_312);

/* For 3.11: Py_mod_exec alone. */
static PyModuleDef_Slot perfsys_slots_311[] = {
    {Py_mod_exec, perfsys_exec},
    {0, NULL},
};
static struct PyModuleDef perfsys_module_311 = PERFSYS_MODULE_DEF(perfsys_slots_311);
#endif

PyMODINIT_FUNC
PyInit__perfsys(void)
{
#ifdef Py_LIMITED_API
    if (Py_Version < 0x030C0000) {
        return PyModuleDef_Init(&perfsys_module_311);
    }
    if (Py_Version < 0x030D0000) {
        return PyModuleDef_Init(&perfsys_module_312);
    }
#endif
    return PyModuleDef_Init(&perfsys_module);
}
