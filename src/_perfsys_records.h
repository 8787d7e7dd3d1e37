/* The bodies of the kernel's records, each described once (hand-written).

   From this table src/_perfsys.c makes each record's PyStructSequence type (its
   name, doc and fields), its name in error messages, and its decoding;
   tools/gen_stubs.py makes the record classes of src/perfsys/_perfsys.pyi.
   PERF_RECORD_SAMPLE is not here: its fields depend on sample_type, and
   decode_sample() in src/_perfsys.c decodes it by SAMPLE_FIELD_LIST.

   PERFSYS_RECORDS(R) has one row per record type, in the order of the types'
   numbers:

       R(TYPE, ClassName, "doc", BODY)

   TYPE is the suffix of PERF_RECORD_TYPE (a number of _perfsys_abi.h), BODY
   names the list of its members, PERFSYS_BODY_<BODY>(F), which records of the
   same layout share. A body lists the members that follow the 8-byte header,
   in the kernel's order (the layouts documented in linux/perf_event.h's enum
   perf_event_type), as

       F(name, KIND, "doc")

   Every record type ends with the sample_id trailer (struct sample_id), which
   src/_perfsys.c adds after these members. KIND says how the member is laid out
   and what it reads as:

       PID          u32, read as a signed int (pids and tids: -1 means none)
       U16, U32, U64   unsigned ints of that width
       LEN16        a u16 length, counted towards the LEN_BYTES that follows
       LEN_BYTES    bytes: as many as the LEN16 members before it add up to
       TAG          bytes: a BPF program tag (BPF_TAG_SIZE bytes)
       CSTR         str: a NUL-terminated string padded to the body's end,
                    decoded like os.fsdecode
       READ         the read_format values to the body's end, as
                    perfsys.read() returns them (CounterValue or GroupValues)
       NS           u64 nr, then nr (dev, inode) u64 pairs: a tuple of pairs
       CALLCHAIN    u64 nr, then nr u64 instruction pointers: a tuple of ints
       INODE_U32, INODE_U64
                    like U32, U64, but None when misc has
                    PERF_RECORD_MISC_MMAP_BUILD_ID (PERF_RECORD_MMAP2's union)
       BUILD_ID     bytes, or None without PERF_RECORD_MISC_MMAP_BUILD_ID: the
                    other reading of the 24 bytes of INODE_* members before it
                    (u8 build_id_size, 3 bytes reserved, build_id[20])

   A new record type is one row here and its body (a new KIND, rarely, is a case
   in decode_other() and a line in tools/gen_stubs.py), then
   `tools/regenerate.sh` for the stubs. */

#ifndef PERFSYS_RECORDS_H
#define PERFSYS_RECORDS_H

#define PERFSYS_RECORDS(R) \
    R(MMAP, MmapRecord, "PERF_RECORD_MMAP: a new executable mapping.", MMAP) \
    R(LOST, LostRecord, "PERF_RECORD_LOST: records the ring had no room for.", LOST) \
    R(COMM, CommRecord, "PERF_RECORD_COMM: a process changed its name.", COMM) \
    R(EXIT, ExitRecord, "PERF_RECORD_EXIT: a process or thread exited.", TASK) \
    R(THROTTLE, ThrottleRecord, "PERF_RECORD_THROTTLE: sampling was throttled.", THROTTLE) \
    R(UNTHROTTLE, UnthrottleRecord, "PERF_RECORD_UNTHROTTLE: sampling resumed.", THROTTLE) \
    R(FORK, ForkRecord, "PERF_RECORD_FORK: a process or thread was created.", TASK) \
    R(READ, ReadRecord, "PERF_RECORD_READ: counter values (inherit_stat).", READ) \
    R(MMAP2, Mmap2Record, "PERF_RECORD_MMAP2: a new mapping, with inode or build id.", MMAP2) \
    R(AUX, AuxRecord, "PERF_RECORD_AUX: new data in the AUX area.", AUX) \
    R(ITRACE_START, ItraceStartRecord, "PERF_RECORD_ITRACE_START: instruction tracing started.", \
      PID_TID) \
    R(LOST_SAMPLES, LostSamplesRecord, "PERF_RECORD_LOST_SAMPLES: samples dropped.", \
      LOST_SAMPLES) \
    R(SWITCH, SwitchRecord, "PERF_RECORD_SWITCH: a context switch of the monitored task.", \
      NOTHING) \
    R(SWITCH_CPU_WIDE, SwitchCpuWideRecord, \
      "PERF_RECORD_SWITCH_CPU_WIDE: a context switch on a cpu.", SWITCH_CPU_WIDE) \
    R(NAMESPACES, NamespacesRecord, "PERF_RECORD_NAMESPACES: a task's namespaces.", NAMESPACES) \
    R(KSYMBOL, KsymbolRecord, \
      "PERF_RECORD_KSYMBOL: a kernel symbol registered or unregistered.", KSYMBOL) \
    R(BPF_EVENT, BpfEventRecord, "PERF_RECORD_BPF_EVENT: a BPF program loaded or unloaded.", \
      BPF_EVENT) \
    R(CGROUP, CgroupRecord, "PERF_RECORD_CGROUP: a cgroup was created.", CGROUP) \
    R(TEXT_POKE, TextPokeRecord, "PERF_RECORD_TEXT_POKE: kernel text changed.", TEXT_POKE) \
    R(AUX_OUTPUT_HW_ID, AuxOutputHwIdRecord, \
      "PERF_RECORD_AUX_OUTPUT_HW_ID: hardware id of AUX output.", AUX_OUTPUT_HW_ID) \
    R(CALLCHAIN_DEFERRED, CallchainDeferredRecord, \
      "PERF_RECORD_CALLCHAIN_DEFERRED: a deferred user callchain.", CALLCHAIN_DEFERRED)

