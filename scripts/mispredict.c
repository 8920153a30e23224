/*
 * What one mispredicted branch costs on this machine, for the hot-read
 * analysis in docs/benchmarks.md ("Where the 1,024-key gap goes"). perf
 * counters are not available here, so the cost is timed: one loop steps a
 * xorshift64 generator and branches on a bit of its state, once on the low
 * bit (random: about half the branches mispredicted, since no predictor can
 * learn the generator's sequence) and once on no bit at all (the branch is
 * never taken, so it is always predicted). The difference per iteration,
 * doubled, is the time of one misprediction. The branch reads no memory,
 * so the figure does not depend on the caches.
 *
 *   gcc -O2 -o /tmp/mispredict scripts/mispredict.c
 *   objdump -d /tmp/mispredict | grep -A24 '<run'   # one loop, a branch on the state
 *   nice -n -20 /tmp/mispredict
 *
 * The empty asm statements keep gcc from turning the two arms into a
 * conditional move, and the mask is read through a volatile so that gcc
 * cannot make a copy of the loop for each mask. The branch waits only on
 * the generator's short chain; one that waits on a longer chain (a tag
 * match after a bucket load) throws away more work when it is wrong.
 */
#include <stdint.h>
#include <stdio.h>
#include <time.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

__attribute__((noinline)) static uint64_t run(uint64_t st, uint64_t mask, size_t n) {
    uint64_t s = 0;
    for (size_t i = 0; i < n; i++) {
        st ^= st << 13, st ^= st >> 7, st ^= st << 17;
        if (st & mask) {
            s += st;
            __asm__ volatile("" ::: "memory");
        } else {
            s ^= st;
            __asm__ volatile("" ::: "memory");
        }
    }
    return s;
}

static volatile uint64_t masks[2] = {1, 0}; /* random, never taken */

int main(void) {
    const size_t n = 1 << 16;
    double best[2] = {1e9, 1e9};
    uint64_t sink = 0;
    for (int k = 0; k < 200; k++) {
        for (int m = 0; m < 2; m++) {
            uint64_t mask = masks[m];
            double t = now();
            sink += run(0x9e3779b97f4a7c15ULL + (uint64_t)k, mask, n);
            t = now() - t;
            if (t < best[m]) best[m] = t;
        }
    }
    double r = best[0] / n * 1e9, p = best[1] / n * 1e9;
    printf("random: %.3f ns per iteration, never taken: %.3f ns, one misprediction: %.2f ns (sink %lu)\n",
           r, p, 2 * (r - p), (unsigned long)(sink & 1));
    return 0;
}
