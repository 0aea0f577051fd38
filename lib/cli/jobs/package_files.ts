/**
 * Finding the data files the examples ship with (data/digits/, data/reference/) from code that
 * runs both as TypeScript sources (examples/..., under ts-node) and compiled (dist/examples/...,
 * or node_modules/fusedoptim/dist/... once installed): search upwards from the module's own
 * directory for the nearest ancestor that holds the file, instead of a fixed number of `..`.
 */
import * as fs from 'fs';
import * as path from 'path';
import { ErrorCodes, makeError } from '../../errors';

/** The path of `relative` (e.g. data/reference/seed_quadratic.json) in the nearest ancestor of `from` that has it. */
export function findPackageFile(relative: string, from: string = __dirname): string {
  const tried: string[] = [];
  for (let dir = path.resolve(from); ; dir = path.dirname(dir)) {
    const candidate = path.join(dir, relative);
    if (fs.existsSync(candidate)) return candidate;
    tried.push(candidate);
    if (path.dirname(dir) === dir) break;
  }
  throw makeError(
    ErrorCodes.INVALID_ARG_VALUE,
    `${relative} not found in ${from} or any directory above it (looked for ${tried[0]} ...)`,
  );
}

/** A path as a person would like to read it: relative to the working directory when inside it, else absolute. */
export function displayPath(file: string): string {
  const relative = path.relative(process.cwd(), file);
  return relative.startsWith('..') || path.isAbsolute(relative) ? path.resolve(file) : relative;
}
