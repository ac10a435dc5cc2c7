// Netlink socket diagnostics for the built-in flow source.
//
//  - sockDiagDump(): one SOCK_DIAG_BY_FAMILY dump per family (AF_INET,
//    AF_INET6) of every TCP socket in every state, on libuv's thread pool.
//  - sockDiagLookup(queries): exact lookups of 4-tuples (the kernel's
//    inet_diag "dump one" path, which finds established, request and
//    TIME_WAIT sockets by hash), both orientations, on the thread pool.
//  - SocketWatch: a thread that listens to the SKNLGRP_INET{,6}_TCP_DESTROY
//    multicast groups, where the kernel reports every full TCP socket it frees,
//    and hands the reports to JS in batches.
//
// All three produce the same kSocketRecordBytes (48) records (layout.h, README.md):
//   0 u32 LE cookie low | 4 u32 LE cookie high | 8 u16 LE local port |
//   10 u16 LE remote port | 12 u8 TCP state | 13 u8 family |
//   14 u8 inet_diag timer | 15 u8 zero |
//   16 local address (16 bytes) | 32 remote address (16 bytes)
// Addresses are in network byte order, IPv4 as IPv4-mapped IPv6.
#include "sockdiag.h"

#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include "bytes.h"
#include "layout.h"

namespace ph {
namespace {

// The kernel builds dump replies of at most ~32 KiB; 64 KiB never truncates.
constexpr size_t kRecvBytes = 64u << 10;
// Destroy reports can come in bursts; a large receive buffer absorbs them
// while the thread waits for JS (SO_RCVBUFFORCE needs CAP_NET_ADMIN).
constexpr int kWatchRcvBuf = 8 << 20;
constexpr size_t kWatchQueue = 64;
constexpr size_t kWatchFlushRecords = 16384;
constexpr uint8_t kTcpListen = 10;  // TCP_LISTEN in the kernel's state enum

using Bytes = std::vector<uint8_t>;

class DiagError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

std::string ErrnoText(const char* what, int err) { return std::string(what) + ": " + std::strerror(err); }

inline void PutU16LE(uint8_t* at, uint16_t v) {
  at[0] = static_cast<uint8_t>(v);
  at[1] = static_cast<uint8_t>(v >> 8);
}

inline uint16_t GetU16LE(const uint8_t* at) { return static_cast<uint16_t>(at[0] | (at[1] << 8)); }

bool IsV4Mapped(const uint8_t a[16]) {
  static const uint8_t prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  return std::memcmp(a, prefix, 12) == 0;
}

// The kernel's address words (network order) as 16 bytes, IPv4 mapped.
void Address16(uint8_t family, const __be32 words[4], uint8_t out[16]) {
  if (family == AF_INET) {
    std::memset(out, 0, 10);
    out[10] = 0xff;
    out[11] = 0xff;
    std::memcpy(out + 12, &words[0], 4);
  } else {
    std::memcpy(out, words, 16);
  }
}

void FillRecord(const inet_diag_msg* m, uint8_t* r) {
  std::memset(r, 0, kSocketRecordBytes);
  PutU32LE(r, m->id.idiag_cookie[0]);
  PutU32LE(r + 4, m->id.idiag_cookie[1]);
  PutU16LE(r + 8, ntohs(m->id.idiag_sport));
  PutU16LE(r + 10, ntohs(m->id.idiag_dport));
  r[12] = m->idiag_state;
  r[13] = m->idiag_family;
  // 3 for a time-wait socket, whatever its state says: one that left
  // FIN_WAIT1 with no FIN from its peer yet is reported as FIN_WAIT2.
  r[14] = m->idiag_timer;
  Address16(m->idiag_family, m->id.idiag_src, r + 16);
  Address16(m->idiag_family, m->id.idiag_dst, r + 32);
}

void AppendRecord(Bytes& out, const inet_diag_msg* m) {
  size_t at = out.size();
  out.resize(at + kSocketRecordBytes);
  FillRecord(m, out.data() + at);
}

// Owns one NETLINK_SOCK_DIAG socket.
class NetlinkSocket {
 public:
  explicit NetlinkSocket(uint32_t groups = 0) {
    fd_ = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
    if (fd_ < 0) throw DiagError(ErrnoText("cannot open a NETLINK_SOCK_DIAG socket", errno));
    sockaddr_nl local{};
    local.nl_family = AF_NETLINK;
    local.nl_groups = groups;
    if (bind(fd_, reinterpret_cast<sockaddr*>(&local), sizeof local) != 0) {
      int err = errno;
      close(fd_);
      fd_ = -1;
      throw DiagError(ErrnoText(groups != 0 ? "cannot join the socket-destroy groups" : "cannot bind the netlink socket", err));
    }
  }
  ~NetlinkSocket() {
    if (fd_ >= 0) close(fd_);
  }
  NetlinkSocket(const NetlinkSocket&) = delete;
  NetlinkSocket& operator=(const NetlinkSocket&) = delete;

