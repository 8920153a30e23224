/* Times the zeroing of a freshly allocated 32 MiB + 64-byte block, the size
 * of the bucket array and header of a 2^19-bucket table, six times in a row:
 * without arguments at 64-byte alignment (small pages, as std's alloc_zeroed
 * gives a table under 4 MiB), with any argument at 2 MiB alignment and
 * advised MADV_HUGEPAGE before the writes (as src/raw/table.rs allocates a
 * table of 4 MiB and more). Each block is freed before the next. After the
 * first, it also prints the process's AnonHugePages (/proc/self/smaps_rollup):
 * whether the kernel backed the block with huge pages.
 *
 *   gcc -O2 -o /tmp/thp-zero scripts/thp-zero.c
 *   /tmp/thp-zero; /tmp/thp-zero huge
 *
 * Figures: docs/benchmarks.md, "Huge pages for large tables".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/mman.h>
static double now(){struct timespec t;clock_gettime(CLOCK_MONOTONIC,&t);return t.tv_sec*1e3+t.tv_nsec/1e6;}
int main(int argc, char **argv) {
    size_t size = (32u << 20) + 64;
    int advise = argc > 1;
    for (int i = 0; i < 6; i++) {
        void *p = NULL;
        double t0 = now();
        if (posix_memalign(&p, advise ? (2u << 20) : 64, size)) return 1;
        if (advise && madvise(p, size / (2u << 20) * (2u << 20), MADV_HUGEPAGE))
            perror("madvise");
        memset(p, 0, size);
        double t1 = now();
        printf("%s %.2f ms", advise ? "thp" : "4k", t1 - t0);
        if (i == 0) { /* the process's huge pages while the first block is held */
            FILE *f = fopen("/proc/self/smaps_rollup", "r");
            char line[256];
            while (f && fgets(line, sizeof line, f))
                if (strncmp(line, "AnonHugePages:", 14) == 0) printf(", %s", line);
            if (f) fclose(f);
        } else {
            printf("\n");
        }
        free(p);
    }
    return 0;
}
