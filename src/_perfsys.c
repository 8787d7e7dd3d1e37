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

/* section "ring": the header page (struct perf_event_mmap_page) and the two
   record types whose bodies the drain loop reads for lost-data accounting. */
#define PERF_MMAP_PAGE_OFFSET_DATA_HEAD 1024u   /* offsetof(perf_event_mmap_page, data_head) */
#define PERF_MMAP_PAGE_OFFSET_DATA_TAIL 1032u   /* offsetof(perf_event_mmap_page, data_tail) */
#define PERF_MMAP_PAGE_OFFSET_DATA_OFFSET 1040u /* offsetof(perf_event_mmap_page, data_offset) */
#define PERF_MMAP_PAGE_OFFSET_DATA_SIZE 1048u   /* offsetof(perf_event_mmap_page, data_size) */
#define PERF_MMAP_PAGE_OFFSET_AUX_HEAD 1056u    /* offsetof(perf_event_mmap_page, aux_head) */
#define PERF_MMAP_PAGE_OFFSET_AUX_TAIL 1064u    /* offsetof(perf_event_mmap_page, aux_tail) */
#define PERF_MMAP_PAGE_OFFSET_AUX_OFFSET 1072u  /* offsetof(perf_event_mmap_page, aux_offset) */
#define PERF_MMAP_PAGE_OFFSET_AUX_SIZE 1080u    /* offsetof(perf_event_mmap_page, aux_size) */
#define PERF_EVENT_HEADER_SIZE 8u               /* sizeof(perf_event_header) */
#define PERF_EVENT_HEADER_OFFSET_SIZE 6u        /* offsetof(perf_event_header, size) */
#define PERF_RECORD_LOST 2u
#define PERF_RECORD_LOST_SAMPLES 13u

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

static int
core_exec(PyObject *m, perfsys_state *st)
{
    (void)m;
    (void)st;
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

   Every record is copied out of the mapping into a private buffer before it is
   decoded, so a record that wraps past the end of the data area (its 8-byte
   header included) comes out whole, and nothing the kernel writes meanwhile can
   change a length after it was checked. */

#include <fcntl.h>
#include <stdio.h>
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
    uint64_t aux_offset;
    int overwrite;
    int testing;                   /* a memfd laid out like a ring (RingBuffer._testing) */
    Py_ssize_t exports;            /* live buffer views */
    unsigned char *scratch;        /* RING_SCRATCH_SIZE bytes */
    uint64_t ov_prev;              /* overwrite mode: data_head at the previous read */
    uint64_t lost;                 /* sum of PERF_RECORD_LOST.lost */
    uint64_t lost_records;         /* number of PERF_RECORD_LOST records */
    uint64_t lost_samples;         /* sum of PERF_RECORD_LOST_SAMPLES.lost */
    uint64_t records;              /* records handed out */
} RingObject;

static inline uint64_t *
ring_u64(const RingObject *self, size_t offset)
{
    return (uint64_t *)(void *)(self->base + offset);
}

static inline uint64_t
ring_load_head(const RingObject *self)
{
    return __atomic_load_n(ring_u64(self, PERF_MMAP_PAGE_OFFSET_DATA_HEAD), __ATOMIC_ACQUIRE);
}

static inline uint64_t
ring_load_tail(const RingObject *self)
{
    return __atomic_load_n(ring_u64(self, PERF_MMAP_PAGE_OFFSET_DATA_TAIL), __ATOMIC_RELAXED);
}

static inline void
ring_store_tail(RingObject *self, uint64_t tail)
{
    __atomic_store_n(ring_u64(self, PERF_MMAP_PAGE_OFFSET_DATA_TAIL), tail, __ATOMIC_RELEASE);
}

static int
ring_check_open(RingObject *self)
{
    if (self->base == NULL) {
        PyErr_SetString(PyExc_ValueError, "I/O operation on closed RingBuffer");
        return -1;
    }
    return 0;
}

/* Copy `len` bytes at ring position `pos` (a free-running byte counter, as
   data_head and data_tail are) into dst, wrapping at the end of the data area.
   len <= data_size. */
static void
ring_copy_out(const RingObject *self, uint64_t pos, unsigned char *dst, size_t len)
{
    size_t off = (size_t)(pos & (self->data_size - 1));
    size_t first = (size_t)self->data_size - off;
    if (first >= len) {
        memcpy(dst, self->data + off, len);
    }
    else {
        memcpy(dst, self->data + off, first);
        memcpy(dst + first, self->data, len - first);
    }
}

