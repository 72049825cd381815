// A condition variable whose wait compiles to pthread_cond_wait. std::condition_variable::wait is a libstdc++
// symbol whose version moved with GCC 12 (GLIBCXX_3.4.30): a prebuilt binary that calls it does not load where the
// system's libstdc++ is older (RHEL 9, Amazon Linux 2023 ship GCC 11's).
#pragma once

#include <mutex>

#if defined(_WIN32)
#include <condition_variable>

namespace fastmha {
using CondVar = std::condition_variable;
}  // namespace fastmha

#else
#include <pthread.h>

namespace fastmha {

class CondVar {
 public:
  CondVar() = default;
  ~CondVar() { pthread_cond_destroy(&cv_); }
  CondVar(const CondVar&) = delete;
  CondVar& operator=(const CondVar&) = delete;

  void notify_one() { pthread_cond_signal(&cv_); }
  void notify_all() { pthread_cond_broadcast(&cv_); }
  template <typename Ready>
  void wait(std::unique_lock<std::mutex>& lock, Ready ready) {
    while (!ready()) pthread_cond_wait(&cv_, lock.mutex()->native_handle());
  }

 private:
  pthread_cond_t cv_ = PTHREAD_COND_INITIALIZER;
};

}  // namespace fastmha
#endif
