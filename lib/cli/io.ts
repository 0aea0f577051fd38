/** Where a command writes: the process's streams, or (in tests) anything writable. */
export interface CliIo {
  stdout: NodeJS.WritableStream & { isTTY?: boolean };
  stderr: NodeJS.WritableStream;
}

export const processIo: CliIo = { stdout: process.stdout, stderr: process.stderr };

/** A subcommand: its flags (which make its --help) and what it does; resolves to the exit status. */
export interface Command {
  spec: import('./args').CommandSpec;
  run(flags: Record<string, string | number | boolean>, positionals: string[], io: CliIo): Promise<number>;
}

/**
 * An error another process of the same job has printed (a refusal every rank of `mpirun -np N`
 * reached alike is printed by rank 0 alone): the command ends with status 1 and prints nothing.
 */
export class ReportedByAnotherRank extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ReportedByAnotherRank';
  }
}
