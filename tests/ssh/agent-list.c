/* agent-list: asks the SSH agent at $SSH_AUTH_SOCK for its identities and prints the comment
 * of each, one per line (as `ssh-add -l` names them); with "add", asks it to add a key instead
 * and prints the agent's answer type (5: failure). Built statically by the tests and run inside
 * build containers, whose base image has no ssh client. Exit 1 when the agent is unreachable. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static int full(int fd, void* buf, size_t n, int writing) {
  char* p = buf;
  while (n > 0) {
    ssize_t r = writing ? write(fd, p, n) : read(fd, p, n);
    if (r <= 0) return -1;
    p += r;
    n -= (size_t)r;
  }
  return 0;
}

static uint32_t be32(const unsigned char* p) {
  return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

int main(int argc, char** argv) {
  const char* path = getenv("SSH_AUTH_SOCK");
  if (path == NULL) return fprintf(stderr, "SSH_AUTH_SOCK not set\n"), 1;
  struct sockaddr_un a = {.sun_family = AF_UNIX};
  strncpy(a.sun_path, path, sizeof(a.sun_path) - 1);
  int fd = socket(AF_UNIX, SOCK_STREAM, 0);
  if (fd < 0 || connect(fd, (struct sockaddr*)&a, sizeof(a)) != 0) {
    perror("connect");
    return 1;
  }
  /* 11: REQUEST_IDENTITIES; 17: ADD_IDENTITY (an empty, invalid one: its refusal is the point) */
  unsigned char req[5] = {0, 0, 0, 1, 11};
  if (argc > 1 && strcmp(argv[1], "add") == 0) req[4] = 17;
  if (full(fd, req, 5, 1) != 0) return 1;
  unsigned char len[4];
  if (full(fd, len, 4, 0) != 0) return 1;
  uint32_t n = be32(len);
  if (n == 0 || n > (1 << 20)) return 1;
  unsigned char* m = malloc(n);
  if (full(fd, m, n, 0) != 0) return 1;
  if (req[4] == 17) return printf("%d\n", m[0]), 0;
  if (m[0] != 12 || n < 5) return fprintf(stderr, "unexpected answer %d\n", m[0]), 1;
  uint32_t count = be32(m + 1), at = 5;
  for (uint32_t i = 0; i < count && at + 4 <= n; ++i) {
    uint32_t bl = be32(m + at);
    at += 4 + bl;
    if (at + 4 > n) break;
    uint32_t cl = be32(m + at);
    at += 4;
    if (at + cl > n) break;
    printf("%.*s\n", (int)cl, (const char*)(m + at));
    at += cl;
  }
  return 0;
}
