{
  "variables": {
    # 1 only for the AddressSanitizer/UBSan build of scripts/build-sanitize.sh (build-sanitize/);
    # the release build (node-gyp rebuild) leaves it 0 and is unchanged by it.
    "sanitize%": 0
  },
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
        "native/flowstore_napi.cc",
        "native/router.cc",
        "native/store_threads.cc",
        "native/file_jobs.cc"
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
      "conditions": [
        ["sanitize==1", {
          "cflags": ["-O1", "-g", "-fno-omit-frame-pointer", "-fsanitize=address,undefined", "-fno-sanitize-recover=all"],
          "cflags_cc": ["-O1", "-g", "-fno-omit-frame-pointer", "-fsanitize=address,undefined", "-fno-sanitize-recover=all"],
          "ldflags": ["-fsanitize=address,undefined"]
        }]
      ],
      "xcode_settings": {
        "GCC_ENABLE_CPP_EXCEPTIONS": "YES",
        "CLANG_CXX_LANGUAGE_STANDARD": "c++17"
      }
    }
  ]
}
