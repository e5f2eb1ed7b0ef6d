// A reader-writer lock that lets a waiting writer in before new readers. std::shared_mutex on
// glibc prefers readers, so a partition under constant Fetch load could starve its producer's
// appends indefinitely; glibc's PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP does not, provided
// no thread takes the shared side recursively (Log never does).
#pragma once

#include <pthread.h>

#include <system_error>

namespace ferry::storage {

/// Meets the SharedMutex requirements used here (std::unique_lock / std::shared_lock).
class WriterPreferringRwLock {
 public:
  WriterPreferringRwLock() {
    pthread_rwlockattr_t attr;
    pthread_rwlockattr_init(&attr);
    pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    int rc = pthread_rwlock_init(&lock_, &attr);
    pthread_rwlockattr_destroy(&attr);
    if (rc != 0) throw std::system_error(rc, std::generic_category(), "pthread_rwlock_init");
  }
  ~WriterPreferringRwLock() { pthread_rwlock_destroy(&lock_); }
  WriterPreferringRwLock(const WriterPreferringRwLock&) = delete;
  WriterPreferringRwLock& operator=(const WriterPreferringRwLock&) = delete;

  void lock() { check(pthread_rwlock_wrlock(&lock_)); }
  void unlock() { pthread_rwlock_unlock(&lock_); }
  void lock_shared() { check(pthread_rwlock_rdlock(&lock_)); }
  void unlock_shared() { pthread_rwlock_unlock(&lock_); }

 private:
  static void check(int rc) {
    if (rc != 0) throw std::system_error(rc, std::generic_category(), "pthread_rwlock");
  }
  pthread_rwlock_t lock_;
};

}  // namespace ferry::storage