  int fd() const { return fd_; }
  // Hands the descriptor over; the object no longer closes it.
  int Release() { return std::exchange(fd_, -1); }

  void Send(const inet_diag_req_v2& req, uint16_t flags, uint32_t seq) {
    struct {
      nlmsghdr header;
      inet_diag_req_v2 req;
    } message{};
    message.header.nlmsg_len = sizeof message;
    message.header.nlmsg_type = SOCK_DIAG_BY_FAMILY;
    message.header.nlmsg_flags = flags;
    message.header.nlmsg_seq = seq;
    message.req = req;
    sockaddr_nl kernel{};
    kernel.nl_family = AF_NETLINK;
    for (;;) {
      ssize_t n = sendto(fd_, &message, sizeof message, 0, reinterpret_cast<sockaddr*>(&kernel), sizeof kernel);
      if (n == static_cast<ssize_t>(sizeof message)) return;
      if (n < 0 && errno == EINTR) continue;
      throw DiagError(ErrnoText("netlink send failed", n < 0 ? errno : EIO));
    }
  }

  // One datagram into buf; returns its length, or 0 when SO_RCVTIMEO expired.
  size_t Receive(uint8_t* buf, size_t size) {
    for (;;) {
      ssize_t n = recv(fd_, buf, size, MSG_TRUNC);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return 0;
      if (n < 0) throw DiagError(ErrnoText("netlink receive failed", errno));
      if (static_cast<size_t>(n) > size) throw DiagError("netlink reply truncated");
      return static_cast<size_t>(n);
    }
  }

