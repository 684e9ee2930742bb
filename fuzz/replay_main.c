/* replay_main: runs a libFuzzer target over every file in a corpus
 * directory without libFuzzer, so ctest (and the sanitizer build) replays
 * the seeds and every crash input ever committed. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int replay_file(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    perror(path);
    return -1;
  }
  uint8_t *buf = NULL;
  size_t len = 0, cap = 0;
  for (;;) {
    if (len == cap) {
      cap = cap ? cap * 2 : 4096;
      uint8_t *n = realloc(buf, cap);
      if (!n) {
        free(buf);
        fclose(f);
        return -1;
      }
      buf = n;
    }
    size_t got = fread(buf + len, 1, cap - len, f);
    if (got == 0)
      break;
    len += got;
  }
  fclose(f);
  LLVMFuzzerTestOneInput(buf, len);
  free(buf);
  return 0;
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: %s CORPUS_DIR\n", argv[0]);
    return 2;
  }
  DIR *d = opendir(argv[1]);
  if (!d) {
    perror(argv[1]);
    return 1;
  }
  int n = 0;
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    if (e->d_name[0] == '.')
      continue;
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", argv[1], e->d_name);
    if (replay_file(path) != 0) {
      closedir(d);
      return 1;
    }
    n++;
  }
  closedir(d);
  /* An empty corpus proves nothing: fail so it gets seeds. */
  if (n == 0) {
    fprintf(stderr, "%s: no corpus files\n", argv[1]);
    return 1;
  }
  printf("replayed %d inputs from %s\n", n, argv[1]);
  return 0;
}
