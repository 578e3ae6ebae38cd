// The one long-lived thread that runs every graph computation of the process (every context,
// encoders too) and ggml's AMX weight repacking. ggml's CPU backend uses OpenMP, whose thread team
// belongs to the calling thread: calling from whichever libuv worker is free would leave a
// spinning team behind on each of them (~40% of decode speed on 2 cores). Even one second team
// costs: libgomp then counts more threads than CPUs and stops spinning in barriers, so every
// graph node sleeps and wakes its threads (measured on a 2-core Xeon with AMX, whose repacking
// at model load opened a team on the loading thread: 400 context switches per token, decode
// 0.80x llama-bench; one team: as llama-bench, which loads and computes on one thread).
// Callers hand the work here and wait; work from several contexts runs one job at a time.
#pragma once
#include <condition_variable>
#include <exception>
#include <functional>
#include <mutex>

#include "platform.h"

namespace potron {

class ComputeThread {
 public:
  // Its stack is set, not left to the system: musl (Alpine) gives new threads 128 KiB and Windows
  // the executable's default (often 1 MiB) where glibc gives 8 MiB, and graph building and
  // ggml's kernels run on this one.
  static constexpr size_t kStackBytes = size_t(8) << 20;

  ComputeThread() : thread_(platform::start_thread(&ComputeThread::start, this, kStackBytes)) {}

  ~ComputeThread() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    platform::join_thread(thread_);
  }

  ComputeThread(const ComputeThread&) = delete;
  ComputeThread& operator=(const ComputeThread&) = delete;

  // The process's compute thread (never destroyed: it may be busy while static destructors run).
  static ComputeThread& shared() {
    static ComputeThread* thread = new ComputeThread();
    return *thread;
  }

  // Runs fn on the compute thread and returns when it is done, rethrowing what it threw.
  void run(const std::function<void()>& fn) {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [this] { return !job_; });  // one job at a time
    job_ = &fn;
    error_ = nullptr;
    done_ = false;
    cv_.notify_all();
    cv_.wait(lock, [this] { return done_; });
    job_ = nullptr;
    std::exception_ptr err = error_;
    cv_.notify_all();
    lock.unlock();
    if (err) std::rethrow_exception(err);
  }

 private:
  static void start(void* self) { static_cast<ComputeThread*>(self)->loop(); }

  void loop() {
    std::unique_lock<std::mutex> lock(mu_);
    for (;;) {
      cv_.wait(lock, [this] { return stop_ || (job_ && !done_); });
      if (stop_) return;
      const std::function<void()>* job = job_;
      lock.unlock();
      std::exception_ptr err;
      try {
        (*job)();
      } catch (...) {
        err = std::current_exception();
      }
      lock.lock();
      error_ = err;
      done_ = true;
      cv_.notify_all();
    }
  }

  std::mutex mu_;
  std::condition_variable cv_;
  const std::function<void()>* job_ = nullptr;
  std::exception_ptr error_;
  bool done_ = false;
  bool stop_ = false;
  platform::Thread* thread_;  // last: started after the state it uses is initialised
};

}  // namespace potron
