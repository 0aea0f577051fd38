#!/usr/bin/env bash
# The addon must build and compute the same numbers where OpenMP is absent
# (binding.gyp: -Dopenmp=false). Builds a copy of native/ without OpenMP in a
# temporary directory and compares one Adam step and one norm, bit for bit,
# with the addon the library loads (built by npm install). Run by CI after npm test.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cp -r "$root/binding.gyp" "$root/native" "$root/scripts" "$root/package.json" "$work/"
ln -s "$root/node_modules" "$work/node_modules"
# npx, so that npm's configuration (nodedir: where Node's headers are) reaches node-gyp as it does in npm install.
(cd "$work" && npx --no-install node-gyp rebuild -j 2 -- -Dopenmp=false -Dmpi=false > build.log 2>&1) || { cat "$work/build.log"; exit 1; }
# The addon the library loads (a local build, or the prebuilt one once `npm pack` has moved build/'s into prebuilds/).
addon="$(node -p "require('$root/dist/lib/native').addonOrigin().path")"
node - "$addon" "$work/build/Release/fusedoptim.node" <<'JS'
const [withOmp, without] = process.argv.slice(2).map((p) => require(p));
if (without.info().openmp !== false) throw new Error('the -Dopenmp=false build reports OpenMP');
const n = 100003;
const make = () => [0, 1, 2, 3].map((k) => Float32Array.from({ length: n }, (_, i) => Math.sin(i * (k + 1)) * 0.5 + (k === 3 ? 1 : 0)));
const scalars = Float64Array.of(1, 0, 0.999, 0.9, 0.1, 0.999, 0.001, 0.03, 1e-8, 0.01);
const results = [withOmp, without].map((addon) => {
  const buffers = make();
  for (let step = 0; step < 3; step++) addon.update(8 /* Adam */, buffers, scalars, 2);
  return { buffers, norm: addon.reduce(0 /* sum of squares */, [buffers[0]], 2, 2) };
});
const same = results[0].buffers.every((b, k) => Buffer.from(b.buffer).equals(Buffer.from(results[1].buffers[k].buffer)));
if (!same || !Object.is(results[0].norm, results[1].norm)) throw new Error('the build without OpenMP computes different numbers');
console.log(`without OpenMP: builds, reports openmp=false, and computes the same bits (${n} params, 3 Adam steps, the norm)`);
JS
