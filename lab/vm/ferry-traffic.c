// ferry-traffic: the test VM's sequenced UDP stream, bounded in count and time.
//
//   ferry-traffic send DST_IP PORT RATE COUNT    RATE datagrams/s, COUNT in all, then "sent N"
//   ferry-traffic recv PORT IDLE_MS MAX_S        until IDLE_MS without a datagram (after the first)
//                                                or MAX_S seconds, then one summary line
//
// Each datagram is 64 bytes and starts with its sequence number (8 bytes, big-endian). The receiver
// reports, as they happen: "hole first=A last=B" for sequence numbers skipped, "gap ms=X at=N" for
// an arrival more than 20 ms after the previous one, and at the end
// "recv received=R lost=L dup=D reordered=O max_gap_ms=G last=N". Lost counts sequence numbers
// never received up to the highest seen; a late arrival of a skipped one counts as reordered and
// not lost.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static double now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static int do_send(const char *ip, int port, double rate, long count) {
  int fd = socket(AF_INET, SOCK_DGRAM, 0);
  struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(port)};
  if (fd < 0 || inet_pton(AF_INET, ip, &to.sin_addr) != 1) { fprintf(stderr, "send: bad address %s\n", ip); return 2; }
  unsigned char buf[64] = {0};
  double t0 = now_ms(), interval = 1000.0 / rate;
  long sent = 0, errors = 0;
  for (long seq = 0; seq < count; seq++) {
    double due = t0 + seq * interval, t;
    while ((t = now_ms()) < due) {
      double wait = due - t;
      if (wait > 1) usleep((useconds_t)(wait * 1000 - 500));
    }
    for (int i = 0; i < 8; i++) buf[i] = (unsigned char)(seq >> (56 - 8 * i));
    if (sendto(fd, buf, sizeof buf, 0, (struct sockaddr *)&to, sizeof to) == sizeof buf) sent++;
    else errors++;
  }
  printf("sent %ld errors=%ld\n", sent, errors);
  return 0;
}

static int do_recv(int port, int idle_ms, int max_s) {
  int fd = socket(AF_INET, SOCK_DGRAM, 0);
  int big = 4 << 20;
  setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
  struct sockaddr_in at = {.sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_ANY)};
  if (fd < 0 || bind(fd, (struct sockaddr *)&at, sizeof at) != 0) { perror("recv: bind"); return 2; }
  // One bit per sequence number up to a bound: enough for the lab's runs (minutes at 10k/s).
  const long cap = 16L << 20;
  unsigned char *seen = calloc(cap / 8, 1);
  long received = 0, dup = 0, reordered = 0, next = 0, lost_now = 0;
  double last = 0, max_gap = 0, start = now_ms();
  printf("recv listening %d\n", port);
  fflush(stdout);
  for (;;) {
    struct pollfd p = {.fd = fd, .events = POLLIN};
    int wait = received ? idle_ms : 1000;
    int r = poll(&p, 1, wait);
    if (r == 0 && received) break;
    if (now_ms() - start > max_s * 1000.0) break;
    if (r <= 0) continue;
    unsigned char buf[2048];
    ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n < 8) continue;
    uint64_t seq = 0;
    for (int i = 0; i < 8; i++) seq = seq << 8 | buf[i];
    double t = now_ms();
    if (received && t - last > max_gap) max_gap = t - last;
    if (received && t - last > 20) printf("gap ms=%.1f at=%llu\n", t - last, (unsigned long long)seq);
    last = t;
    if ((long)seq >= cap) continue;
    if (seen[seq / 8] & (1 << (seq % 8))) { dup++; printf("dup seq=%llu\n", (unsigned long long)seq); continue; }
    seen[seq / 8] |= 1 << (seq % 8);
    received++;
    if ((long)seq > next) {
      printf("hole first=%ld last=%llu\n", next, (unsigned long long)seq - 1);
      lost_now += (long)seq - next;
      next = (long)seq + 1;
    } else if ((long)seq < next) {
      reordered++;
      lost_now--;
      printf("late seq=%llu\n", (unsigned long long)seq);
    } else {
      next = (long)seq + 1;
    }
    fflush(stdout);
  }
  printf("recv received=%ld lost=%ld dup=%ld reordered=%ld max_gap_ms=%.1f last=%ld\n", received, lost_now, dup,
         reordered, max_gap, next - 1);
  fflush(stdout);
  return 0;
}

int main(int argc, char **argv) {
  if (argc == 6 && !strcmp(argv[1], "send")) return do_send(argv[2], atoi(argv[3]), atof(argv[4]), atol(argv[5]));
  if (argc == 5 && !strcmp(argv[1], "recv")) return do_recv(atoi(argv[2]), atoi(argv[3]), atoi(argv[4]));
  fprintf(stderr, "usage: ferry-traffic send DST_IP PORT RATE COUNT | recv PORT IDLE_MS MAX_S\n");
  return 2;
}
