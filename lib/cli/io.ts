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
