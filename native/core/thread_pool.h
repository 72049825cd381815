// The process-wide compute pool: persistent workers for parallel_for, and one dispatcher thread that runs
// submitted jobs (async forwards) in FIFO order, so concurrent calls queue fairly instead of oversubscribing.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "cond_var.h"

namespace fastmha {

// A callable borrowed for the length of one call, (begin, end) -> void: a std::function would copy a lambda that
// captures more than two references onto the heap, once per parallel region.
class RangeFn {
 public:
  template <typename F>
  RangeFn(const F& f)  // NOLINT: implicit, so that callers pass a lambda as they would to a std::function
      : object_(&f), call_([](const void* o, int64_t b, int64_t e) { (*static_cast<const F*>(o))(b, e); }) {}
  void operator()(int64_t begin, int64_t end) const { call_(object_, begin, end); }

 private:
  const void* object_;
  void (*call_)(const void*, int64_t, int64_t);
};

class ThreadPool {
 public:
  explicit ThreadPool(int threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  // Runs fn(begin, end) over [0, n) in chunks of `grain`, on at most maxThreads threads (the caller is one of
  // them). Chunks are handed out from an atomic counter, so uneven chunks balance themselves.
  // One parallel region runs at a time; concurrent callers wait their turn rather than oversubscribing.
  void parallelFor(int64_t n, int64_t grain, int maxThreads, RangeFn fn);

  // Queues a job for the dispatcher thread; jobs run one after another in submission order.
  void submit(std::function<void()> job);

  int threads() const { return threads_.load(); }

  // Marks a stretch of several parallel regions (one forward): while any is open, idle workers spin for the next
  // region instead of sleeping. When the last closes, the workers that helped its last region poll a while longer
  // for the next forward's first (yielding to any thread that wants their CPU); the others sleep at once.
  class Session {
   public:
    explicit Session(ThreadPool& pool) : pool_(pool) { pool_.sessions_.fetch_add(1, std::memory_order_relaxed); }
    ~Session() { pool_.sessions_.fetch_sub(1, std::memory_order_relaxed); }
    Session(const Session&) = delete;
    Session& operator=(const Session&) = delete;

   private:
    ThreadPool& pool_;
  };
  // Takes effect for the next parallel region; waits for the region in progress.
  void resize(int threads);

 private:
  struct Region {
    const RangeFn* fn = nullptr;
    int64_t n = 0, grain = 1;
    std::atomic<int64_t> next{0};
    std::atomic<int> finished{0};  // helpers that joined and are done with it
  };
  void workerLoop(uint64_t seen);
  void dispatcherLoop();
  void runChunks(Region& r);
  void startWorkers(int count);
  void stopWorkers();

  std::atomic<int> threads_;
  std::mutex regionMutex_;  // serializes parallel regions
  std::vector<std::thread> workers_;
  // A region is published as one word, generation << 16 | places, so that a worker reads both at once: the first
  // workers to see it claim the places (whichever are awake: spinning ones before any that must wake), the rest
  // go back to waiting.
  std::atomic<uint64_t> state_{0};
  Region* region_ = nullptr;
  std::atomic<bool> stopping_{false};
  // Waking a sleeping thread costs tens of microseconds (more in a VM), several times per forward: inside a
  // Session workers spin a while for the next region before sleeping, and sleepers are notified only when there
  // are any.
  std::atomic<int> sessions_{0};
  std::mutex sleepMutex_;
  CondVar wake_;
  std::atomic<int> sleepers_{0};

  std::mutex jobsMutex_;
  CondVar jobsCv_;
  std::deque<std::function<void()>> jobs_;
  std::atomic<int> queued_{0};  // jobs_.size(), for the dispatcher to poll without the lock
  std::thread dispatcher_;
  bool jobsStopping_ = false;
};

// A cancel flag another thread may set (null: the work cannot be cancelled), read between blocks of work.
inline bool isCancelled(const std::atomic<bool>* flag) { return flag && flag->load(std::memory_order_relaxed); }

// Called by tasks between blocks of work: gives the CPU to a thread that woke meanwhile, the JS event loop above
// all, instead of leaving it to wait for the next scheduler tick (milliseconds) while the pool keeps every core
// busy. Yields at most once per 100 us of the calling thread's time, so it may be called after every small block.
void yieldToWaiting();

// The one pool of the process, created on first use and never destroyed: its threads may still be running
// a job for another worker thread's environment when static destructors run at exit.
ThreadPool& globalPool();
// CPUs this process may use: the affinity mask, capped by a cgroup v2/v1 CPU quota.
int availableCpus();

}  // namespace fastmha
