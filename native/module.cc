// Module entry point and the stateless helpers: listInterfaces, mallocTrim,
// raiseOpenFileLimit, libVersion, publishStaged, and the `layout` object of layout.h's constants
// (socket diagnostics live in sockdiag.cc). The module keeps no
// global state, so it is safe to load in several environments (worker threads).
#include <arpa/inet.h>
#include <malloc.h>
#include <netinet/in.h>
#include <pcap/pcap.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <cstring>
#include <string>

#include <napi.h>

#include "capture.h"
#include "files.h"
#include "flowstore.h"
#include "layout.h"
#include "sockdiag.h"

namespace ph {
namespace {

// Pseudo devices that carry no host TCP traffic of their own ("any" would
// duplicate every packet of the real interfaces).
bool IsPseudoDevice(const std::string& name) {
  auto startsWith = [&](const char* prefix) { return name.rfind(prefix, 0) == 0; };
  return name == "any" || name == "nflog" || name == "nfqueue" || startsWith("dbus") || startsWith("bluetooth") ||
         startsWith("usbmon");
}

// inet_ntop of an IPv4/IPv6 socket address; empty for other families. IPv6
// addresses come without the zone ("%eth0"): sin6_scope_id is not printed.
std::string AddressText(const sockaddr* sa) {
  if (sa == nullptr) return {};
  char text[INET6_ADDRSTRLEN] = "";
  if (sa->sa_family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(sa);
    if (inet_ntop(AF_INET, &in->sin_addr, text, sizeof text) != nullptr) return text;
  } else if (sa->sa_family == AF_INET6) {
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(sa);
    if (inet_ntop(AF_INET6, &in6->sin6_addr, text, sizeof text) != nullptr) return text;
  }
  return {};
}

Napi::Value ListInterfaces(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  char errbuf[PCAP_ERRBUF_SIZE] = "";
  pcap_if_t* devices = nullptr;
  if (pcap_findalldevs(&devices, errbuf) != 0) {
    Napi::Error error = Napi::Error::New(env, std::string("cannot list interfaces: ") + errbuf);
    error.Set("code", Napi::String::New(env, "PH_ERR_CAPTURE"));
    throw error;
  }
  Napi::Array result = Napi::Array::New(env);
  uint32_t count = 0;
  for (pcap_if_t* d = devices; d != nullptr; d = d->next) {
    std::string name = d->name;
    if (IsPseudoDevice(name)) continue;
    Napi::Array addresses = Napi::Array::New(env);
    uint32_t n = 0;
    for (pcap_addr_t* a = d->addresses; a != nullptr; a = a->next) {
      std::string text = AddressText(a->addr);
      if (!text.empty()) addresses.Set(n++, text);
    }
    Napi::Object entry = Napi::Object::New(env);
    entry.Set("name", name);
    entry.Set("up", (d->flags & PCAP_IF_UP) != 0);
    entry.Set("running", (d->flags & PCAP_IF_RUNNING) != 0);
    entry.Set("loopback", (d->flags & PCAP_IF_LOOPBACK) != 0);
    entry.Set("addresses", addresses);
    result.Set(count++, entry);
  }
  pcap_freealldevs(devices);
  return result;
}

// Batches are many short-lived ~1 MiB allocations (above glibc's mmap
// threshold at first, then below it once the threshold adapts); after a burst
// glibc may keep the freed heap. The daemon calls this when idle.
Napi::Value MallocTrim(const Napi::CallbackInfo& info) {
#ifdef __GLIBC__
  return Napi::Boolean::New(info.Env(), malloc_trim(0) != 0);
#else
  return Napi::Boolean::New(info.Env(), false);
#endif
}

// Raises the soft limit on open files to the hard one, as Go's runtime does
// at start: every stream-mode file and every file waiting for its syncfs holds
// a descriptor, and systemd's default soft limit (1,024) is far below a busy
// server's open flows. Returns [soft, hard] as they are now (-1: unlimited).
Napi::Value RaiseOpenFileLimit(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
    rlimit raised = limit;
    raised.rlim_cur = limit.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &raised) == 0) limit = raised;
  }
  auto number = [&](rlim_t v) { return Napi::Number::New(env, v == RLIM_INFINITY ? -1.0 : static_cast<double>(v)); };
  Napi::Array out = Napi::Array::New(env, 2);
  out.Set(0u, number(limit.rlim_cur));
  out.Set(1u, number(limit.rlim_max));
  return out;
}

