#include "thread_priority.h"

#if defined(__linux__)
#include <sched.h>
#elif defined(__APPLE__)
#include <sys/resource.h>
#elif defined(_WIN32)
#include <windows.h>
#endif

namespace potron {

bool lower_thread_to_idle() {
#if defined(__linux__)
  // pid 0 is the calling thread; unprivileged threads may always move to SCHED_IDLE
  sched_param param{};
  return sched_setscheduler(0, SCHED_IDLE, &param) == 0;
#elif defined(__APPLE__)
  return setpriority(PRIO_DARWIN_THREAD, 0, PRIO_DARWIN_BG) == 0;
#elif defined(_WIN32)
  return SetThreadPriority(GetCurrentThread(), THREAD_MODE_BACKGROUND_BEGIN) != 0;
#else
  return false;
#endif
}

}  // namespace potron
