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

// How long an idle worker polls for the next region of an open Session before sleeping (and the dispatcher for the
// next job): 2000 pauses, 17-20 us on this VM's Xeon (8.5 ns a pause), several times longer where a pause takes 140
// cycles. A 60 us bound by the clock instead ran the same (paired layer runs, 2 threads); a 100 us dispatcher wait
// delayed the JS thread's wake-up after each async forward (about 130 -> 210 us at 1 thread, 5 of 6 paired runs).
constexpr int kSpinRounds = 2000;

inline void relax() {
#if defined(__x86_64__) || defined(_M_X64)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  __asm__ volatile("yield");
#endif
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
  for (;;) {
    uint64_t state = state_.load(std::memory_order_acquire);
    for (int spin = 0; (state >> 16) == seen && spin < kSpinRounds && sessions_.load(std::memory_order_relaxed) > 0 &&
                       !stopping_.load(std::memory_order_relaxed);
         ++spin) {
      relax();
      state = state_.load(std::memory_order_acquire);
    }
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
    // Join if a helper's place is left. The whole word is compared, so a place of an older region, or one its
    // caller has taken back, cannot be claimed; a claimed place keeps the region alive until `finished` counts it.
    while ((state >> 16) == seen && (state & 0xffff) > 0) {
      if (state_.compare_exchange_weak(state, state - 1, std::memory_order_acq_rel)) {
        Region& r = *region_;
        runChunks(r);
        r.finished.fetch_add(1, std::memory_order_release);
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
  const int helpers = static_cast<int>(
      std::min<int64_t>({chunks - 1, maxThreads - 1, static_cast<int64_t>(workers_.size()), 0xffff}));
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
  // chunk about when this thread does: wait for them by polling.
  const int unclaimed = static_cast<int>(state_.exchange(generation << 16, std::memory_order_acq_rel) & 0xffff);
  const int joined = helpers - unclaimed;
  while (r.finished.load(std::memory_order_acquire) < joined) relax();
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
    // A server awaiting one forward submits the next as soon as the last resolves: poll for it a little before
    // sleeping, which would cost a wake-up per call. The workers sleep meanwhile (no Session is open).
    for (int spin = 0; spin < kSpinRounds && queued_.load(std::memory_order_acquire) == 0; ++spin) relax();
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
