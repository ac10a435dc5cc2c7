// The JS `Capture` class: opens a PcapHandle (live) or an OfflineMerge (one
// or more files) in its constructor and runs one capture thread for it
// between start() and the onEnd callback.
#pragma once

#include <napi.h>

namespace ph {

Napi::Function DefineCaptureClass(Napi::Env env);

}  // namespace ph