static int
is_power_of_two(Py_ssize_t n)
{
    return n > 0 && (n & (n - 1)) == 0;
}

/* Is `fd` a perf event? /proc/self/fd tells; where /proc is not mounted the
   check is skipped and the kernel's mmap decides. Returns 0 if it is or cannot
   be told, -1 with ValueError set if it is some other kind of file. */
static int
ring_check_perf_fd(int fd)
{
    char path[64];
    char target[256];
    static const char want[] = "anon_inode:[perf_event]";
    snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
    ssize_t n = readlink(path, target, sizeof(target) - 1);
    if (n < 0) {
        return 0;
    }
    target[n] = '\0';
    if (strcmp(target, want) != 0) {
        PyErr_Format(PyExc_ValueError,
                     "fd %d is not a perf event file descriptor (it is %s)", fd, target);
        return -1;
    }
    return 0;
}

static void
ring_release_resources(RingObject *self)
{
    if (self->aux_base != NULL) {
        munmap(self->aux_base, self->aux_map_size);
        self->aux_base = NULL;
    }
    if (self->base != NULL) {
        munmap(self->base, self->map_size);
        self->base = NULL;
        self->data = NULL;
    }
    if (self->fd >= 0) {
        int fd = self->fd;
        self->fd = -1;
        close(fd);
    }
    if (self->scratch != NULL) {
        PyMem_Free(self->scratch);
        self->scratch = NULL;
    }
}

/* The audit event "perfsys.RingBuffer" with (fd, data_pages, aux_pages,
   overwrite). PySys_Audit joined the limited API after 3.11: there, call
   sys.audit. */
static int
ring_audit(int fd, Py_ssize_t data_pages, Py_ssize_t aux_pages, int overwrite)
{
#if !defined(Py_LIMITED_API) || Py_LIMITED_API + 0 >= 0x030D0000
    return PySys_Audit("perfsys.RingBuffer", "innO", fd, data_pages, aux_pages,
                       overwrite ? Py_True : Py_False);
#else
    PyObject *audit = PySys_GetObject("audit");   /* borrowed */
    if (audit == NULL) {
        return 0;
    }
    PyObject *r = PyObject_CallFunction(audit, "sinnO", "perfsys.RingBuffer", fd, data_pages,
                                        aux_pages, overwrite ? Py_True : Py_False);
    if (r == NULL) {
        return -1;
    }
    Py_DECREF(r);
    return 0;
#endif
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
        if (ring_audit(fd, data_pages, aux_pages, overwrite) < 0) {
            return NULL;
        }
        if (ring_check_perf_fd(fd) < 0) {
            return NULL;
        }
    }

    allocfunc alloc = (allocfunc)PyType_GetSlot(type, Py_tp_alloc);
    self = (RingObject *)alloc(type, 0);
    if (self == NULL) {
        return NULL;
    }
    self->fd = -1;
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
        perfsys_set_oserror(err, "mmap");
        goto error;
    }
    self->base = p;
    self->data = self->base + page_size;
    if (testing) {
        *ring_u64(self, PERF_MMAP_PAGE_OFFSET_DATA_OFFSET) = page_size;
        *ring_u64(self, PERF_MMAP_PAGE_OFFSET_DATA_SIZE) = self->data_size;
    }

    if (aux_pages != 0) {
        size_t aux_size = (size_t)aux_pages * page_size;
        self->aux_offset = (uint64_t)self->map_size;
        self->aux_map_size = aux_size;
        *ring_u64(self, PERF_MMAP_PAGE_OFFSET_AUX_OFFSET) = self->aux_offset;
        *ring_u64(self, PERF_MMAP_PAGE_OFFSET_AUX_SIZE) = (uint64_t)aux_size;
        void *a = mmap(NULL, aux_size, PROT_READ | PROT_WRITE, MAP_SHARED, self->fd,
                       (off_t)self->aux_offset);
        if (a == MAP_FAILED) {
            err = errno;
            perfsys_set_oserror(err, "mmap(AUX area)");
            goto error;
        }
        self->aux_base = a;
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
    PyObject *fdobj;
    Py_ssize_t data_pages;
    Py_ssize_t aux_pages = 0;
    int overwrite = 0;

    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "On|$np:RingBuffer", kwlist,
                                     &fdobj, &data_pages, &aux_pages, &overwrite)) {
        return NULL;
    }
    int fd = PyObject_AsFileDescriptor(fdobj);
    if (fd < 0) {
        return NULL;
    }
    return ring_create(type, fd, data_pages, aux_pages, overwrite, 0);
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
    Py_ssize_t data_pages;
    int overwrite = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "n|p:_testing", kwlist,
                                     &data_pages, &overwrite)) {
        return NULL;
    }
    return ring_create((PyTypeObject *)cls, -1, data_pages, 0, overwrite, 1);
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

