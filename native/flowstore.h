// FlowStore: the records of every flow, their compression and their files,
// held and handled natively (flowstore_napi.cc, router.h, store_threads.h,
// file_jobs.h; its JS side is src/saver/flowstore.ts).
#pragma once

#include <napi.h>

namespace ph {

Napi::Function DefineFlowStoreClass(Napi::Env env);

}  // namespace ph
