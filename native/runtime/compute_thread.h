// One long-lived thread that runs every graph computation of a context. ggml's CPU backend uses
// OpenMP, whose thread team belongs to the calling thread: calling from whichever libuv worker
// is free would leave a spinning team behind on each of them (and cost ~40% of decode speed on
// 2 cores). The libuv worker that runs a decode hands the work here and waits.
#pragma once
#include <condition_variable>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>

namespace potron {

class ComputeThread {
 public:
  ComputeThread() : thread_([this] { loop(); }) {}

  ~ComputeThread() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }

  ComputeThread(const ComputeThread&) = delete;
  ComputeThread& operator=(const ComputeThread&) = delete;

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
  std::thread thread_;  // last: started after the state it uses is initialised
};

}  // namespace potron
