#include "options.h"

#include <string>

namespace ph {

uint32_t IntegerOption(const Napi::Object& o, const char* name, bool required, uint32_t fallback, uint32_t min,
                       uint32_t max) {
  Napi::Value v = o.Get(name);
  if (v.IsUndefined() || v.IsNull()) {
    if (required) throw Napi::TypeError::New(o.Env(), std::string("option ") + name + " is required");
    return fallback;
  }
  if (!v.IsNumber()) throw Napi::TypeError::New(o.Env(), std::string("option ") + name + " must be a number");
  double d = v.As<Napi::Number>().DoubleValue();
  if (!(d >= min && d <= max) || d != static_cast<double>(static_cast<uint32_t>(d))) {
    throw Napi::RangeError::New(o.Env(), std::string("option ") + name + " must be an integer from " +
                                             std::to_string(min) + " to " + std::to_string(max));
  }
  return static_cast<uint32_t>(d);
}

}  // namespace ph