/* Turn the record in self->scratch into a Python object and append it. */
static int
ring_emit(RingObject *self, perfsys_state *st, PyObject *decoder, PyObject *list, size_t size)
{
    PyObject *obj = decoder == Py_None ? decode_raw_record(st, self->scratch, size)
                                       : decode_record(decoder, self->scratch, size);
    if (obj == NULL) {
        return -1;
    }
    int r = PyList_Append(list, obj);
    Py_DECREF(obj);
    if (r < 0) {
        return -1;
    }
    ring_account(self, self->scratch, size);
    return 0;
}

/* Normal mode: records from data_tail up to data_head, oldest first. */
static int
ring_read_forward(RingObject *self, perfsys_state *st, PyObject *decoder, PyObject *list,
                  Py_ssize_t max_records)
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
    while (pos != head && (max_records < 0 || n < max_records)) {
        uint64_t left = head - pos;
        uint16_t size16;
        if (left < PERF_EVENT_HEADER_SIZE) {
            ring_set_corrupt(pos, head, "partial record header, bytes left", (unsigned long)left);
            failed = 1;
            break;
        }
        ring_copy_out(self, pos, self->scratch, PERF_EVENT_HEADER_SIZE);
        memcpy(&size16, self->scratch + PERF_EVENT_HEADER_OFFSET_SIZE, 2);
        size_t size = size16;
        if (size < PERF_EVENT_HEADER_SIZE || size % 8 != 0) {
            ring_set_corrupt(pos, head, "record size", (unsigned long)size);
            failed = 1;
            break;
        }
        if (size > self->data_size || size > left) {
            ring_set_corrupt(pos, head, "record runs past data_head: size", (unsigned long)size);
            failed = 1;
            break;
        }
        ring_copy_out(self, pos, self->scratch, size);
        if (ring_emit(self, st, decoder, list, size) < 0) {
            failed = 1;
            break;
        }
        pos += size;
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
ring_read_backward(RingObject *self, perfsys_state *st, PyObject *decoder, PyObject *list,
                   Py_ssize_t max_records)
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
    while (done < span && (max_records < 0 || n < max_records)) {
        uint64_t left = span - done;
        uint64_t pos = head + done;
        uint16_t size16;
        if (left < PERF_EVENT_HEADER_SIZE) {
            break;      /* the oldest record was overwritten */
        }
        ring_copy_out(self, pos, self->scratch, PERF_EVENT_HEADER_SIZE);
        memcpy(&size16, self->scratch + PERF_EVENT_HEADER_OFFSET_SIZE, 2);
        size_t size = size16;
        if (size == 0) {
            break;      /* never written */
        }
        if (size < PERF_EVENT_HEADER_SIZE || size % 8 != 0 || size > self->data_size) {
            ring_set_corrupt(pos, head, "record size", (unsigned long)size);
            failed = 1;
            break;
        }
        if (size > left) {
            break;      /* its end was overwritten by newer records */
        }
        ring_copy_out(self, pos, self->scratch, size);
        if (ring_emit(self, st, decoder, list, size) < 0) {
            failed = 1;
            break;
        }
        done += size;
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
"drops the unread data. Errors from the decoder are reported the same way.");

static PyObject *
ring_read(PyObject *op, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    RingObject *self = (RingObject *)op;
    static const char *const names[] = {"max_records", "decoder"};
    PyObject *vals[2] = {NULL, NULL};
    Py_ssize_t nkw = kwnames == NULL ? 0 : PyTuple_Size(kwnames);

    if (nargs > 2) {
        PyErr_Format(PyExc_TypeError, "read() takes at most 2 arguments (%zd given)", nargs);
        return NULL;
    }
    for (Py_ssize_t i = 0; i < nargs; i++) {
        vals[i] = args[i];
    }
    for (Py_ssize_t i = 0; i < nkw; i++) {
        PyObject *key = PyTuple_GetItem(kwnames, i);
        int found = 0;
        for (int j = 0; j < 2; j++) {
            if (PyUnicode_CompareWithASCIIString(key, names[j]) == 0) {
                if (vals[j] != NULL) {
                    PyErr_Format(PyExc_TypeError, "read() got multiple values for '%s'",
                                 names[j]);
                    return NULL;
                }
                vals[j] = args[nargs + i];
                found = 1;
            }
        }
        if (!found) {
            PyErr_Format(PyExc_TypeError, "read() got an unexpected keyword argument '%U'",
                         key);
            return NULL;
        }
    }
    Py_ssize_t max_records = -1;
    if (vals[0] != NULL && vals[0] != Py_None) {
        max_records = PyLong_AsSsize_t(vals[0]);
        if (max_records == -1 && PyErr_Occurred()) {
            return NULL;
        }
        if (max_records < -1) {
            PyErr_SetString(PyExc_ValueError, "max_records must be >= 0, or -1 for no limit");
            return NULL;
        }
    }
    PyObject *decoder = vals[1] == NULL ? Py_None : vals[1];
    PyObject *module = PyType_GetModule(Py_TYPE(op));
    if (module == NULL) {
        return NULL;
    }
    perfsys_state *st = get_state(module);
    if (decoder != Py_None && !decode_is_decoder(st, decoder)) {
        PyErr_Format(PyExc_TypeError, "decoder must be a perfsys.Decoder or None, not %R",
                     (PyObject *)Py_TYPE(decoder));
        return NULL;
    }
    PyObject *list = PyList_New(0);
    if (list == NULL) {
        return NULL;
    }
    int r = -1;
    PERFSYS_BEGIN_CRITICAL(op);
    if (ring_check_open(self) == 0) {
        r = self->overwrite ? ring_read_backward(self, st, decoder, list, max_records)
                            : ring_read_forward(self, st, decoder, list, max_records);
    }
    PERFSYS_END_CRITICAL();
    if (r < 0) {
        Py_DECREF(list);
        return NULL;
    }
    return list;
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
    if (ring_check_open(self) == 0) {
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
    PyObject *timeout_obj = Py_None;
    Py_ssize_t nkw = kwnames == NULL ? 0 : PyTuple_Size(kwnames);
    if (nargs + nkw > 1) {
        PyErr_SetString(PyExc_TypeError, "wait() takes at most 1 argument");
        return NULL;
    }
    if (nargs == 1) {
        timeout_obj = args[0];
    }
    else if (nkw == 1) {
        if (PyUnicode_CompareWithASCIIString(PyTuple_GetItem(kwnames, 0), "timeout") != 0) {
            PyErr_SetString(PyExc_TypeError, "wait() got an unexpected keyword argument");
            return NULL;
        }
        timeout_obj = args[0];
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
    int fd = -1;
    int ready = 0;
    PERFSYS_BEGIN_CRITICAL(op);
    if (ring_check_open(self) == 0) {
        fd = self->fd;
        ready = !self->overwrite && ring_load_head(self) != ring_load_tail(self);
    }
    PERFSYS_END_CRITICAL();
    if (fd < 0) {
        return NULL;
    }
    if (ready) {
        return PyLong_FromLong(POLLIN);
    }
    for (;;) {
        int ms = -1;
        if (deadline >= 0) {
            int64_t left = deadline - monotonic_ns();
            if (left < 0) {
                left = 0;
            }
            int64_t lms = (left + 999999) / 1000000;
            ms = lms > INT32_MAX ? INT32_MAX : (int)lms;
        }
        struct pollfd pfd = {.fd = fd, .events = POLLIN, .revents = 0};
        int r, err = 0;
        Py_BEGIN_ALLOW_THREADS
        r = poll(&pfd, 1, ms);
        if (r < 0) {
            err = errno;
        }
        Py_END_ALLOW_THREADS
        if (r < 0) {
            if (err != EINTR) {
                return perfsys_set_oserror(err, "poll");
            }
            if (PyErr_CheckSignals() < 0) {
                return NULL;
            }
            continue;
        }
        if (r == 0 && deadline >= 0 && monotonic_ns() < deadline) {
            continue;   /* the INT32_MAX ms clamp, or rounding */
        }
        return PyLong_FromLong(pfd.revents);
    }
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
    uint64_t head = __atomic_load_n(ring_u64(self, PERF_MMAP_PAGE_OFFSET_AUX_HEAD),
                                    __ATOMIC_ACQUIRE);
    uint64_t tail = __atomic_load_n(ring_u64(self, PERF_MMAP_PAGE_OFFSET_AUX_TAIL),
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
    char *dst = PyBytes_AsString(r);
    size_t off = (size_t)(tail & (size - 1));
    size_t first = (size_t)size - off;
    if (first >= n) {
        memcpy(dst, self->aux_base + off, (size_t)n);
    }
    else {
        memcpy(dst, self->aux_base + off, first);
        memcpy(dst + first, self->aux_base, (size_t)n - first);
    }
    __atomic_store_n(ring_u64(self, PERF_MMAP_PAGE_OFFSET_AUX_TAIL), head, __ATOMIC_RELEASE);
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
            v = __atomic_load_n(ring_u64(self, PERF_MMAP_PAGE_OFFSET_AUX_HEAD), __ATOMIC_ACQUIRE);
            break;
        case 3:
            v = __atomic_load_n(ring_u64(self, PERF_MMAP_PAGE_OFFSET_AUX_TAIL), __ATOMIC_RELAXED);
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
    unsigned long long v = PyLong_AsUnsignedLongLong(value);
    if (v == (unsigned long long)-1 && PyErr_Occurred()) {
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
    size_t off_head = aux ? PERF_MMAP_PAGE_OFFSET_AUX_HEAD : PERF_MMAP_PAGE_OFFSET_DATA_HEAD;
    size_t off_tail = aux ? PERF_MMAP_PAGE_OFFSET_AUX_TAIL : PERF_MMAP_PAGE_OFFSET_DATA_TAIL;
    uint64_t size = aux ? (uint64_t)self->aux_map_size : self->data_size;
    if (aux && self->aux_base == NULL) {
        PyErr_SetString(PyExc_ValueError, "this RingBuffer has no AUX area (aux_pages=0)");
        goto done;
    }
    uint64_t head = __atomic_load_n(ring_u64(self, off_head), __ATOMIC_ACQUIRE);
    if (head - (uint64_t)v > size) {
        PyErr_Format(PyExc_ValueError,
                     "%s %llu is outside [head - %llu, head] (head %llu)",
                     aux ? "aux_tail" : "data_tail", v, (unsigned long long)size,
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
"keeps and closes the original. The whole mapping is exported through the\n"
"buffer protocol, so perf_event_mmap_page.from_buffer(ring) is a live view of the\n"
"header page (read-only in overwrite mode: use from_buffer_copy there).\n"
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
        /* section "ring" */
        {"offsetof(perf_event_mmap_page, data_head)", PERF_MMAP_PAGE_OFFSET_DATA_HEAD},
        {"offsetof(perf_event_mmap_page, data_tail)", PERF_MMAP_PAGE_OFFSET_DATA_TAIL},
        {"offsetof(perf_event_mmap_page, data_offset)", PERF_MMAP_PAGE_OFFSET_DATA_OFFSET},
        {"offsetof(perf_event_mmap_page, data_size)", PERF_MMAP_PAGE_OFFSET_DATA_SIZE},
        {"offsetof(perf_event_mmap_page, aux_head)", PERF_MMAP_PAGE_OFFSET_AUX_HEAD},
        {"offsetof(perf_event_mmap_page, aux_tail)", PERF_MMAP_PAGE_OFFSET_AUX_TAIL},
        {"offsetof(perf_event_mmap_page, aux_offset)", PERF_MMAP_PAGE_OFFSET_AUX_OFFSET},
        {"offsetof(perf_event_mmap_page, aux_size)", PERF_MMAP_PAGE_OFFSET_AUX_SIZE},
        {"sizeof(perf_event_header)", PERF_EVENT_HEADER_SIZE},
        {"offsetof(perf_event_header, size)", PERF_EVENT_HEADER_OFFSET_SIZE},
        {"PERF_RECORD_LOST", PERF_RECORD_LOST},
        {"PERF_RECORD_LOST_SAMPLES", PERF_RECORD_LOST_SAMPLES},
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
