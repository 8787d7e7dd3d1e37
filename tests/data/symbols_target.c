/* A program with known symbols for the symbolization tests: prints its pid and the
   addresses of three of its functions, then waits for a byte (or EOF) on stdin.
   Built as a program, or with -shared -DAS_LIBRARY as a library (no main). */
#include <stdio.h>
#include <unistd.h>

__attribute__((noinline)) static int perfsys_static_leaf(int x)
{
    return x * 3 + 1;
}

__attribute__((noinline)) int perfsys_global_func(int x)
{
    return perfsys_static_leaf(x) + 2;
}

#ifdef AS_LIBRARY
void *perfsys_static_leaf_address(void)
{
    return (void *)perfsys_static_leaf;
}
#else
int main(void)
{
    char byte;
    printf("%d %p %p %p\n", (int)getpid(), (void *)perfsys_static_leaf,
           (void *)perfsys_global_func, (void *)main);
    fflush(stdout);
    if (read(0, &byte, 1) < 0)
        return 2;
    return perfsys_global_func(1) == 6 ? 0 : 1;
}
#endif
