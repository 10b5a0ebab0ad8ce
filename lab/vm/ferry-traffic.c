// ferry-traffic: the test VM's sequenced UDP stream, bounded in count and time.
//
//   ferry-traffic send DST_IP PORT RATE COUNT [SIZE]
//                                                RATE datagrams/s, COUNT in all, each SIZE bytes (64 by
//                                                default, at most 9,000), then "sent N errors=E"; SIGINT
//                                                or SIGTERM ends it early, still with that line
//   ferry-traffic recv PORT IDLE_MS MAX_S        until IDLE_MS without a datagram (after the first)
//                                                or MAX_S seconds, then one summary line
//   ferry-traffic geneve NAME VNI REMOTE PORT MAC
//                                                creates the kernel's Geneve device NAME (rtnetlink:
//                                                busybox's ip cannot), then "geneve NAME created"
//   ferry-traffic hostile KIND COUNT VICTIM_IP VICTIM_MAC
//                                                what a hostile guest sends on eth0 (raw frames, bounded
//                                                by COUNT), then "hostile KIND sent N errors=E". KIND:
//                                                big (16,000-byte frames: raise eth0's MTU first),
//                                                spoof-mac (from VICTIM_MAC), spoof-ip (from VICTIM_IP),
//                                                arp-poison (gratuitous ARP claiming VICTIM_IP),
//                                                flood (to random unicast MACs)
//
// Each datagram starts with its sequence number (8 bytes, big-endian). The receiver
// reports, as they happen: "hole first=A last=B" for sequence numbers skipped, "gap ms=X at=N" for
// an arrival more than 20 ms after the previous one, and at the end
// "recv received=R lost=L dup=D reordered=O max_gap_ms=G last=N max_bytes=B" (B: the longest datagram). Lost counts sequence numbers
// never received up to the highest seen; a late arrival of a skipped one counts as reordered and
// not lost.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <linux/if_link.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>

static double now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static volatile sig_atomic_t stop_sending;

static void on_stop(int sig) {
  (void)sig;
  stop_sending = 1;
}

static int do_send(const char *ip, int port, double rate, long count, int size) {
  signal(SIGINT, on_stop);
  signal(SIGTERM, on_stop);
  int fd = socket(AF_INET, SOCK_DGRAM, 0);
  struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons(port)};
  if (fd < 0 || inet_pton(AF_INET, ip, &to.sin_addr) != 1) { fprintf(stderr, "send: bad address %s\n", ip); return 2; }
  static unsigned char buf[9000];
  if (size < 8 || size > (int)sizeof buf) { fprintf(stderr, "send: size %d is not 8..9000\n", size); return 2; }
  double t0 = now_ms(), interval = 1000.0 / rate;
  long sent = 0, errors = 0;
  for (long seq = 0; seq < count && !stop_sending; seq++) {
    double due = t0 + seq * interval, t;
    while ((t = now_ms()) < due && !stop_sending) {
      double wait = due - t;
      if (wait > 1) usleep((useconds_t)(wait * 1000 - 500));
    }
    for (int i = 0; i < 8; i++) buf[i] = (unsigned char)(seq >> (56 - 8 * i));
    if (sendto(fd, buf, size, 0, (struct sockaddr *)&to, sizeof to) == size) sent++;
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
  long received = 0, dup = 0, reordered = 0, next = 0, lost_now = 0, max_bytes = 0;
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
    static unsigned char buf[65536];
    ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n < 8) continue;
    if (n > max_bytes) max_bytes = n;
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
  printf("recv received=%ld lost=%ld dup=%ld reordered=%ld max_gap_ms=%.1f last=%ld max_bytes=%ld\n", received, lost_now, dup,
         reordered, max_gap, next - 1, max_bytes);
  fflush(stdout);
  return 0;
}

// One RTM_NEWLINK request, attributes appended in place.
struct nlreq { struct nlmsghdr n; struct ifinfomsg i; char attrs[512]; };

static struct rtattr *attr(struct nlreq *r, int type, const void *data, int len) {
  struct rtattr *a = (struct rtattr *)((char *)r + NLMSG_ALIGN(r->n.nlmsg_len));
  a->rta_type = type;
  a->rta_len = RTA_LENGTH(len);
  if (len) memcpy(RTA_DATA(a), data, len);
  r->n.nlmsg_len = NLMSG_ALIGN(r->n.nlmsg_len) + RTA_ALIGN(a->rta_len);
  return a;
}

