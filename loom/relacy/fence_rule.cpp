// Checks the one property of Relacy that moved_count.cpp relies on: an
// acquire (here SeqCst) fence acquires only the release stores that its own
// thread has read, as C++ says ([atomics.fences]), and not those that a
// thread it synchronized with read Relaxed (which loom 0.7.2's fence does
// acquire). Built by run.sh twice: with T1's load Relaxed the fence must not
// make T0's write visible (Relacy reports a data race), with it Acquire the
// model must pass.

#include <relacy/relacy.hpp>

#ifndef T1_LOAD
#define T1_LOAD rl::mo_relaxed
#endif

struct fence_rule : rl::test_suite<fence_rule, 3> {
    rl::atomic<int> x, y;
    rl::var<int> data;

    void before() {
        x($) = 0;
        y($) = 0;
        data($) = 0;
    }

    void thread(unsigned i) {
        if (i == 0) {
            data($) = 1;
            x.store(1, rl::mo_release, $);
        } else if (i == 1) {
            if (x.load(T1_LOAD, $) == 1) y.store(1, rl::mo_release, $);
        } else if (y.load(rl::mo_relaxed, $) == 1) {
            rl::atomic_thread_fence(rl::mo_seq_cst, $);
            RL_ASSERT(data($) == 1);
        }
    }
};

int main() {
    rl::test_params p;
    p.search_type = rl::sched_full;
    return rl::simulate<fence_rule>(p) ? 0 : 1;
}
