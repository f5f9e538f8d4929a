import type { Readable, Writable } from 'node:stream';

/** The streams a command talks to; the real process's in `main.ts`, others in tests. */
export interface CliIo {
  readonly stdin: Readable;
  readonly stdout: Writable;
  readonly stderr: Writable;
}

/** Exit codes shared by all commands. */
export const ExitCode = {
  ok: 0,
  /** Something failed that is not the user's input. */
  failure: 1,
  /** Bad usage or an invalid trigger; the message is on stderr. */
  usage: 2,
} as const;

/** One `kairos` subcommand; `main.ts` only dispatches to these. */
export interface CliCommand {
  readonly name: string;
  /** One line for `kairos --help`. */
  readonly summary: string;
  /** Runs with the arguments after the command name; resolves to the exit code. */
  run(args: readonly string[], io: CliIo): Promise<number>;
}
