# Build of the fusedoptim addon.
#
# The kernels (native/dispatch/isa_kernels.cc) are compiled three times as static
# libraries, once per instruction set, each in its own C++ namespace, and the
# addon picks one at load (native/dispatch/dispatch.cc): one binary, fast on AVX-512,
# AVX2 and plain x86-64. No -march=native.
#
# Flags that matter for the numbers:
#  -O3 -fno-math-errno   sqrt vectorises only when it need not set errno
#  -ffp-contract=off     no fused multiply-add contraction: the native kernels
#                        round exactly like the JavaScript reference kernels
#                        (bit-identical results), and every instruction set
#                        computes the same numbers
#  -fopenmp              OpenMP on Linux; set openmp=false to build without it
#                        (single-threaded): node-gyp rebuild -- -Dopenmp=false
#
# fusedoptim_mpi, the MPI binding behind fusedoptim/distributed, is a second
# addon built only where an MPI compiler wrapper (mpicxx) answers: its flags
# come from the wrapper (scripts/mpi-flags.js). Without MPI nothing changes;
# -Dmpi=false skips it anyway.
{
  "variables": {
    "openmp%": "true",
    "mpi%": "<!(node scripts/mpi-flags.js available)",
    "x86%": "<!(node -p \"['x64','ia32'].includes(process.arch) ? 1 : 0\")"
  },
  "target_defaults": {
    "cflags!": ["-fno-exceptions"],
    "cflags_cc!": ["-fno-exceptions", "-std=gnu++17", "-std=gnu++20"],
    "cflags": ["-O3", "-fPIC", "-fno-math-errno", "-ffp-contract=off", "-fvisibility=hidden"],
    "cflags_cc": ["-std=c++17", "-fexceptions"],
    "defines": ["NAPI_VERSION=9", "NAPI_CPP_EXCEPTIONS", "FUSEDOPTIM_X86_DISPATCH=<(x86)"],
    "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")", "native"],
    "conditions": [
      ["OS=='linux' and openmp=='true'", {
        "cflags": ["-fopenmp"],
        "ldflags": ["-fopenmp"]
      }],
      ["OS=='linux' and openmp!='true'", {
        "cflags": ["-fopenmp-simd"]
      }],
      ["OS=='mac'", {
        "xcode_settings": {
          "GCC_ENABLE_CPP_EXCEPTIONS": "YES",
          "CLANG_CXX_LANGUAGE_STANDARD": "c++17",
          "OTHER_CFLAGS": ["-O3", "-fno-math-errno", "-ffp-contract=off"]
        }
      }]
    ]
  },
  "targets": [
    {
      "target_name": "kernels_baseline",
      "type": "static_library",
      "sources": ["native/dispatch/isa_kernels.cc"],
      "defines": ["FUSEDOPTIM_ISA=baseline"]
    },
    {
      "target_name": "kernels_avx2",
      "type": "static_library",
      "sources": ["native/dispatch/isa_kernels.cc"],
      "defines": ["FUSEDOPTIM_ISA=avx2"],
      "conditions": [["x86==1", {"cflags": ["-mavx2", "-mfma"]}]]
    },
    {
      "target_name": "kernels_avx512",
      "type": "static_library",
      "sources": ["native/dispatch/isa_kernels.cc"],
      "defines": ["FUSEDOPTIM_ISA=avx512"],
      "conditions": [["x86==1", {
        "cflags": ["-mavx512f", "-mavx512vl", "-mavx512bw", "-mavx512dq", "-mavx2", "-mfma", "-mprefer-vector-width=512"]
      }]]
    },
    {
      "target_name": "fusedoptim",
      "sources": [
        "native/addon.cc",
        "native/boundary/args.cc",
        "native/dispatch/dispatch.cc",
        "native/boundary/plan.cc",
        "native/boundary/reduce_call.cc",
        "native/drivers/scratch.cc",
        "native/boundary/thread_probe.cc",
        "native/boundary/update_call.cc"
      ],
      "conditions": [
        ["x86==1", {"dependencies": ["kernels_baseline", "kernels_avx2", "kernels_avx512"]},
                   {"dependencies": ["kernels_baseline"]}]
      ]
    }
  ],
  "conditions": [
    ["mpi=='true'", {
      "targets": [
        {
          "target_name": "fusedoptim_mpi",
          "sources": [
            "native/boundary/args.cc",
            "native/mpi/addon.cc",
            "native/mpi/collective.cc",
            "native/mpi/fingerprint.cc",
            "native/mpi/half_arrays.cc",
            "native/mpi/in_flight.cc",
            "native/mpi/world.cc"
          ],
          # The C API only: no MPI C++ bindings (deprecated, and they do not compile warning-free).
          # FUSEDOPTIM_ISA=mpi: the bfloat16 rounding of native/kernels (half.h) compiled into this addon's own namespace.
          "defines": ["OMPI_SKIP_MPICXX=1", "MPICH_SKIP_MPICXX=1", "FUSEDOPTIM_ISA=mpi"],
          "cflags": ["<!@(node scripts/mpi-flags.js compile)"],
          "libraries": ["<!@(node scripts/mpi-flags.js link)"]
        }
      ]
    }]
  ]
}
