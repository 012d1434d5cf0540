import { Command, type CommanderError, type Help, type Option } from 'commander';

/**
 * The `vigil` command tree on commander: each command's synopsis, description and options are
 * declared once, where it is defined, and the help is made from them. This module holds the
 * help's layout and the error rules every command shares; main.ts declares the commands.
 */

/** Column where descriptions start in the overview, as in the synopsis lines of `vigil --help`. */
const DESCRIPTION_COLUMN = 36;
const WIDTH = 100;

export const ENVIRONMENT = `Environment: NATS_URL (default nats://127.0.0.1:4222; several separated by commas), NATS_USER,
NATS_PASSWORD or NATS_PASSWORD_FILE, NATS_TLS_CA_FILE, VIGIL_NAMESPACE (default: none),
VIGIL_JAEGER_URL (default http://127.0.0.1:16686), OTEL_EXPORTER_OTLP_ENDPOINT (export the CLI's
spans), DATABASE_URL, VIGIL_DATA_DIR (default .vigil), VIGIL_REPLICAS (default 1), LOG_LEVEL.
Errors: one line on stderr and exit 1.`;

/** Words of `text` in lines of at most `width - indent` characters, each indented. */
function wrap(text: string, indent: number, width = WIDTH): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(/\s+/).filter(Boolean)) {
    if (line !== '' && indent + line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else line = line === '' ? word : `${line} ${word}`;
  }
  if (line !== '') lines.push(line);
  return lines.map((l) => `${' '.repeat(indent)}${l}`);
}

/** The full path of a command (`slo export`), without the program's name. */
function pathOf(cmd: Command): string {
  const names: string[] = [];
  for (let c: Command | null = cmd; c?.parent != null; c = c.parent) names.unshift(c.name());
  return names.join(' ');
}

/** `  vigil NAME SYNOPSIS` with the description beside it (or under it, when the synopsis is long). */
function synopsis(cmd: Command): string[] {
  const lead = `  vigil ${pathOf(cmd)} `;
  const [first = '', ...more] = wrap(cmd.usage(), lead.length);
  const head = `${lead}${first.trimStart()}`.trimEnd();
  const description = wrap(cmd.description(), DESCRIPTION_COLUMN);
  if (more.length === 0 && head.length < DESCRIPTION_COLUMN - 1 && description.length > 0) {
    return [`${head.padEnd(DESCRIPTION_COLUMN)}${description[0]!.trimStart()}`, ...description.slice(1)];
  }
  return [head, ...more, ...description];
}

/** Commands that run (not the groups `slo`, `chaos`, `anomaly`), in their order of declaration. */
function leaves(cmd: Command): Command[] {
  return cmd.commands.flatMap((c) => (c.commands.length > 0 ? leaves(c) : [c]));
}

function optionLines(cmd: Command, helper: Help): string[] {
  const options = helper.visibleOptions(cmd).filter((o: Option) => o.long !== '--help');
  if (options.length === 0) return [];
  const terms = options.map((o) => helper.optionTerm(o));
  const column = Math.max(...terms.map((t) => t.length)) + 4;
  return [
    '',
    'Options:',
    ...options.flatMap((o, i) => {
      const [first = '', ...rest] = wrap(helper.optionDescription(o), column + 2);
      return [`  ${terms[i]!.padEnd(column)}${first.trimStart()}`, ...rest];
    }),
  ];
}

/** The overview for `vigil --help`; a command's synopsis, description and options for its own. */
export function formatHelp(cmd: Command, helper: Help): string {
  if (cmd.parent === null) {
    const title = `vigil — ${cmd.description()}`;
    const all = [
      ...leaves(cmd).flatMap(synopsis),
      '  vigil --help                      this text; every command takes --help',
    ];
    return [title, '', 'Usage:', ...all, '', ENVIRONMENT, ''].join('\n');
  }
  const commands = cmd.commands.length > 0 ? leaves(cmd) : [cmd];
  return [
    'Usage:',
    ...commands.flatMap(synopsis),
    ...(cmd.commands.length > 0 ? [] : optionLines(cmd, helper)),
    '',
  ].join('\n');
}

/**
 * A value that starts with '-' after a flag that takes one is refused (`--since -5h`), as a
 * mistyped flag would be taken for a value otherwise; `--from-seq=-1` reaches the value's own
 * check. A lone `-` (standard input) is a value.
 */
export function refuseDashValues(cmd: Command, args: readonly string[]): void {
  for (let i = 0; i < args.length - 1; i++) {
    const option = cmd.options.find((o) => o.long === args[i] || o.short === args[i]);
    const value = args[i + 1]!;
    if (option?.required === true && value.startsWith('-') && value !== '-') {
      throw new Error(
        `${args[i]} ${value}: a value cannot start with '-' (durations and sequence numbers are positive)`,
      );
    }
  }
}

/** The subcommand `args` name, down the tree (`slo export` → its command). */
export function commandFor(program: Command, args: readonly string[]): { cmd: Command; rest: string[] } {
  let cmd = program;
  let i = 0;
  for (; i < args.length; i++) {
    const next = cmd.commands.find((c) => c.name() === args[i]);
    if (next === undefined) break;
    cmd = next;
  }
  return { cmd, rest: args.slice(i) };
}

/** Commander's refusal as one line that names what was wrong (its own text, without "error: "). */
export function usageError(e: CommanderError, program: Command, args: readonly string[]): Error {
  const { cmd, rest } = commandFor(program, args);
  const path = pathOf(cmd);
  if (e.code === 'commander.unknownCommand')
    return new Error(`unknown command '${[path, rest[0]].filter(Boolean).join(' ')}'; see vigil --help`);
  // A group (`vigil slo`) given no command of its own.
  if (e.code === 'commander.help')
    return new Error(`vigil ${path} needs a command: ${cmd.commands.map((c) => c.name()).join(', ')}`);
  return new Error(e.message.replace(/^error: /, ''));
}

/** A command tree that throws instead of exiting and prints help only when asked. */
export function newProgram(description: string): Command {
  return new Command('vigil')
    .description(description)
    .exitOverride()
    .configureOutput({
      writeOut: (s) => process.stdout.write(s),
      // Errors are one line of ours on stderr (main.ts), never commander's text and a hint.
      writeErr: () => undefined,
      outputError: () => undefined,
    })
    .configureHelp({ formatHelp })
    .helpCommand(false)
    .allowExcessArguments(false);
}
