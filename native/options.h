// Reading the options objects that JS passes to the addon's constructors.
#pragma once

#include <cstdint>

#include <napi.h>

namespace ph {

// o[name] as an integer in min..max: `fallback` when absent (unless
// `required`), else a TypeError or RangeError naming the option.
uint32_t IntegerOption(const Napi::Object& o, const char* name, bool required, uint32_t fallback, uint32_t min,
                       uint32_t max);

}  // namespace ph
