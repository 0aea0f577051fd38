#!/usr/bin/env bash
# npm run test:sanitize: the addon built with AddressSanitizer and UndefinedBehaviorSanitizer
# into build-sanitize/ (the normal build/ is left alone), then the native-heavy tests and the
# fuzz corpus run against it, with the ASan runtime preloaded into node. Any sanitizer report
# fails the run: ASan aborts on its first error, UBSan is made to halt on its first.
#
# Leak detection is off: Node and V8 keep allocations alive to exit by design, which LeakSanitizer
# reports by the thousand; the addon's own leaks are measured by test/leaks.test.ts instead.
set -euo pipefail
cd "$(dirname "$0")/.."
out=build-sanitize
flags="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined"

# node-gyp builds into <directory>/build: give it a directory of its own with the project's
# binding.gyp and sources, and run the project's own node-gyp.
mkdir -p "$out"
cp binding.gyp "$out/"
ln -sfn ../native "$out/native"
ln -sfn ../scripts "$out/scripts" # binding.gyp asks scripts/mpi-flags.js whether MPI is there
node_gyp="$PWD/node_modules/node-gyp/bin/node-gyp.js"
(cd "$out" && CFLAGS="$flags" CXXFLAGS="$flags" LDFLAGS="-fsanitize=address,undefined" node "$node_gyp" rebuild -j 2 -- -Dmpi=false >build.log 2>&1) || {
  tail -30 "$out/build.log"
  exit 1
}

build_seconds=$SECONDS
echo "sanitizer build: ${build_seconds} s"
asan_runtime="$(${CXX:-g++} -print-file-name=libasan.so)"
export LD_PRELOAD="$asan_runtime"
export ASAN_OPTIONS="detect_leaks=0:abort_on_error=1:halt_on_error=1:allocator_may_return_null=1"
export UBSAN_OPTIONS="halt_on_error=1:abort_on_error=1:print_stacktrace=1"
export FUSEDOPTIM_ADDON="$PWD/$out/build/Release/fusedoptim.node"
export TS_NODE_TRANSPILE_ONLY=true
node -e "const a = require(process.env.FUSEDOPTIM_ADDON); console.log('sanitizer build loaded: isa ' + a.info().isa)"
npx mocha --no-config -r ts-node/register --extension ts --timeout 600000 \
  test/native-boundary.test.ts test/native-plan.test.ts test/lying-buffers.test.ts test/kernel-variants.test.ts \
  test/optimizers.handcomputed.test.ts test/async.test.ts test/grad-utils.test.ts test/fuzz.test.ts test/compact-state.test.ts \
  test/adafactor.test.ts