 private:
  int fd_ = -1;
};

inet_diag_req_v2 BaseRequest(uint8_t family) {
  inet_diag_req_v2 req{};
  req.sdiag_family = family;
  req.sdiag_protocol = IPPROTO_TCP;
  req.idiag_ext = 0;  // the bare inet_diag_msg: 4-tuple, state and cookie are all we need
  req.idiag_states = ~0u;  // every state, TIME_WAIT and SYN_RECV (request sockets) included
  return req;
}

// Appends every TCP socket of one family to out.
void DumpFamily(NetlinkSocket& nl, uint8_t family, uint32_t seq, Bytes& out, Bytes& buf) {
  inet_diag_req_v2 req = BaseRequest(family);
  req.id.idiag_cookie[0] = INET_DIAG_NOCOOKIE;
  req.id.idiag_cookie[1] = INET_DIAG_NOCOOKIE;
  nl.Send(req, NLM_F_REQUEST | NLM_F_DUMP, seq);
  for (;;) {
    size_t len = nl.Receive(buf.data(), buf.size());
    if (len == 0) throw DiagError("TCP socket dump: no reply from the kernel");
    int remaining = static_cast<int>(len);
    for (auto* h = reinterpret_cast<nlmsghdr*>(buf.data()); NLMSG_OK(h, remaining); h = NLMSG_NEXT(h, remaining)) {
      if (h->nlmsg_seq != seq) continue;
      if (h->nlmsg_type == NLMSG_DONE) return;
      if (h->nlmsg_type == NLMSG_ERROR) {
        const auto* e = static_cast<const nlmsgerr*>(NLMSG_DATA(h));
        if (h->nlmsg_len < NLMSG_LENGTH(sizeof(nlmsgerr))) throw DiagError("short netlink error message");
        if (e->error == 0) continue;
        throw DiagError(ErrnoText(family == AF_INET ? "TCP socket dump (IPv4) failed" : "TCP socket dump (IPv6) failed", -e->error));
      }
      if (h->nlmsg_type != SOCK_DIAG_BY_FAMILY || h->nlmsg_len < NLMSG_LENGTH(sizeof(inet_diag_msg))) continue;
      AppendRecord(out, static_cast<const inet_diag_msg*>(NLMSG_DATA(h)));
    }
  }
}

// Exact lookup of the socket whose local end is (local, lport) and remote end
// (remote, rport). Fills record and returns true when the kernel has it. The
// kernel's lookup falls back to listeners, so the answer must match the whole
// 4-tuple and must not be a listener.
bool LookupOne(NetlinkSocket& nl, const uint8_t local[16], uint16_t lport, const uint8_t remote[16], uint16_t rport,
               uint32_t seq, Bytes& buf, uint8_t* record) {
  const bool v4 = IsV4Mapped(local) && IsV4Mapped(remote);
  inet_diag_req_v2 req = BaseRequest(v4 ? AF_INET : AF_INET6);
  req.id.idiag_sport = htons(lport);
  req.id.idiag_dport = htons(rport);
  if (v4) {
    std::memcpy(&req.id.idiag_src[0], local + 12, 4);
    std::memcpy(&req.id.idiag_dst[0], remote + 12, 4);
  } else {
    std::memcpy(req.id.idiag_src, local, 16);
    std::memcpy(req.id.idiag_dst, remote, 16);
  }
  req.id.idiag_cookie[0] = INET_DIAG_NOCOOKIE;
  req.id.idiag_cookie[1] = INET_DIAG_NOCOOKIE;
  nl.Send(req, NLM_F_REQUEST, seq);
  // The kernel answers inside sendto, so the reply is queued by now; a stale
  // reply (other seq) is skipped. SO_RCVTIMEO bounds the wait regardless.
  for (;;) {
    size_t len = nl.Receive(buf.data(), buf.size());
    if (len == 0) return false;  // no reply within SO_RCVTIMEO
    int remaining = static_cast<int>(len);
    for (auto* h = reinterpret_cast<nlmsghdr*>(buf.data()); NLMSG_OK(h, remaining); h = NLMSG_NEXT(h, remaining)) {
      if (h->nlmsg_seq != seq) continue;
      if (h->nlmsg_type == NLMSG_ERROR) {
        if (h->nlmsg_len < NLMSG_LENGTH(sizeof(nlmsgerr))) throw DiagError("short netlink error message");
        const auto* e = static_cast<const nlmsgerr*>(NLMSG_DATA(h));
        if (e->error == 0 || e->error == -ENOENT) return false;
        throw DiagError(ErrnoText("TCP socket lookup failed", -e->error));
      }
      if (h->nlmsg_type != SOCK_DIAG_BY_FAMILY || h->nlmsg_len < NLMSG_LENGTH(sizeof(inet_diag_msg))) return false;
      FillRecord(static_cast<const inet_diag_msg*>(NLMSG_DATA(h)), record);
      const bool same = GetU16LE(record + 8) == lport && GetU16LE(record + 10) == rport &&
                        std::memcmp(record + 16, local, 16) == 0 && std::memcmp(record + 32, remote, 16) == 0;
      if (same && record[12] != kTcpListen) return true;
      std::memset(record, 0, kSocketRecordBytes);
      return false;
    }
  }
}

// Hands a vector's memory to a Buffer without copying.
Napi::Value ToBuffer(Napi::Env env, Bytes&& bytes) {
  if (bytes.empty()) return Napi::Buffer<uint8_t>::New(env, 0);
  auto* owned = new Bytes(std::move(bytes));
  return Napi::Buffer<uint8_t>::NewOrCopy(env, owned->data(), owned->size(), [](Napi::Env, uint8_t*, Bytes* b) { delete b; },
                                          owned);
}

// Base for the two promise-returning workers: Execute fills out_ or throws DiagError.
class PromiseWorker : public Napi::AsyncWorker {
 public:
  PromiseWorker(Napi::Env env, const char* name) : Napi::AsyncWorker(env, name), deferred_(Napi::Promise::Deferred::New(env)) {}
  Napi::Promise Promise() { return deferred_.Promise(); }

 protected:
  virtual void Work() = 0;
  void Execute() override {
    try {
      Work();
    } catch (const DiagError& e) {
      SetError(e.what());
    } catch (const std::bad_alloc&) {
      SetError("out of memory");
    }
  }
  void OnOK() override { deferred_.Resolve(ToBuffer(Env(), std::move(out_))); }
  void OnError(const Napi::Error& error) override { deferred_.Reject(error.Value()); }

  Bytes out_;

 private:
  Napi::Promise::Deferred deferred_;
};

class DumpWorker : public PromiseWorker {
 public:
  explicit DumpWorker(Napi::Env env) : PromiseWorker(env, "packet-headers sockdiag dump") {}

