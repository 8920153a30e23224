/*
 * What one mispredicted branch costs on this machine, for the hot-read
 * analysis in docs/benchmarks.md ("Where the 1,024-key gap goes"). perf
 * counters are not available here, so the cost is timed: the same loop
 * runs over a byte array of random 0/1 values (half its branches
 * mispredicted) and over one of long runs (almost none), and the
 * difference per iteration, doubled, is the time of one misprediction.
 *
 *   gcc -O2 -o /tmp/mispredict scripts/mispredict.c
 *   objdump -d /tmp/mispredict | grep -A20 '<run'   # the loop must branch on a[i]
 *   nice -n -20 /tmp/mispredict
 *
 * The empty asm statements keep gcc from turning the two arms into a
 * conditional move. The branch depends on a load from L1, so this is close
 * to the smallest penalty; a branch that waits on a longer chain (such as a
 * tag match after a bucket load) throws away more work.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

__attribute__((noinline)) static uint64_t run(const uint8_t *a, const uint64_t *x, size_t n) {
    uint64_t s = 0;
    for (size_t i = 0; i < n; i++) {
        if (a[i]) {
            s += x[i];
            __asm__ volatile("" ::: "memory");
        } else {
            s ^= x[i];
            __asm__ volatile("" ::: "memory");
        }
    }
    return s;
}

int main(void) {
    const size_t n = 1 << 16; /* 64 KiB of bytes + 512 KiB of words: L2 */
    uint8_t *random = malloc(n), *runs = malloc(n);
    uint64_t *x = malloc(n * sizeof *x);
    if (!random || !runs || !x) return 1;
    uint64_t st = 0x9e3779b97f4a7c15ULL; /* xorshift64 */
    for (size_t i = 0; i < n; i++) {
        st ^= st << 13, st ^= st >> 7, st ^= st << 17;
        random[i] = st & 1;
        runs[i] = (i >> 12) & 1; /* 4,096 equal bytes at a time */
        x[i] = st;
    }
    double best_random = 1e9, best_runs = 1e9;
    uint64_t sink = 0;
    for (int k = 0; k < 200; k++) {
        double t = now();
        sink += run(random, x, n);
        t = now() - t;
        if (t < best_random) best_random = t;
        t = now();
        sink += run(runs, x, n);
        t = now() - t;
        if (t < best_runs) best_runs = t;
    }
    double r = best_random / n * 1e9, p = best_runs / n * 1e9;
    printf("random: %.3f ns per iteration, runs: %.3f ns, one misprediction: %.2f ns (sink %lu)\n",
           r, p, 2 * (r - p), (unsigned long)(sink & 1));
    return 0;
}
