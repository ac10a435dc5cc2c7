// gzipMember(data, level): a whole buffer as one gzip member (libdeflate).
#pragma once

#include <napi.h>

namespace ph {

Napi::Function DefineGzipMember(Napi::Env env);

}  // namespace ph
