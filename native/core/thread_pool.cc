#include "thread_pool.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
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

void ThreadPool::startWorkers(int count) {
  stopping_ = false;
  for (int i = 0; i < count; ++i) workers_.emplace_back([this, i] { workerLoop(i); });
}

void ThreadPool::stopWorkers() {
  {
    std::lock_guard<std::mutex> lock(m_);
    stopping_ = true;
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
  }
}

void ThreadPool::workerLoop(int index) {
  uint64_t seen = 0;
  for (;;) {
    Region* r;
    {
      std::unique_lock<std::mutex> lock(m_);
      wake_.wait(lock, [&] { return stopping_ || (region_ && generation_ != seen); });
      if (stopping_) return;
      seen = generation_;
      if (index >= region_->helpers) continue;
      r = region_;
    }
    runChunks(*r);
    {
      std::lock_guard<std::mutex> lock(m_);
      if (--active_ == 0) done_.notify_all();
    }
  }
}

void ThreadPool::parallelFor(int64_t n, int64_t grain, int maxThreads,
                             const std::function<void(int64_t, int64_t)>& fn) {
  if (n <= 0) return;
  grain = std::max<int64_t>(1, grain);
  int64_t chunks = (n + grain - 1) / grain;
  std::lock_guard<std::mutex> serialize(regionMutex_);
  int helpers = static_cast<int>(std::min<int64_t>({chunks - 1, maxThreads - 1, (int64_t)workers_.size()}));
  if (helpers <= 0) {
    fn(0, n);
    return;
  }
  Region r;
  r.fn = &fn;
  r.n = n;
  r.grain = grain;
  r.helpers = helpers;
  {
    std::lock_guard<std::mutex> lock(m_);
    region_ = &r;
    active_ = helpers;
    ++generation_;
  }
  wake_.notify_all();
  runChunks(r);
  std::unique_lock<std::mutex> lock(m_);
  done_.wait(lock, [&] { return active_ == 0; });
  region_ = nullptr;
}

void ThreadPool::submit(std::function<void()> job) {
  {
    std::lock_guard<std::mutex> lock(jobsMutex_);
    jobs_.push_back(std::move(job));
  }
  jobsCv_.notify_one();
}

void ThreadPool::dispatcherLoop() {
  for (;;) {
    std::function<void()> job;
    {
      std::unique_lock<std::mutex> lock(jobsMutex_);
      jobsCv_.wait(lock, [&] { return jobsStopping_ || !jobs_.empty(); });
      if (jobs_.empty()) return;
      job = std::move(jobs_.front());
      jobs_.pop_front();
    }
    job();
  }
}

ThreadPool& globalPool() {
  static ThreadPool* pool = new ThreadPool(availableCpus());
  return *pool;
}

namespace {

// cgroup v2 "cpu.max" is "<quota> <period>" or "max <period>"; v1 splits them over two files.
double cgroupCpuLimit() {
  std::ifstream v2("/sys/fs/cgroup/cpu.max");
  std::string quota;
  double period = 0;
  if (v2 >> quota >> period) {
    if (quota != "max" && period > 0) return std::stod(quota) / period;
    return 0;
  }
  std::ifstream q1("/sys/fs/cgroup/cpu/cpu.cfs_quota_us"), p1("/sys/fs/cgroup/cpu/cpu.cfs_period_us");
  double q = 0;
  if (q1 >> q && p1 >> period && q > 0 && period > 0) return q / period;
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
