// pcapsend: the live benchmark's fast sender. Sends every record of a pcap
// file once, in order, out of one interface, from a packet(7) TX_RING, as
// fast as it goes or paced to a packet rate. Built by scripts/setup.sh (and by
// the benchmark when missing): cc -O2 -o dist/bench/pcapsend bench/pcapsend.c
//
//   pcapsend -i IFACE [--pps N] FILE.pcap
//
// Why not tcpreplay or trafgen: tcpreplay makes one system call per packet;
// trafgen's TX_RING hands the kernel each frame as page fragments of the ring
// (zero copy), which a veth must then copy into pages of their own
// (skb_copy_ubufs) before the peer sees them. With PACKET_VNET_HDR and a
// virtio_net_hdr whose hdr_len is the whole frame, the kernel copies the
// frame into the skb's linear part instead: no fragments, nothing to copy
// again, and one send() hands over up to the whole ring.
//
// The file is read into memory before the clock starts (tcpreplay's
// --preload-pcap). Each record is sent as recorded (caplen bytes); one
// shorter than an Ethernet header or longer than the interface's MTU allows
// is not sent and counted as failed. A frame the kernel still rejects stops
// the ring (TP_STATUS_WRONG_FORMAT): pcapsend then exits with an error rather
// than spin. Paced sending releases the frames in groups of 16 at the times a
// steady rate gives them (tcpreplay's --pps-multi 16).
//
// Prints one line: "pcapsend: N packets (B bytes) sent in S seconds, P pps,
// F failed". Exit status 0 when it sent the whole file, 1 on an error.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_packet.h>
#include <linux/virtio_net.h>
#include <net/if.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define GROUP 16          /* frames released together when paced */
#define FLUSH_EVERY 256   /* frames queued between two send() calls at top speed */
#define BLOCK_SIZE (1u << 16)
#define RING_BYTES (8u << 20)

static void die(const char *what) {
  fprintf(stderr, "pcapsend: %s: %s\n", what, strerror(errno));
  exit(1);
}

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void wait_until(double t) {
  for (;;) {
    double left = t - now();
    if (left <= 0) return;
    if (left > 200e-6) {
      // Sleep through most of a long gap, spin the rest.
      double nap = left - 100e-6;
      struct timespec ts = { (time_t)nap, (long)((nap - (double)(time_t)nap) * 1e9) };
      nanosleep(&ts, NULL);
    }
  }
}

struct record {
  const uint8_t *data;
  uint32_t len;
};