Napi::Value LibVersion(const Napi::CallbackInfo& info) { return Napi::String::New(info.Env(), pcap_lib_version()); }

// publishStaged(from, to, dirMode): a stream file an earlier run left in the
// staging directory, published (files.h PublishStaged). Returns [numbered
// (-1 removed, 0 as `to`, N as <UUID>.N.pcap.gz), bytes cut off its end].
// Blocking: for start-up, before anything is captured.
Napi::Value PublishStagedFile(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 3 || !info[0].IsString() || !info[1].IsString() || !info[2].IsNumber()) {
    throw Napi::TypeError::New(env, "publishStaged(from: string, to: string, dirMode: number)");
  }
  StagedResult result;
  const int error = PublishStaged(info[0].As<Napi::String>().Utf8Value(), info[1].As<Napi::String>().Utf8Value(),
                                  static_cast<mode_t>(info[2].As<Napi::Number>().Uint32Value()), &result);
  if (error != 0) {
    Napi::Error e = Napi::Error::New(env, std::string("cannot publish ") + info[0].As<Napi::String>().Utf8Value() +
                                              ": " + std::strerror(error));
    e.Set("errno", Napi::Number::New(env, -error));
    throw e;
  }
  Napi::Array out = Napi::Array::New(env, 2);
  out.Set(0u, Napi::Number::New(env, result.numbered));
  out.Set(1u, Napi::Number::New(env, static_cast<double>(result.cutBytes)));
  return out;
}