static void nest_end(struct nlreq *r, struct rtattr *nest) {
  nest->rta_len = (char *)r + r->n.nlmsg_len - (char *)nest;
}

static int do_geneve(const char *name, unsigned vni, const char *remote, int port, const char *mac) {
  struct in_addr to;
  unsigned char hw[6];
  if (inet_pton(AF_INET, remote, &to) != 1) { fprintf(stderr, "geneve: bad remote %s\n", remote); return 2; }
  if (sscanf(mac, "%hhx:%hhx:%hhx:%hhx:%hhx:%hhx", &hw[0], &hw[1], &hw[2], &hw[3], &hw[4], &hw[5]) != 6) {
    fprintf(stderr, "geneve: bad MAC %s\n", mac);
    return 2;
  }
  struct nlreq r;
  memset(&r, 0, sizeof r);
  r.n.nlmsg_len = NLMSG_LENGTH(sizeof(struct ifinfomsg));
  r.n.nlmsg_type = RTM_NEWLINK;
  r.n.nlmsg_flags = NLM_F_REQUEST | NLM_F_CREATE | NLM_F_EXCL | NLM_F_ACK;
  r.i.ifi_family = AF_UNSPEC;
  attr(&r, IFLA_IFNAME, name, strlen(name) + 1);
  attr(&r, IFLA_ADDRESS, hw, 6);
  struct rtattr *info = attr(&r, IFLA_LINKINFO, NULL, 0);
  attr(&r, IFLA_INFO_KIND, "geneve", 6);
  struct rtattr *data = attr(&r, IFLA_INFO_DATA, NULL, 0);
  __u32 id = vni;
  __u16 be_port = htons(port);
  attr(&r, IFLA_GENEVE_ID, &id, 4);
  attr(&r, IFLA_GENEVE_REMOTE, &to.s_addr, 4);
  attr(&r, IFLA_GENEVE_PORT, &be_port, 2);
  nest_end(&r, data);
  nest_end(&r, info);
  int fd = socket(AF_NETLINK, SOCK_RAW, NETLINK_ROUTE);
  struct sockaddr_nl kernel = {.nl_family = AF_NETLINK};
  if (fd < 0 || sendto(fd, &r, r.n.nlmsg_len, 0, (struct sockaddr *)&kernel, sizeof kernel) < 0) { perror("geneve: netlink"); return 1; }
  char answer[4096];
  int n = recv(fd, answer, sizeof answer, 0);
  struct nlmsghdr *h = (struct nlmsghdr *)answer;
  if (n < (int)NLMSG_LENGTH(sizeof(struct nlmsgerr)) || h->nlmsg_type != NLMSG_ERROR) { fprintf(stderr, "geneve: no answer\n"); return 1; }
  int err = ((struct nlmsgerr *)NLMSG_DATA(h))->error;
  if (err) { fprintf(stderr, "geneve: %s\n", strerror(-err)); return 1; }
  printf("geneve %s created\n", name);
  return 0;
}

static int parse_mac(const char *text, unsigned char *mac) {
  return sscanf(text, "%hhx:%hhx:%hhx:%hhx:%hhx:%hhx", &mac[0], &mac[1], &mac[2], &mac[3], &mac[4], &mac[5]) == 6;
}

static void put16(unsigned char *b, int v) { b[0] = v >> 8; b[1] = v; }

static uint16_t ip_checksum(const unsigned char *h, int n) {
  uint32_t sum = 0;
  for (int i = 0; i < n; i += 2) sum += (h[i] << 8) | h[i + 1];
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return ~sum;
}

// An IPv4/UDP frame from src (MAC, IP) to dst (MAC, IP) with a payload of `payload` bytes.
static int udp_frame(unsigned char *f, const unsigned char *dst, const unsigned char *src, uint32_t sip, uint32_t dip,
                     int payload) {
  memcpy(f, dst, 6);
  memcpy(f + 6, src, 6);
  put16(f + 12, 0x0800);
  unsigned char *ip = f + 14;
  memset(ip, 0, 28);
  ip[0] = 0x45;
  put16(ip + 2, 28 + payload);
  ip[8] = 64;
  ip[9] = 17;
  memcpy(ip + 12, &sip, 4);
  memcpy(ip + 16, &dip, 4);
  put16(ip + 10, ip_checksum(ip, 20));
  put16(ip + 20, 40000);
  put16(ip + 22, 9);
  put16(ip + 24, 8 + payload);
  memset(ip + 28, 0xAB, payload);
  return 14 + 28 + payload;
}