int main(int argc, char **argv) {
  const char *ifname = NULL, *path = NULL;
  double pps = 0;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "-i") == 0 && i + 1 < argc) ifname = argv[++i];
    else if (strcmp(argv[i], "--pps") == 0 && i + 1 < argc) pps = atof(argv[++i]);
    else if (argv[i][0] != '-' && path == NULL) path = argv[i];
    else {
      fprintf(stderr, "usage: pcapsend -i IFACE [--pps N] FILE.pcap\n");
      return 1;
    }
  }
  if (ifname == NULL || path == NULL) {
    fprintf(stderr, "usage: pcapsend -i IFACE [--pps N] FILE.pcap\n");
    return 1;
  }

  // ---- the file, in memory, and an index of its records
  int fd = open(path, O_RDONLY);
  if (fd < 0) die(path);
  struct stat st;
  if (fstat(fd, &st) < 0) die("fstat");
  size_t size = (size_t)st.st_size;
  if (size < 24) {
    fprintf(stderr, "pcapsend: %s: not a pcap file\n", path);
    return 1;
  }
  const uint8_t *file = mmap(NULL, size, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0);
  if (file == MAP_FAILED) die("mmap of the file");
  close(fd);
  uint32_t magic;
  memcpy(&magic, file, 4);
  int swapped;
  if (magic == 0xa1b2c3d4 || magic == 0xa1b23c4d) swapped = 0;
  else if (magic == 0xd4c3b2a1 || magic == 0x4d3cb2a1) swapped = 1;
  else {
    fprintf(stderr, "pcapsend: %s: not a pcap file (magic %08x)\n", path, magic);
    return 1;
  }
  uint32_t linktype;
  memcpy(&linktype, file + 20, 4);
  if (swapped) linktype = __builtin_bswap32(linktype);
  if ((linktype & 0xffff) != 1) {
    fprintf(stderr, "pcapsend: %s: link type %u, not Ethernet\n", path, linktype);
    return 1;
  }
  size_t count = 0, cap = 1 << 20;
  struct record *records = malloc(cap * sizeof *records);
  uint32_t maxlen = 0;
  if (records == NULL) die("malloc");
  for (size_t off = 24; off + 16 <= size;) {
    uint32_t caplen;
    memcpy(&caplen, file + off + 8, 4);
    if (swapped) caplen = __builtin_bswap32(caplen);
    if (off + 16 + caplen > size) {
      fprintf(stderr, "pcapsend: %s: record %zu is cut short\n", path, count);
      return 1;
    }
    if (count == cap) {
      cap *= 2;
      records = realloc(records, cap * sizeof *records);
      if (records == NULL) die("realloc");
    }
    records[count].data = file + off + 16;
    records[count].len = caplen;
    if (caplen > maxlen) maxlen = caplen;
    count++;
    off += 16 + caplen;
  }
  // Touch every page now, not while the clock runs.
  volatile uint8_t sink = 0;
  for (size_t off = 0; off < size; off += 4096) sink ^= file[off];
  (void)sink;

  // ---- the socket and its ring
  int sock = socket(AF_PACKET, SOCK_RAW, 0);
  if (sock < 0) die("socket(AF_PACKET)");
  int one = 1, version = TPACKET_V2;
  if (setsockopt(sock, SOL_PACKET, PACKET_VERSION, &version, sizeof version) < 0) die("PACKET_VERSION");
  if (setsockopt(sock, SOL_PACKET, PACKET_VNET_HDR, &one, sizeof one) < 0) die("PACKET_VNET_HDR");
  // No qdisc: the frames go straight to the driver (trafgen's default too).
  if (setsockopt(sock, SOL_PACKET, PACKET_QDISC_BYPASS, &one, sizeof one) < 0) die("PACKET_QDISC_BYPASS");
  const unsigned data_off = TPACKET2_HDRLEN - sizeof(struct sockaddr_ll);
  unsigned frame_size = 256;
  while (frame_size < data_off + sizeof(struct virtio_net_hdr) + maxlen) frame_size *= 2;
  if (frame_size > BLOCK_SIZE) {
    fprintf(stderr, "pcapsend: a record of %u bytes is too long\n", maxlen);
    return 1;
  }
  struct tpacket_req req = {
    .tp_block_size = BLOCK_SIZE,
    .tp_block_nr = RING_BYTES / BLOCK_SIZE,
    .tp_frame_size = frame_size,
    .tp_frame_nr = (BLOCK_SIZE / frame_size) * (RING_BYTES / BLOCK_SIZE),
  };
  if (setsockopt(sock, SOL_PACKET, PACKET_TX_RING, &req, sizeof req) < 0) die("PACKET_TX_RING");
  uint8_t *ring = mmap(NULL, RING_BYTES, PROT_READ | PROT_WRITE, MAP_SHARED, sock, 0);
  if (ring == MAP_FAILED) die("mmap of the ring");
  struct sockaddr_ll sll = { .sll_family = AF_PACKET, .sll_protocol = 0, .sll_ifindex = (int)if_nametoindex(ifname) };
  if (sll.sll_ifindex == 0) die(ifname);
  if (bind(sock, (struct sockaddr *)&sll, sizeof sll) < 0) die("bind");
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "%s", ifname);
  if (ioctl(sock, SIOCGIFMTU, &ifr) < 0) die("SIOCGIFMTU");
  const uint32_t mtu = (uint32_t)ifr.ifr_mtu;

  // ---- send
  const unsigned frames = req.tp_frame_nr;
  unsigned slot = 0;
  size_t failed = 0, queued_since_flush = 0;
  uint64_t bytes = 0;
  const double start = now();
  for (size_t i = 0; i < count; i++) {
    if (pps > 0 && i % GROUP == 0) {
      if (queued_since_flush > 0) {
        if (send(sock, NULL, 0, MSG_DONTWAIT) < 0 && errno != EAGAIN && errno != ENOBUFS) die("send");
        queued_since_flush = 0;
      }
      wait_until(start + (double)i / pps);
    }
    if (records[i].len < 14 || records[i].len > 14 + mtu) {
      failed++;
      continue;
    }
    struct tpacket2_hdr *h = (struct tpacket2_hdr *)(ring + (size_t)slot * frame_size);
    for (;;) {
      uint32_t status = __atomic_load_n(&h->tp_status, __ATOMIC_ACQUIRE);
      if (status == TP_STATUS_AVAILABLE) break;
      if (status & TP_STATUS_WRONG_FORMAT) {
        fprintf(stderr, "pcapsend: the kernel refused a frame (TP_STATUS_WRONG_FORMAT)\n");
        return 1;
      }
      // The ring is full: hand it over and wait for the kernel to free slots.
      if (send(sock, NULL, 0, 0) < 0 && errno != EAGAIN && errno != ENOBUFS) die("send");
      queued_since_flush = 0;
    }
    uint8_t *out = (uint8_t *)h + data_off;
    struct virtio_net_hdr *vh = (struct virtio_net_hdr *)out;
    memset(vh, 0, sizeof *vh);
    vh->hdr_len = (uint16_t)records[i].len; // the whole frame into the linear part
    memcpy(out + sizeof *vh, records[i].data, records[i].len);
    h->tp_len = (uint32_t)(sizeof *vh + records[i].len);
    h->tp_snaplen = h->tp_len;
    __atomic_store_n(&h->tp_status, TP_STATUS_SEND_REQUEST, __ATOMIC_RELEASE);
    bytes += records[i].len;
    slot = slot + 1 == frames ? 0 : slot + 1;
    if (++queued_since_flush >= (pps > 0 ? GROUP : FLUSH_EVERY)) {
      if (send(sock, NULL, 0, MSG_DONTWAIT) < 0 && errno != EAGAIN && errno != ENOBUFS) die("send");
      queued_since_flush = 0;
    }
  }
  // Until every frame is sent (send() without MSG_DONTWAIT waits for them), then count the rejected ones.
  for (int tries = 0; tries < 1000; tries++) {
    if (send(sock, NULL, 0, 0) >= 0) break;
    if (errno != EAGAIN && errno != ENOBUFS) die("send");
    usleep(1000);
  }
  const double seconds = now() - start;
  for (unsigned s = 0; s < frames; s++) {
    struct tpacket2_hdr *h = (struct tpacket2_hdr *)(ring + (size_t)s * frame_size);
    uint32_t status = __atomic_load_n(&h->tp_status, __ATOMIC_ACQUIRE);
    if (status != TP_STATUS_AVAILABLE) {
      fprintf(stderr, "pcapsend: a frame was not sent (slot %u, status %#x)\n", s, status);
      return 1;
    }
  }
  const size_t sent = count - failed;
  printf("pcapsend: %zu packets (%llu bytes) sent in %.3f seconds, %.1f pps, %zu failed\n", sent, (unsigned long long)bytes,
         seconds, (double)sent / seconds, failed);
  return 0;
}
