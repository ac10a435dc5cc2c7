// The kernel's TCP socket table through netlink socket diagnostics
// (NETLINK_SOCK_DIAG): a dump of every TCP socket, an exact lookup of
// 4-tuples, and a watcher of destroyed sockets. All netlink I/O runs off the
// JS thread. Record layout: see native/README.md and src/capture/addon.ts.
#pragma once

#include <napi.h>

namespace ph {

// sockDiagDump(): Promise<Buffer>
Napi::Value SockDiagDump(const Napi::CallbackInfo& info);
// sockDiagLookup(queries: Buffer): Promise<Buffer>
Napi::Value SockDiagLookup(const Napi::CallbackInfo& info);
// class SocketWatch { constructor(); start(onBatch); stop() }
Napi::Function DefineSocketWatchClass(Napi::Env env);

}  // namespace ph
