import { readdir, readFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { parseDocument, type YAMLError } from 'yaml';
import { z } from 'zod';
import { describeIssues, VigilError } from '@vigil/events';

const units = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 } as const;

/** `250ms`, `2s`, `5m`, `1h`, `30d`, `1w` (or whole milliseconds) → milliseconds. */
export const duration = z.union([z.number(), z.string()]).transform((v, ctx) => {
  if (typeof v === 'number' && Number.isInteger(v) && v > 0) return v;
  const m = typeof v === 'string' ? /^(\d+(?:\.\d+)?)(ms|s|m|h|d|w)$/.exec(v) : null;
  if (m === null) {
    ctx.addIssue({
      code: 'custom',
      message: 'must be a duration like 250ms, 2s, 5m, 1h or 30d (or whole milliseconds)',
    });
    return z.NEVER;
  }
  return Math.round(Number(m[1]) * units[m[2] as keyof typeof units]);
});

/** `300000` → `5m`, `90000` → `90s`: the largest unit that divides evenly, for messages. */
export function formatDuration(ms: number): string {
  for (const unit of ['w', 'd', 'h', 'm', 's'] as const) {
    if (ms >= units[unit] && ms % units[unit] === 0) return `${ms / units[unit]}${unit}`;
  }
  return `${ms}ms`;
}

/** A config file that cannot be used; the message names the file and the path of each bad field. */
export class ConfigFileError extends VigilError {
  readonly code = 'CONFIG_FILE_INVALID';
}

/**
 * Replaces `${NAME}` and `${NAME:-default}` in a config file's text with values from `vars` (the
 * environment, handed over by main.ts), so one file serves a laptop and a compose network. An
 * unset variable without a default is an error naming the file, the line and the variable.
 */
export function interpolate(text: string, vars: Readonly<Record<string, string | undefined>>, file: string): string {
  return text.replace(
    /\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g,
    (whole, name: string, fallback: string | undefined, at: number) => {
      const v = vars[name];
      if (v !== undefined && v !== '') return v;
      if (fallback !== undefined) return fallback;
      const line = text.slice(0, at).split('\n').length;
      throw new ConfigFileError(`${file}:${line}: ${whole} is not set and has no default (write \${${name}:-value})`);
    },
  );
}

/** The text of the config file `path` names; one that cannot be read says which variable named it. */
export async function readConfigFile(path: string, variable: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? String(e);
    throw new ConfigFileError(`${path}: cannot read the file ${variable} names (${code})`);
  }
}

/** A YAML parse error of `file` as a ConfigFileError: the file, the line and column, one line of why. */
export function yamlError(file: string, e: YAMLError): ConfigFileError {
  const at = e.linePos?.[0] ? `:${e.linePos[0].line}:${e.linePos[0].col}` : '';
  return new ConfigFileError(
    `${file}${at}: not valid YAML: ${(e.message.split('\n')[0] ?? e.code).replace(/ at line \d+, column \d+:?$/, '')}`,
  );
}

/** Parses one YAML file's text with `schema`; errors name `file`, the line for YAML errors, and field paths. */
export function parseYamlFile<S extends z.ZodType>(schema: S, text: string, file: string): z.output<S> {
  const doc = parseDocument(text);
  if (doc.errors.length > 0) throw yamlError(file, doc.errors[0]!);
  return parseConfigValue(schema, doc.toJS(), file);
}

/**
 * Checks an already-read config value (one YAML document, a mapped format) with `schema`; errors
 * name `label` (the file, or a document in it) and each bad field's path.
 */
export function parseConfigValue<S extends z.ZodType>(schema: S, value: unknown, label: string): z.output<S> {
  const r = schema.safeParse(value);
  if (r.success) return r.data;
  const lines = describeIssues(r.error.issues, { unknownFields: 'message' })
    .slice(0, 5)
    .map((i) => `${label}: ${i.path || '(file)'}: ${i.message}`);
  throw new ConfigFileError(lines.join('\n'));
}

/**
 * Every `*.yaml` / `*.yml` in `dir` (sorted), parsed by `parse`, keyed by name. Any invalid file,
 * or a name defined twice, stops the start: a service never runs half-configured.
 */
export async function loadConfigDir<T extends { name: string }>(
  dir: string,
  parse: (text: string, file: string) => T,
  what: string,
): Promise<Map<string, T>> {
  const items = (await readConfigDir(dir, what)).map((f) => ({ item: parse(f.text, f.path), from: f.path }));
  return byUniqueName(items, what);
}

/** Every `*.yaml` / `*.yml` in `dir` (sorted), with its text; a folder that cannot be read names itself. */
export async function readConfigDir(dir: string, what: string): Promise<{ path: string; text: string }[]> {
  let entries: string[];
  try {
    entries = await readdir(dir);
  } catch (e) {
    throw new ConfigFileError(
      `${dir}: cannot read the ${what} folder (${(e as NodeJS.ErrnoException).code ?? String(e)})`,
    );
  }
  const files: { path: string; text: string }[] = [];
  for (const f of entries.filter((n) => /\.ya?ml$/.test(n)).sort()) {
    const path = join(dir, f);
    files.push({ path, text: await readFile(path, 'utf8') });
  }
  return files;
}

/**
 * Items keyed by name, in order; a name defined twice is a ConfigFileError naming where (`from`:
 * a file, or a document in one) and the other file.
 */
export function byUniqueName<T extends { name: string }>(
  items: readonly { item: T; from: string }[],
  what: string,
): Map<string, T> {
  const byName = new Map<string, T>();
  const fromOf = new Map<string, string>();
  for (const { item, from } of items) {
    const clash = fromOf.get(item.name);
    if (clash !== undefined) {
      throw new ConfigFileError(`${from}: name: ${what} '${item.name}' is also defined in ${basename(clash)}`);
    }
    byName.set(item.name, item);
    fromOf.set(item.name, from);
  }
  return byName;
}
