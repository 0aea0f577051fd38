/**
 * The lanes of native/kernels/lane_sums.h: element i of a block adds to lane
 * i mod REDUCE_LANES, in double, and the lanes merge by a fixed halving tree,
 * so a sum taken while a kernel updates comes out in the native kernel's bits.
 */
import { REDUCE_LANES } from './reduce_kind';

/** lanes[0] + ... + lanes[REDUCE_LANES − 1] by the halving tree (the array is consumed). */
export function foldLanes(lanes: Float64Array): number {
  for (let width = REDUCE_LANES / 2; width >= 1; width /= 2) {
    for (let j = 0; j < width; j++) lanes[j] += lanes[j + width];
  }
  return lanes[0];
}
