// Lowering the calling thread to "run only when the CPU is otherwise idle".
#pragma once

namespace potron {

// Linux: SCHED_IDLE (below nice 19: a nice-19 thread still takes a share from busy threads);
// macOS: the background band; Windows: background mode. False where none could be set.
bool lower_thread_to_idle();

}  // namespace potron