#define PERFSYS_BODY_MMAP(F) \
    F(pid, PID, "process id (signed: -1 for kernel mappings)") \
    F(tid, PID, "thread id") \
    F(addr, U64, "start address of the mapping") \
    F(len, U64, "length of the mapping") \
    F(pgoff, U64, "file offset of the mapping") \
    F(filename, CSTR, "mapped file, decoded like os.fsdecode")

#define PERFSYS_BODY_LOST(F) \
    F(id, U64, "id of the event whose records were lost") \
    F(lost, U64, "number of records lost")

#define PERFSYS_BODY_COMM(F) \
    F(pid, PID, "process id") \
    F(tid, PID, "thread id") \
    F(comm, CSTR, "the new command name, decoded like os.fsdecode")

#define PERFSYS_BODY_TASK(F) \
    F(pid, PID, "process id") \
    F(ppid, PID, "parent process id") \
    F(tid, PID, "thread id") \
    F(ptid, PID, "parent thread id") \
    F(time, U64, "timestamp")

#define PERFSYS_BODY_THROTTLE(F) \
    F(time, U64, "timestamp") \
    F(id, U64, "event id") \
    F(stream_id, U64, "event stream id")

#define PERFSYS_BODY_READ(F) \
    F(pid, PID, "process id") \
    F(tid, PID, "thread id") \
    F(values, READ, "the read_format values, as the counter read functions return them")

#define PERFSYS_BODY_MMAP2(F) \
    F(pid, PID, "process id (signed: -1 for kernel mappings)") \
    F(tid, PID, "thread id") \
    F(addr, U64, "start address of the mapping") \
    F(len, U64, "length of the mapping") \
    F(pgoff, U64, "file offset of the mapping") \
    F(maj, INODE_U32, "device major number; None when the record carries a build id") \
    F(min, INODE_U32, "device minor number; None when the record carries a build id") \
    F(ino, INODE_U64, "inode number; None when the record carries a build id") \
    F(ino_generation, INODE_U64, "inode generation; None when the record carries a build id") \
    F(build_id, BUILD_ID, "build id bytes (PERF_RECORD_MISC_MMAP_BUILD_ID), else None") \
    F(prot, U32, "protection bits (PROT_*)") \
    F(flags, U32, "mapping flags (MAP_*)") \
    F(filename, CSTR, "mapped file, decoded like os.fsdecode")

#define PERFSYS_BODY_AUX(F) \
    F(aux_offset, U64, "offset of the new data in the AUX area") \
    F(aux_size, U64, "size of the new data") \
    F(flags, U64, "PERF_AUX_FLAG_* bits")

#define PERFSYS_BODY_PID_TID(F) \
    F(pid, PID, "process id") \
    F(tid, PID, "thread id")

#define PERFSYS_BODY_LOST_SAMPLES(F) \
    F(lost, U64, "number of samples lost")

#define PERFSYS_BODY_NOTHING(F)

#define PERFSYS_BODY_SWITCH_CPU_WIDE(F) \
    F(next_prev_pid, PID, "pid switched to (out) or from (in)") \
    F(next_prev_tid, PID, "tid switched to (out) or from (in)")

#define PERFSYS_BODY_NAMESPACES(F) \
    F(pid, PID, "process id") \
    F(tid, PID, "thread id") \
    F(namespaces, NS, "tuple of (dev, inode) pairs, indexed by *_NS_INDEX")

#define PERFSYS_BODY_KSYMBOL(F) \
    F(addr, U64, "symbol address") \
    F(len, U32, "symbol length") \
    F(ksym_type, U16, "PERF_RECORD_KSYMBOL_TYPE_*") \
    F(flags, U16, "PERF_RECORD_KSYMBOL_FLAGS_*") \
    F(name, CSTR, "symbol name")

#define PERFSYS_BODY_BPF_EVENT(F) \
    F(bpf_type, U16, "PERF_BPF_EVENT_* (the kernel's 'type' member)") \
    F(flags, U16, "flags") \
    F(id, U32, "BPF program id") \
    F(tag, TAG, "BPF program tag (8 bytes)")

#define PERFSYS_BODY_CGROUP(F) \
    F(id, U64, "cgroup id") \
    F(path, CSTR, "cgroup path")

#define PERFSYS_BODY_TEXT_POKE(F) \
    F(addr, U64, "address of the changed text") \
    F(old_len, LEN16, "number of old bytes") \
    F(new_len, LEN16, "number of new bytes") \
    F(bytes, LEN_BYTES, "the old bytes followed by the new bytes")

#define PERFSYS_BODY_AUX_OUTPUT_HW_ID(F) \
    F(hw_id, U64, "architecture-specific hardware id")

#define PERFSYS_BODY_CALLCHAIN_DEFERRED(F) \
    F(cookie, U64, "matches the samples whose user callchain was deferred") \
    F(ips, CALLCHAIN, "tuple of instruction pointers (with PERF_CONTEXT_* markers)")

#endif /* PERFSYS_RECORDS_H */
