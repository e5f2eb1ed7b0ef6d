/* A slow disk for tests (tests/integration/test_groups_slow_disk.py): preloaded into a broker
 * (LD_PRELOAD), fsync and fdatasync first sleep for the number of seconds written in the file named
 * by FERRY_SLOW_FSYNC_FILE (read at every call; absent or 0: no delay), then do the real call.
 * Writes and reads are untouched, as on a busy machine whose flushes are slow. This kernel has no
 * dm-delay, and a FUSE file system holds the inode lock through fsync, blocking writes a real disk
 * would take: so the delay goes where the slowness is, into the flushing thread. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static void slow_down(void) {
  const char* path = getenv("FERRY_SLOW_FSYNC_FILE");
  if (!path) return;
  FILE* f = fopen(path, "r");
  if (!f) return;
  double seconds = 0;
  if (fscanf(f, "%lf", &seconds) != 1) seconds = 0;
  fclose(f);
  if (seconds <= 0) return;
  struct timespec ts = {(time_t)seconds, (long)((seconds - (double)(time_t)seconds) * 1e9)};
  while (nanosleep(&ts, &ts) != 0) {
  }
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
