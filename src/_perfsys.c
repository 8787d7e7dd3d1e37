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

/* ------------------------------------------------------------------------- */
/* 3. section state, module state, interfaces between sections                */
/* ------------------------------------------------------------------------- */

/* section "core" */
typedef struct {
    int unused_;
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

static PyObject *
perfsys_set_oserror(int err, const char *call)
{
    errno = err;
    PyErr_SetFromErrnoWithFilename(PyExc_OSError, call);
    return NULL;
}

static PyObject *
core_decode_read_format(perfsys_state *st, uint64_t read_format,
                        const unsigned char *buf, size_t len, size_t *used)
{
    (void)st;
    (void)read_format;
    (void)buf;
    (void)len;
    (void)used;
    PyErr_SetString(PyExc_NotImplementedError, "read_format decoding");
    return NULL;
}

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

static int
core_exec(PyObject *m, perfsys_state *st)
{
    (void)st;
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
    return 0;
}

static int
core_traverse(core_state *s, visitproc visit, void *arg)
{
    (void)s;
    (void)visit;
    (void)arg;
    return 0;
}

static void
core_clear(core_state *s)
{
    (void)s;
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
