#include "thread_pool.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <string>

#if defined(__linux__)
#include <sched.h>
#endif

namespace fastmha {

ThreadPool::ThreadPool(int threads) : threads_(std::max(1, threads)) {
  startWorkers(threads_.load() - 1);
  dispatcher_ = std::thread([this] { dispatcherLoop(); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(jobsMutex_);
    jobsStopping_ = true;
  }
  jobsCv_.notify_all();
  dispatcher_.join();
  stopWorkers();
}

namespace {

// How long an idle worker that did not help the last region polls for the next region of an open Session before
// sleeping: 20 us by the clock. It was 2000 pauses, 17-20 us on a Xeon (8.5 ns a pause) but 56 us on Zen 3 (28 ns); a
// 60 us bound ran the same as 20 us (paired layer runs, 2 threads).
constexpr std::chrono::microseconds kRegionPoll{20};
// How long the dispatcher polls for the next job after one, and a worker that helped the last region for the next
// (workerLoop): a server awaiting one forward submits the next once the last settles, a round trip through the JS
// thread of 50-150 us on a VM, and a dispatcher asleep by then costs a wake-up of its CPU per call. On Zen 3
// (cross-attention, 12 x 9 tokens, awaited one at a time): 150 us against 20 gave 0.25 against 0.33-0.34 ms a call at 2
// threads and 0.38-0.39 against 0.48 at 1; 300 us was no better. (On a Xeon VM a 100 us poll had delayed the JS
// thread's wake-up at 1 thread, 130 -> 210 us: there the poll took the CPU the JS thread was waiting for, which
// pollingPays() now rules out.)
constexpr std::chrono::microseconds kJobPoll{150};

inline void relax() {
#if defined(__x86_64__) || defined(_M_X64)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  __asm__ volatile("yield");
#endif
}

// Every poller gives its CPU away every this many pauses (2 us on Zen 3), to any thread that wants it.
constexpr int kPausesPerYield = 64;

inline void yieldCpu() {
#if defined(__linux__)
  sched_yield();
#else
  std::this_thread::yield();
#endif
}

// Polling pays only where the thread awaited can run meanwhile: a process held to one CPU (taskset, a cpuset) would
// spend the poll keeping the JS thread or a helper off the CPU they need, so it sleeps at once.
bool pollingPays() {
#if defined(__linux__)
  static const bool pays = [] {
    cpu_set_t set;
    return sched_getaffinity(0, sizeof set, &set) != 0 || CPU_COUNT(&set) > 1;
  }();
  return pays;
#else
  return true;
#endif
}

// Polls while `waiting()` holds, for at most `limit`; every kPausesPerYield pauses it reads the clock and yields the
// CPU to any thread waiting for it. A poller that did not yield held the CPU the JS thread needed to settle one
// call and submit the next: with workers polling between calls too (workerLoop), `npm run bench`'s cross-attention
// at 2 threads took 0.23-0.26 ms a call, and 0.17-0.22 yielding (three runs each).
template <typename Waiting>
void pollWhile(std::chrono::microseconds limit, Waiting waiting) {
  if (!pollingPays()) return;
  const auto deadline = std::chrono::steady_clock::now() + limit;
  for (int i = 1; waiting(); ++i) {
    relax();
    if (i % kPausesPerYield == 0) {
      if (std::chrono::steady_clock::now() >= deadline) return;
      yieldCpu();
    }
  }
}

}  // namespace

void ThreadPool::startWorkers(int count) {
  stopping_.store(false);
  // The generation a worker starts from is read here, not in the new thread: a region published before that
  // thread first runs must still count as new to it.
  const uint64_t seen = state_.load() >> 16;
  for (int i = 0; i < count; ++i) workers_.emplace_back([this, seen] { workerLoop(seen); });
}

void ThreadPool::stopWorkers() {
  {
    std::lock_guard<std::mutex> lock(sleepMutex_);
    stopping_.store(true);
  }
  wake_.notify_all();
  for (auto& t : workers_) t.join();
  workers_.clear();
}

void ThreadPool::resize(int threads) {
  threads = std::max(1, threads);
  std::lock_guard<std::mutex> region(regionMutex_);
  if (threads == threads_.load()) return;
  stopWorkers();
  threads_.store(threads);
  startWorkers(threads - 1);
}

void ThreadPool::runChunks(Region& r) {
  for (;;) {
    int64_t begin = r.next.fetch_add(r.grain, std::memory_order_relaxed);
    if (begin >= r.n) return;
    (*r.fn)(begin, std::min(r.n, begin + r.grain));
    yieldToWaiting();
  }
}

void ThreadPool::workerLoop(uint64_t seen) {
  bool helped = false;  // joined the last region it saw
  for (;;) {
    uint64_t state = state_.load(std::memory_order_acquire);
    // A worker that helped the last region polls for the next (kJobPoll), in the same forward or the next one, so
    // that the next region finds it awake: waking one costs 15-17 us on a VM, a large part of a small forward's
    // first product. Cross-attention (12 x 9 tokens) at 2 threads, awaited one at a time: 0.20-0.32 -> 0.17-0.26
    // ms a call (builds interleaved); one token (B1 T1 E512 H8) by forwardSync: 0.076-0.098 -> 0.061-0.070 ms,
    // where one thread takes 0.087-0.107. The others poll only inside a forward (kRegionPoll): a small forward on a
    // many-core machine takes a few workers, and the rest need not burn their cores.
    pollWhile(helped ? kJobPoll : kRegionPoll, [&] {
      state = state_.load(std::memory_order_acquire);
      return (state >> 16) == seen && !stopping_.load(std::memory_order_relaxed) &&
             (helped || sessions_.load(std::memory_order_relaxed) > 0);
    });
    if ((state >> 16) == seen) {
      std::unique_lock<std::mutex> lock(sleepMutex_);
      sleepers_.fetch_add(1);
      wake_.wait(lock, [&] {
        state = state_.load(std::memory_order_seq_cst);
        return stopping_.load() || (state >> 16) != seen;
      });
      sleepers_.fetch_sub(1);
    }
    if (stopping_.load()) return;
    seen = state >> 16;
    helped = false;
    // Join if a helper's place is left. The whole word is compared, so a place of an older region, or one its
    // caller has taken back, cannot be claimed; a claimed place keeps the region alive until `finished` counts it.
    while ((state >> 16) == seen && (state & 0xffff) > 0) {
      if (state_.compare_exchange_weak(state, state - 1, std::memory_order_acq_rel)) {
        Region& r = *region_;
        runChunks(r);
        r.finished.fetch_add(1, std::memory_order_release);
        helped = true;
        break;
      }
    }
  }
}

void ThreadPool::parallelFor(int64_t n, int64_t grain, int maxThreads, RangeFn fn) {
  if (n <= 0) return;
  grain = std::max<int64_t>(1, grain);
  const int64_t chunks = (n + grain - 1) / grain;
  // Work for one thread runs at once, without waiting for another caller's region: a small forward on the JS
  // thread must not queue behind a large one on the pool.
  if (chunks <= 1 || maxThreads <= 1 || threads_.load() <= 1) {
    fn(0, n);
    return;
  }
  std::lock_guard<std::mutex> serialize(regionMutex_);
  const int helpers =
      static_cast<int>(std::min<int64_t>({chunks - 1, maxThreads - 1, static_cast<int64_t>(workers_.size()), 0xffff}));
  if (helpers <= 0) {
    fn(0, n);
    return;
  }
  Region r;
  r.fn = &fn;
  r.n = n;
  r.grain = grain;
  region_ = &r;
  const uint64_t generation = (state_.load(std::memory_order_relaxed) >> 16) + 1;
  // Sequentially consistent on both sides: either this load sees a worker about to sleep, or that worker's
  // predicate (after its own increment of sleepers_) sees the new state. A place or two (two threads, a small
  // product) wakes as many sleepers; more wake all at once, one system call on this thread instead of one per place.
  state_.store(generation << 16 | static_cast<uint64_t>(helpers), std::memory_order_seq_cst);
  if (const int sleeping = sleepers_.load(std::memory_order_seq_cst); sleeping > 0) {
    std::lock_guard<std::mutex> lock(sleepMutex_);
    if (helpers <= 2 && helpers < sleeping) {
      for (int i = 0; i < helpers; ++i) wake_.notify_one();
    } else {
      wake_.notify_all();
    }
  }
  runChunks(r);
  // Every chunk is taken. The places no helper has claimed yet are taken back, so that this thread does not wait
  // for a helper still waking up only for it to find nothing left; the helpers that did join finish their last
  // chunk about when this thread does: wait for them by polling. The poll yields as pollWhile does: with more threads
  // than CPUs (setThreads past them, a cgroup's quota) a helper may be waiting for this very CPU, which a poll that
  // never yielded held until the scheduler's tick. Calls awaited one at a time: cross-attention (B1 T12 S9 E512 H8)
  // at 2 threads held to 1 CPU 3.9 -> 0.36-0.48 ms a call; self-attention of 12 tokens at 4 threads on 2 CPUs, p99
  // 8.0-9.6 -> 0.5-0.9 ms (`npm run bench:runtime`); as many threads as CPUs, no change.
  const int unclaimed = static_cast<int>(state_.exchange(generation << 16, std::memory_order_acq_rel) & 0xffff);
  const int joined = helpers - unclaimed;
  for (int i = 1; r.finished.load(std::memory_order_acquire) < joined; ++i) {
    relax();
    if (i % kPausesPerYield == 0) yieldCpu();
  }
  region_ = nullptr;
}

void ThreadPool::submit(std::function<void()> job) {
  {
    std::lock_guard<std::mutex> lock(jobsMutex_);
    jobs_.push_back(std::move(job));
    queued_.fetch_add(1, std::memory_order_release);
  }
  jobsCv_.notify_one();
}

void ThreadPool::dispatcherLoop() {
  for (;;) {
    std::function<void()> job;
    // The next job of a server awaiting one forward at a time (kJobPoll). The workers that helped the last one poll
    // meanwhile too (workerLoop).
    pollWhile(kJobPoll, [&] { return queued_.load(std::memory_order_acquire) == 0; });
    {
      std::unique_lock<std::mutex> lock(jobsMutex_);
      jobsCv_.wait(lock, [&] { return jobsStopping_ || !jobs_.empty(); });
      if (jobs_.empty()) return;
      job = std::move(jobs_.front());
      jobs_.pop_front();
      queued_.fetch_sub(1, std::memory_order_relaxed);
    }
    job();
  }
}

void yieldToWaiting() {
#if defined(__linux__)
  // Chunks can be a few microseconds (a product of a dozen rows split over threads), and a system call after each
  // cost 0.4 us apiece here. One every 100 us of a thread's work still hands the CPU over well within a tick.
  using Clock = std::chrono::steady_clock;
  thread_local Clock::time_point lastYield;
  const Clock::time_point now = Clock::now();
  if (now - lastYield < std::chrono::microseconds(100)) return;
  lastYield = now;
  sched_yield();
#endif
}

ThreadPool& globalPool() {
  static ThreadPool* pool = new ThreadPool(availableCpus());
  return *pool;
}

namespace {

// Reads up to two numbers from a small file; "max" reads as no number. C stdio, not <fstream>: iostreams would
// pull in parts of a static libstdc++ that need a newer glibc than the rest of the binary.
int readNumbers(const char* path, double* a, double* b) {
  FILE* f = std::fopen(path, "r");
  if (!f) return -1;
  const int n = std::fscanf(f, "%lf %lf", a, b);
  std::fclose(f);
  return n;
}

// cgroup v2 "cpu.max" is "<quota> <period>" or "max <period>"; v1 splits them over two files.
double cgroupCpuLimit() {
  double quota = 0, period = 0, unused = 0;
  const int v2 = readNumbers("/sys/fs/cgroup/cpu.max", &quota, &period);
  if (v2 >= 0) return v2 == 2 && quota > 0 && period > 0 ? quota / period : 0;  // "max ..." reads 0 numbers
  if (readNumbers("/sys/fs/cgroup/cpu/cpu.cfs_quota_us", &quota, &unused) == 1 &&
      readNumbers("/sys/fs/cgroup/cpu/cpu.cfs_period_us", &period, &unused) == 1 && quota > 0 && period > 0) {
    return quota / period;
  }
  return 0;
}

}  // namespace

int availableCpus() {
  int cpus = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
#if defined(__linux__)
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof(set), &set) == 0) cpus = std::max(1, CPU_COUNT(&set));
#endif
  double limit = cgroupCpuLimit();
  if (limit > 0) cpus = std::max(1, std::min(cpus, static_cast<int>(std::ceil(limit))));
  return cpus;
}

}  // namespace fastmha
