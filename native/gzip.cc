// gzipMember: one whole buffer to one gzip member, with libdeflate. Chunks of
// records are compressed whole, so zlib's streaming machinery (and its
// per-stream state set-up) buys nothing; libdeflate compresses the same bytes
// in a fraction of zlib's time at the same level. Called from the compression
// worker threads, so it runs synchronously.
#include <libdeflate.h>

#include <cstdint>
#include <cstring>
#include <memory>
#include <vector>

#include <napi.h>

#include "gzip.h"

namespace ph {
namespace {

constexpr int kMinLevel = 0;
constexpr int kMaxLevel = 12;

struct CompressorFree {
  void operator()(libdeflate_compressor* c) const { libdeflate_free_compressor(c); }
};

// One compressor per thread and level: allocating one costs more than
// compressing a small chunk, and a compressor must not be shared by threads.
struct ThreadCompressor {
  int level = -1;
  std::unique_ptr<libdeflate_compressor, CompressorFree> compressor;
  std::vector<uint8_t> scratch;
};

thread_local ThreadCompressor tls;

Napi::Value GzipMember(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsTypedArray() || !info[1].IsNumber()) {
    throw Napi::TypeError::New(env, "gzipMember(data: Uint8Array, level: number)");
  }
  Napi::TypedArray array = info[0].As<Napi::TypedArray>();
  if (array.TypedArrayType() != napi_uint8_array) throw Napi::TypeError::New(env, "gzipMember: data must be a Uint8Array");
  const int level = info[1].As<Napi::Number>().Int32Value();
  if (level < kMinLevel || level > kMaxLevel) throw Napi::RangeError::New(env, "gzipMember: level must be 0..12");
  Napi::Uint8Array data = array.As<Napi::Uint8Array>();

  if (tls.level != level || !tls.compressor) {
    tls.compressor.reset(libdeflate_alloc_compressor(level));
    tls.level = tls.compressor ? level : -1;
    if (!tls.compressor) throw Napi::Error::New(env, "gzipMember: out of memory");
  }
  const size_t bound = libdeflate_gzip_compress_bound(tls.compressor.get(), data.ByteLength());
  if (tls.scratch.size() < bound) tls.scratch.resize(bound);
  const size_t written =
      libdeflate_gzip_compress(tls.compressor.get(), data.Data(), data.ByteLength(), tls.scratch.data(), bound);
  if (written == 0) throw Napi::Error::New(env, "gzipMember: output larger than its bound");
  // An ArrayBuffer of exactly the member's size: it can be transferred to
  // another thread without dragging spare capacity along.
  Napi::ArrayBuffer out = Napi::ArrayBuffer::New(env, written);
  std::memcpy(out.Data(), tls.scratch.data(), written);
  return Napi::Uint8Array::New(env, written, out, 0);
}

}  // namespace

Napi::Function DefineGzipMember(Napi::Env env) { return Napi::Function::New<GzipMember>(env, "gzipMember"); }

}  // namespace ph
