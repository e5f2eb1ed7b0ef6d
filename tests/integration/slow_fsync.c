/* A slow disk for tests (tests/integration/test_groups_slow_disk.py): preloaded into a broker
 * (LD_PRELOAD), fsync and fdatasync first sleep for the number of seconds written in the file named
 * by FERRY_SLOW_FSYNC_FILE (read at every call; absent or 0: no delay), then do the real call.
 * Writes and reads are untouched, as on a busy machine whose flushes are slow. This kernel has no
 * dm-delay, and a FUSE file system holds the inode lock through fsync, blocking writes a real disk
 * would take: so the delay goes where the slowness is, into the flushing thread.
 * With FERRY_SLOW_FSYNC_MAX_FILE set, the most delayed calls ever in progress at once is written
 * there (whether a broker's fsyncs overlap). */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static int in_progress, most;

/* Counts a delayed call in (+1) or out (-1), recording a new maximum. */
static void count(int delta) {
  int now = __atomic_add_fetch(&in_progress, delta, __ATOMIC_SEQ_CST);
  const char* path = getenv("FERRY_SLOW_FSYNC_MAX_FILE");
  int seen = __atomic_load_n(&most, __ATOMIC_SEQ_CST);
  while (delta > 0 && now > seen) {
    if (__atomic_compare_exchange_n(&most, &seen, now, 0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST)) {
      FILE* f = path ? fopen(path, "w") : NULL;
      if (f) {
        fprintf(f, "%d\n", now);
        fclose(f);
      }
      break;
    }
  }
}

static void slow_down(void) {
  const char* path = getenv("FERRY_SLOW_FSYNC_FILE");
  if (!path) return;
  FILE* f = fopen(path, "r");
  if (!f) return;
  double seconds = 0;
  if (fscanf(f, "%lf", &seconds) != 1) seconds = 0;
  fclose(f);
  if (seconds <= 0) return;
  count(+1);
  struct timespec ts = {(time_t)seconds, (long)((seconds - (double)(time_t)seconds) * 1e9)};
  while (nanosleep(&ts, &ts) != 0) {
  }
  count(-1);
}

int fsync(int fd) {
  static int (*real)(int);
  if (!real) real = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
  slow_down();
  return real(fd);
}

int fdatasync(int fd) {
  static int (*real)(int);
  if (!real) real = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");
  slow_down();
  return real(fd);
}
