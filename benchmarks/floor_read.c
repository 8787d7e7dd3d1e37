/* The floor for benchmarks/bench_read.py: read(2) of one counter in a C loop.
   Usage: floor_read TYPE CONFIG ITERATIONS. Opens the counter on its own thread
   (as the Python side does: exclude_kernel, exclude_hv, read_format 0) and
   prints the mean ns per read. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

int
main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: %s TYPE CONFIG ITERATIONS\n", argv[0]);
        return 2;
    }
    /* perf_event_attr, first PERF_ATTR_SIZE_VER0 (64) bytes: type, size,
       config, then the flag word at offset 40 */
    unsigned char attr[64];
    uint32_t type = (uint32_t)strtoul(argv[1], NULL, 0), size = sizeof(attr);
    uint64_t config = strtoull(argv[2], NULL, 0), flags = (1u << 5) | (1u << 6);
    memset(attr, 0, sizeof(attr));
    memcpy(attr, &type, 4);
    memcpy(attr + 4, &size, 4);
    memcpy(attr + 8, &config, 8);
    memcpy(attr + 40, &flags, 8);
    int fd = (int)syscall(SYS_perf_event_open, attr, 0, -1, -1, 0UL);
    if (fd < 0) {
        perror("perf_event_open");
        return 1;
    }
    long n = atol(argv[3]);
    uint64_t value = 0, sum = 0;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (long i = 0; i < n; i++) {
        if (read(fd, &value, sizeof(value)) != (ssize_t)sizeof(value)) {
            perror("read");
            return 1;
        }
        sum += value;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double ns = (double)(t1.tv_sec - t0.tv_sec) * 1e9 + (double)(t1.tv_nsec - t0.tv_nsec);
    printf("%.2f %d\n", ns / (double)n, sum != 0);
    return 0;
}
