// FlowStore: the records of every flow, their compression and their files,
// held and handled natively (flowstore_napi.cc, router.h, store_threads.h,
// file_jobs.h; its JS side is src/saver/flowstore.ts).
#pragma once

#include <memory>

#include <napi.h>

namespace ph {

class Router;

Napi::Function DefineFlowStoreClass(Napi::Env env);

// The router of a FlowStore object, for a capture that routes into it
// (capture.cc); null when `value` is not a FlowStore.
std::shared_ptr<Router> RouterOfStore(const Napi::Value& value);

}  // namespace ph