static int do_hostile(const char *kind, long count, const char *victim_ip, const char *victim_mac) {
  int fd = socket(AF_PACKET, SOCK_RAW, 0);
  struct ifreq ifr = {0};
  strncpy(ifr.ifr_name, "eth0", IFNAMSIZ - 1);
  if (fd < 0 || ioctl(fd, SIOCGIFINDEX, &ifr) != 0) { perror("hostile: eth0"); return 2; }
  int index = ifr.ifr_ifindex;
  if (ioctl(fd, SIOCGIFHWADDR, &ifr) != 0) { perror("hostile: eth0 address"); return 2; }
  unsigned char own[6], victim[6], bcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
  memcpy(own, ifr.ifr_hwaddr.sa_data, 6);
  uint32_t own_ip = 0;
  ifr.ifr_addr.sa_family = AF_INET;
  if (ioctl(fd, SIOCGIFADDR, &ifr) == 0) own_ip = ((struct sockaddr_in *)&ifr.ifr_addr)->sin_addr.s_addr;
  struct in_addr vip;
  if (inet_pton(AF_INET, victim_ip, &vip) != 1 || !parse_mac(victim_mac, victim)) { fprintf(stderr, "hostile: bad victim\n"); return 2; }
  struct sockaddr_ll to = {.sll_family = AF_PACKET, .sll_ifindex = index, .sll_halen = 6};
  static unsigned char f[16384];
  long sent = 0, errors = 0;
  unsigned seed = 1;
  for (long i = 0; i < count; i++) {
    int n;
    if (!strcmp(kind, "big")) {
      n = udp_frame(f, victim, own, vip.s_addr, vip.s_addr, 16000 - 42);
    } else if (!strcmp(kind, "spoof-mac")) {
      n = udp_frame(f, bcast, victim, vip.s_addr, vip.s_addr, 64);
    } else if (!strcmp(kind, "spoof-ip")) {
      n = udp_frame(f, victim, own, vip.s_addr, vip.s_addr, 64);
    } else if (!strcmp(kind, "arp-poison")) {
      memcpy(f, bcast, 6);
      memcpy(f + 6, own, 6);
      put16(f + 12, 0x0806);
      unsigned char *a = f + 14;
      put16(a, 1); put16(a + 2, 0x0800); a[4] = 6; a[5] = 4; put16(a + 6, 1);
      memcpy(a + 8, own, 6); memcpy(a + 14, &vip.s_addr, 4);
      memset(a + 18, 0, 6); memcpy(a + 24, &vip.s_addr, 4);
      n = 14 + 28;
    } else if (!strcmp(kind, "flood")) {
      unsigned char dst[6] = {0x52, 0x54, 0x01, 0, 0, 0};
      seed = seed * 1103515245 + 12345;
      dst[3] = seed >> 16; dst[4] = seed >> 8; dst[5] = seed;
      n = udp_frame(f, dst, own, own_ip, vip.s_addr, 64);
    } else {
      fprintf(stderr, "hostile: kind %s is not big, spoof-mac, spoof-ip, arp-poison or flood\n", kind);
      return 2;
    }
    memcpy(to.sll_addr, f, 6);
    if (sendto(fd, f, n, 0, (struct sockaddr *)&to, sizeof to) == n) sent++;
    else errors++;
  }
  printf("hostile %s sent %ld errors=%ld\n", kind, sent, errors);
  fflush(stdout);
  return 0;
}

int main(int argc, char **argv) {
  if ((argc == 6 || argc == 7) && !strcmp(argv[1], "send"))
    return do_send(argv[2], atoi(argv[3]), atof(argv[4]), atol(argv[5]), argc == 7 ? atoi(argv[6]) : 64);
  if (argc == 5 && !strcmp(argv[1], "recv")) return do_recv(atoi(argv[2]), atoi(argv[3]), atoi(argv[4]));
  if (argc == 7 && !strcmp(argv[1], "geneve")) return do_geneve(argv[2], (unsigned)atol(argv[3]), argv[4], atoi(argv[5]), argv[6]);
  if (argc == 6 && !strcmp(argv[1], "hostile")) return do_hostile(argv[2], atol(argv[3]), argv[4], argv[5]);
  fprintf(stderr, "usage: ferry-traffic send DST_IP PORT RATE COUNT [SIZE] | recv PORT IDLE_MS MAX_S"
                  " | geneve NAME VNI REMOTE PORT MAC | hostile KIND COUNT VICTIM_IP VICTIM_MAC\n");
  return 2;
}
