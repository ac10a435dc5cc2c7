// The JS `Capture` class: opens a PcapHandle in its constructor and runs one
// capture thread per handle between start() and the onEnd callback.
#pragma once

#include <napi.h>

namespace ph {

Napi::Function DefineCaptureClass(Napi::Env env);

}  // namespace ph