 protected:
  void Work() override {
    NetlinkSocket nl;
    timeval timeout{5, 0};  // a dump never stalls the thread pool for long
    setsockopt(nl.fd(), SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    Bytes buf(kRecvBytes);
    out_.reserve(1024 * kSocketRecordBytes);
    DumpFamily(nl, AF_INET, 1, out_, buf);
    DumpFamily(nl, AF_INET6, 2, out_, buf);
  }
};

class LookupWorker : public PromiseWorker {
 public:
  LookupWorker(Napi::Env env, Bytes queries) : PromiseWorker(env, "packet-headers sockdiag lookup"), queries_(std::move(queries)) {}

 protected:
  void Work() override {
    NetlinkSocket nl;
    timeval timeout{1, 0};
    setsockopt(nl.fd(), SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    Bytes buf(kRecvBytes);
    const size_t count = queries_.size() / kSocketQueryBytes;
    out_.assign(count * kSocketRecordBytes, 0);
    uint32_t seq = 0;
    for (size_t i = 0; i < count; i++) {
      const uint8_t* q = queries_.data() + i * kSocketQueryBytes;
      const uint8_t* a = q;
      const uint8_t* b = q + 16;
      const uint16_t portA = GetU16LE(q + 32);
      const uint16_t portB = GetU16LE(q + 34);
      uint8_t* record = out_.data() + i * kSocketRecordBytes;
      // Which end is local is not known: try A as the local end, then B.
      if (LookupOne(nl, a, portA, b, portB, ++seq, buf, record)) continue;
      LookupOne(nl, b, portB, a, portA, ++seq, buf, record);
    }
  }

 private:
  Bytes queries_;
};

// ---- socket-destroy watcher ------------------------------------------------

// Shared by the JS object and the watch thread; whoever goes last closes the fds.
struct WatchControl {
  int netlinkFd = -1;
  int wakeFd = -1;
  std::atomic<bool> stop{false};
  ~WatchControl() {
    if (netlinkFd >= 0) close(netlinkFd);
    if (wakeFd >= 0) close(wakeFd);
  }
  void RequestStop() {
    if (stop.exchange(true)) return;
    uint64_t one = 1;
    ssize_t ignored = write(wakeFd, &one, sizeof one);
    (void)ignored;
  }
};

struct WatchMessage {
  Bytes records;
  uint32_t overruns = 0;
};

class WatchSession;
void WatchCallJs(Napi::Env env, Napi::Function unused, WatchSession* session, WatchMessage* message);
using WatchTsfn = Napi::TypedThreadSafeFunction<WatchSession, WatchMessage, WatchCallJs>;

class WatchSession {
 public:
  WatchSession(std::shared_ptr<WatchControl> control, Napi::Function onBatch)
      : control_(std::move(control)), onBatch_(Napi::Persistent(onBatch)) {}

  void Start(Napi::Env env) {
    tsfn_ = WatchTsfn::New(env, "packet-headers socket watch", kWatchQueue, 1, this,
                           [](Napi::Env, void*, WatchSession* self) { self->Finalize(); });
    // The daemon decides when to exit; a watch alone does not keep the process alive.
    tsfn_.Unref(env);
    try {
      thread_ = std::thread(&WatchSession::Run, this);
    } catch (const std::system_error& e) {
      tsfn_.Release();
      throw Napi::Error::New(env, std::string("cannot start socket watch thread: ") + e.what());
    }
  }

  void Deliver(Napi::Env env, WatchMessage& message) {
    Napi::Value records = ToBuffer(env, std::move(message.records));
    onBatch_.Call({records, Napi::Number::New(env, message.overruns)});
  }

 private:
  void Finalize() {
    control_->RequestStop();
    if (thread_.joinable()) thread_.join();
    delete this;
  }