// The addon's `layout`: every constant of layout.h, under the name that
// src/native/layout.ts gives it, so that loadAddon() can refuse a build made
// from other sources than the TypeScript it is loaded by.
Napi::Object Layout(Napi::Env env) {
  Napi::Object o = Napi::Object::New(env);
  auto set = [&](const char* name, double value) { o.Set(name, Napi::Number::New(env, value)); };
  set("RECORD_HEADER_BYTES", kRecordHeaderBytes);
  set("DESCRIPTION_WORDS", kDescriptionWords);
  set("D_RECORD", kDRecord);
  set("D_STATUS", kDStatus);
  set("D_TCP_OFFSET", kDTcpOffset);
  set("D_TCP_HEADER_LENGTH", kDTcpHeaderLength);
  set("D_FLAGS", kDFlags);
  set("D_SEQ", kDSeq);
  set("D_SRC_ADDRESS", kDSourceAddress);
  set("D_DST_ADDRESS", kDDestinationAddress);
  set("D_KEY", kDKey);
  set("D_HASH", kDHash);
  set("FLAG_SWAPPED", kFlagSwapped);
  set("FLAG_IPV6", kFlagIpv6);
  set("FLAG_OPENING_SYN", kFlagOpeningSyn);
  set("FLAG_FIN", kFlagFin);
  set("FLAG_RST", kFlagRst);
  set("DECODE_OK", kOk);
  set("BAD_TRUNCATED", kTruncated);
  set("BAD_LINKTYPE", kBadLinkType);
  set("BAD_NOT_IP", kNotIp);
  set("BAD_IP_HEADER", kBadIpHeader);
  set("BAD_NOT_TCP", kNotTcp);
  set("BAD_FRAGMENT", kFragment);
  set("BAD_TCP_HEADER", kBadTcpHeader);
  set("DECODE_STATUS_COUNT", kStatusCount);
  set("LINKTYPE_NULL", kLinkTypeNull);
  set("LINKTYPE_ETHERNET", kLinkTypeEthernet);
  set("LINKTYPE_RAW", kLinkTypeRaw);
  set("LINKTYPE_LOOP", kLinkTypeLoop);
  set("LINKTYPE_LINUX_SLL", kLinkTypeLinuxSll);
  set("LINKTYPE_IPV4", kLinkTypeIpv4);
  set("LINKTYPE_IPV6", kLinkTypeIpv6);
  set("LINKTYPE_LINUX_SLL2", kLinkTypeLinuxSll2);
  set("SAVER_STATE_UUID_WAIT", kStateUuidWait);
  set("SAVER_STATE_SAVING", kStateSaving);
  set("SAVER_STATE_COUNT", kStateCount);
  set("ANONYMIZE_A", kAnonymizeA);
  set("ANONYMIZE_B", kAnonymizeB);
  set("TALLY_SAVED", kTallySaved);
  set("TALLY_MISSED", kTallyMissed);
  set("TALLY_BAD", kTallyBad);
  set("TALLY_REFUSED", kTallyRefused);
  set("TALLY_WORDS", kTallyWords);
  set("REFUSED_MAXFLOWS", kRefusedMaxFlows);
  set("REFUSED_MAXHEAP", kRefusedMaxHeap);
  set("NF_ROUTE", kNewFlowRoute);
  set("NF_SLOT", kNewFlowSlot);
  set("NF_SERIAL", kNewFlowSerial);
  set("NF_REPLACED", kNewFlowReplaced);
  set("NF_OPENING", kNewFlowOpening);
  set("NF_SEQ", kNewFlowSeq);
  set("NF_SECONDS", kNewFlowSeconds);
  set("NF_NANOSECONDS", kNewFlowNanoseconds);
  set("NF_RECORD", kNewFlowRecord);
  set("NF_CLOCK", kNewFlowClock);
  set("NF_HASH", kNewFlowHash);
  set("NF_KEY", kNewFlowKey);
  set("NEWFLOW_WORDS", kNewFlowWords);
  set("EVENT_WORDS", kEventWords);
  set("EVENT_FINISHED", kEventFinished);
  set("EVENT_FAILED", kEventFailed);
  set("EVENT_NUMBERED", kEventNumbered);
  set("FINISHED_WRITTEN", kFinishedWritten);
  set("FINISHED_EMPTY", kFinishedEmpty);
  set("FINISHED_FAILED", kFinishedFailed);
  set("STAGE_COMPRESS", kStageCompress);
  set("STAGE_WRITE", kStageWrite);
  set("SOCKET_RECORD_BYTES", kSocketRecordBytes);
  set("SOCKET_QUERY_BYTES", kSocketQueryBytes);
  return o;
}

}  // namespace
}  // namespace ph

// Outside the namespace: NODE_API_MODULE pastes the name into an identifier.
static Napi::Object InitModule(Napi::Env env, Napi::Object exports) {
  using namespace ph;
  exports.Set("Capture", DefineCaptureClass(env));
  exports.Set("listInterfaces", Napi::Function::New<ListInterfaces>(env, "listInterfaces"));
  exports.Set("mallocTrim", Napi::Function::New<MallocTrim>(env, "mallocTrim"));
  exports.Set("raiseOpenFileLimit", Napi::Function::New<RaiseOpenFileLimit>(env, "raiseOpenFileLimit"));
  exports.Set("libVersion", Napi::Function::New<LibVersion>(env, "libVersion"));
  exports.Set("publishStaged", Napi::Function::New<PublishStagedFile>(env, "publishStaged"));
  exports.Set("sockDiagDump", Napi::Function::New<SockDiagDump>(env, "sockDiagDump"));
  exports.Set("sockDiagLookup", Napi::Function::New<SockDiagLookup>(env, "sockDiagLookup"));
  exports.Set("SocketWatch", DefineSocketWatchClass(env));
  exports.Set("FlowStore", DefineFlowStoreClass(env));
  exports.Set("layout", Layout(env));
  return exports;
}

NODE_API_MODULE(packet_headers_capture, InitModule)
