// FlowStore: the records of every flow, their compression and their files,
// held and handled natively (see flowstore.cc and src/saver/flowstore.ts).
#pragma once

#include <napi.h>

namespace ph {

Napi::Function DefineFlowStoreClass(Napi::Env env);

}  // namespace ph
