#!/usr/bin/env node
import { type CliCommand, type CliIo, ExitCode } from './cli-command.ts';
import { migrateCommand } from './migrate-command.ts';
import { nextCommand } from './next-command.ts';

/** Every subcommand, by name. Add new ones here; the dispatcher stays as thin as it is. */
const commands: readonly CliCommand[] = [nextCommand, migrateCommand];

function usage(): string {
  const width = Math.max(...commands.map((command) => command.name.length));
  const lines = commands.map((command) => `  ${command.name.padEnd(width)}  ${command.summary}`);
  return `Usage: kairos <command> [options]\n\nCommands:\n${lines.join('\n')}\n\nRun "kairos <command> --help" for a command's options.\n`;
}

async function main(argv: readonly string[], io: CliIo): Promise<number> {
  const [name, ...args] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    (name === undefined ? io.stderr : io.stdout).write(usage());
    return name === undefined ? ExitCode.usage : ExitCode.ok;
  }
  const command = commands.find((candidate) => candidate.name === name);
  if (command === undefined) {
    io.stderr.write(`kairos: unknown command ${JSON.stringify(name)}\n\n${usage()}`);
    return ExitCode.usage;
  }
  try {
    return await command.run(args, io);
  } catch (error) {
    io.stderr.write(`kairos ${name}: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    return ExitCode.failure;
  }
}

// Set the exit code instead of calling process.exit(), so buffered stdout is flushed first.
process.exitCode = await main(process.argv.slice(2), process);
