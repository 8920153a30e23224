// Checks the property of Relacy that moved_count.cpp is built for: an
// acquire (here AcqRel, as in the model) fence takes in only the release stores that its own
// thread has read, as C++ says ([atomics.fences]), and not those that a
// thread it synchronized with read Relaxed (which loom 0.7.2's fence does
// take in). Built by run.sh twice: with T1's load Relaxed the fence must not
// make T0's write visible (Relacy reports a data race), with it Acquire the
// model must pass. (The model also relies on release sequences through
// read-modify-writes and on failure orderings being honoured; Relacy
// implements both, relacy/thread.hpp `atomic_store` and atomic.hpp
// `compare_swap_impl`.)

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
            x.store(1, rl::mo_release, $); // pairs with T1's load when it is Acquire
        } else if (i == 1) {
            // The load pairs with T0's store only when Acquire; the store pairs
            // with T2's fence, through T2's Relaxed load of y.
            if (x.load(T1_LOAD, $) == 1) y.store(1, rl::mo_release, $);
        } else if (y.load(rl::mo_relaxed, $) == 1) { // Relaxed: the fence acquires it
            rl::atomic_thread_fence(rl::mo_acq_rel, $); // pairs with T1's Release store
            RL_ASSERT(data($) == 1);
        }
    }
};

int main() {
    rl::test_params p;
    p.search_type = rl::sched_full;
    return rl::simulate<fence_rule>(p) ? 0 : 1;
}
