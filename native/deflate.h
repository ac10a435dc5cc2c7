// libdeflate's compressor and decompressor as owning pointers.
#pragma once

#include <libdeflate.h>

#include <memory>

namespace ph {

struct DeflaterFree {
  void operator()(libdeflate_compressor* c) const { libdeflate_free_compressor(c); }
};

struct InflaterFree {
  void operator()(libdeflate_decompressor* d) const { libdeflate_free_decompressor(d); }
};

using Deflater = std::unique_ptr<libdeflate_compressor, DeflaterFree>;
using Inflater = std::unique_ptr<libdeflate_decompressor, InflaterFree>;

}  // namespace ph
