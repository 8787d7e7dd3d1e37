/* A deterministic workload for comparing counts with perf stat: touches PAGES fresh
   anonymous pages (one page fault each) and sleeps SLEEPS times for 1 ms (one voluntary
   context switch each), then exits with status STATUS. Usage: touch_sleep PAGES SLEEPS STATUS
   The pages are kept from transparent huge pages (a kernel with THP "always" would fault
   them in 2 MiB at a time); where THP is not built in, madvise fails and nothing changes. */
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    if (argc != 4)
        return 100;
    long pages = atol(argv[1]), sleeps = atol(argv[2]);
    long size = sysconf(_SC_PAGESIZE);
    if (pages > 0) {
        volatile char *p = mmap(NULL, (size_t)(pages * size), PROT_READ | PROT_WRITE,
                                MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED)
            return 101;
        (void)madvise((void *)p, (size_t)(pages * size), MADV_NOHUGEPAGE);
        for (long i = 0; i < pages; i++)
            p[i * size] = 1;
    }
    struct timespec ts = {0, 1000000};
    for (long i = 0; i < sleeps; i++)
        nanosleep(&ts, NULL);
    return atoi(argv[3]);
}
