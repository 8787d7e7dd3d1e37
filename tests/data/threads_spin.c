/* A multithreaded workload for counting a running process: starts one thread at once,
   prints "ready <its thread id>" and flushes, then after WAIT_MS starts two more. Each of
   the three threads spins until it has used SPIN_MS of its own CPU time (the first only
   after WAIT_MS too), so the process uses at least 3 * SPIN_MS of CPU time after WAIT_MS
   however busy the machine is. Usage: threads_spin WAIT_MS SPIN_MS */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static long wait_ms, spin_ms;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static long first_tid;

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0)
        ;
}

static void spin(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    double end = (double)ts.tv_sec + ts.tv_nsec / 1e9 + spin_ms / 1e3;
    volatile unsigned long n = 0;
    do {
        for (int i = 0; i < 100000; i++)
            n++;
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    } while ((double)ts.tv_sec + ts.tv_nsec / 1e9 < end);
}

static void *first(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&lock);
    first_tid = syscall(SYS_gettid);
    pthread_cond_signal(&cond);
    pthread_mutex_unlock(&lock);
    sleep_ms(wait_ms);
    spin();
    return NULL;
}

static void *later(void *arg)
{
    (void)arg;
    spin();
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc != 3)
        return 100;
    wait_ms = atol(argv[1]);
    spin_ms = atol(argv[2]);
    pthread_t t[3];
    if (pthread_create(&t[0], NULL, first, NULL) != 0)
        return 101;
    pthread_mutex_lock(&lock);
    while (first_tid == 0)
        pthread_cond_wait(&cond, &lock);
    pthread_mutex_unlock(&lock);
    printf("ready %ld\n", first_tid);
    fflush(stdout);
    sleep_ms(wait_ms);
    for (int i = 1; i < 3; i++)
        if (pthread_create(&t[i], NULL, later, NULL) != 0)
            return 102;
    for (int i = 0; i < 3; i++)
        pthread_join(t[i], NULL);
    return 0;
}
