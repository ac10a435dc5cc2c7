{
  "targets": [
    {
      "target_name": "packet_headers_capture",
      "sources": [
        "native/module.cc",
        "native/capture.cc",
        "native/pcap_handle.cc",
        "native/offline_merge.cc",
        "native/sockdiag.cc",
        "native/decode.cc",
        "native/files.cc",
        "native/options.cc",
        "native/flowstore.cc"
      ],
      "include_dirs": [
        "<!(node -p \"require('node-addon-api').include_dir\")"
      ],
      "libraries": ["-lpcap", "-ldeflate"],
      "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions", "-std=gnu++17", "-std=gnu++1y", "-std=gnu++20"],
      "cflags": ["-O2", "-Wall", "-Wextra"],
      "cflags_cc": ["-std=c++17", "-fexceptions", "-O2", "-Wall", "-Wextra"],
      "ldflags": ["-pthread"],
      "xcode_settings": {
        "GCC_ENABLE_CPP_EXCEPTIONS": "YES",
        "CLANG_CXX_LANGUAGE_STANDARD": "c++17"
      }
    }
  ]
}