  // Watch thread.
  void Run() {
    Bytes buf(kRecvBytes);
    WatchMessage pending;
    pollfd fds[2] = {{control_->netlinkFd, POLLIN, 0}, {control_->wakeFd, POLLIN, 0}};
    while (!control_->stop.load(std::memory_order_acquire)) {
      int r = poll(fds, 2, -1);
      if (r < 0) {
        if (errno == EINTR) continue;
        break;
      }
      if (fds[1].revents != 0) break;
      bool broken = false;
      for (;;) {
        ssize_t n = recv(control_->netlinkFd, buf.data(), buf.size(), MSG_DONTWAIT);
        if (n < 0) {
          if (errno == EINTR) continue;
          if (errno == EAGAIN || errno == EWOULDBLOCK) break;
          if (errno == ENOBUFS) {  // the receive buffer overflowed: reports were lost
            pending.overruns++;
            continue;
          }
          broken = true;
          break;
        }
        int remaining = static_cast<int>(n);
        for (auto* h = reinterpret_cast<nlmsghdr*>(buf.data()); NLMSG_OK(h, remaining); h = NLMSG_NEXT(h, remaining)) {
          if (h->nlmsg_type != SOCK_DIAG_BY_FAMILY || h->nlmsg_len < NLMSG_LENGTH(sizeof(inet_diag_msg))) continue;
          AppendRecord(pending.records, static_cast<const inet_diag_msg*>(NLMSG_DATA(h)));
        }
        if (pending.records.size() >= kWatchFlushRecords * kSocketRecordBytes && !Flush(pending)) return Finish();
      }
      if (!Flush(pending) || broken) break;
    }
    Finish();
  }

  // Watch thread: hands what was collected to JS (blocking while the queue is full).
  bool Flush(WatchMessage& pending) {
    if (pending.records.empty() && pending.overruns == 0) return true;
    auto* message = new WatchMessage(std::move(pending));
    pending = WatchMessage();
    if (tsfn_.BlockingCall(message) != napi_ok) {
      delete message;
      return false;
    }
    return true;
  }

  void Finish() { tsfn_.Release(); }

  std::shared_ptr<WatchControl> control_;
  Napi::FunctionReference onBatch_;
  WatchTsfn tsfn_;
  std::thread thread_;
};

void WatchCallJs(Napi::Env env, Napi::Function, WatchSession* session, WatchMessage* message) {
  std::unique_ptr<WatchMessage> owned(message);
  if (env == nullptr || owned == nullptr) return;
  session->Deliver(env, *owned);
}

class SocketWatch : public Napi::ObjectWrap<SocketWatch> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "SocketWatch",
                       {InstanceMethod<&SocketWatch::Start>("start"), InstanceMethod<&SocketWatch::Stop>("stop")});
  }

  explicit SocketWatch(const Napi::CallbackInfo& info) : Napi::ObjectWrap<SocketWatch>(info) {
    control_ = std::make_shared<WatchControl>();
    try {
      NetlinkSocket nl((1u << (SKNLGRP_INET_TCP_DESTROY - 1)) | (1u << (SKNLGRP_INET6_TCP_DESTROY - 1)));
      int size = kWatchRcvBuf;
      if (setsockopt(nl.fd(), SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof size) != 0) {
        setsockopt(nl.fd(), SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
      }
      control_->netlinkFd = nl.Release();
    } catch (const DiagError& e) {
      throw Napi::Error::New(info.Env(), e.what());
    }
    control_->wakeFd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (control_->wakeFd < 0) throw Napi::Error::New(info.Env(), ErrnoText("eventfd", errno));
  }

 private:
  void Start(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!info[0].IsFunction()) throw Napi::TypeError::New(env, "start(onBatch) needs a function");
    if (started_) throw Napi::Error::New(env, "socket watch already started");
    if (control_->stop.load()) throw Napi::Error::New(env, "socket watch was stopped");
    started_ = true;
    auto* session = new WatchSession(control_, info[0].As<Napi::Function>());
    session->Start(env);  // on failure the TSFN finalizer frees the session
  }

  void Stop(const Napi::CallbackInfo&) { control_->RequestStop(); }

  std::shared_ptr<WatchControl> control_;
  bool started_ = false;
};

}  // namespace

Napi::Value SockDiagDump(const Napi::CallbackInfo& info) {
  auto* worker = new DumpWorker(info.Env());
  Napi::Promise promise = worker->Promise();
  worker->Queue();
  return promise;
}

Napi::Value SockDiagLookup(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsBuffer()) throw Napi::TypeError::New(env, "sockDiagLookup(queries) needs a Buffer");
  auto queries = info[0].As<Napi::Buffer<uint8_t>>();
  if (queries.Length() % kSocketQueryBytes != 0) {
    throw Napi::RangeError::New(env, "sockDiagLookup: the queries' length must be a multiple of " + std::to_string(kSocketQueryBytes));
  }
  auto* worker = new LookupWorker(env, Bytes(queries.Data(), queries.Data() + queries.Length()));
  Napi::Promise promise = worker->Promise();
  worker->Queue();
  return promise;
}

Napi::Function DefineSocketWatchClass(Napi::Env env) { return SocketWatch::Define(env); }

}  // namespace ph
