import { readdir } from 'node:fs/promises';
import { join, relative } from 'node:path';

/** `**` any depth, `*` within a segment, `?` one character (Node 20 has no fs.glob). */
export function globToRegExp(pattern: string): RegExp {
  let re = '';
  for (let i = 0; i < pattern.length; i++) {
    const ch = pattern[i] as string;
    if (ch === '*' && pattern[i + 1] === '*') {
      const slash = pattern[i + 2] === '/';
      re += slash ? '(?:.*/)?' : '.*';
      i += slash ? 2 : 1;
    } else if (ch === '*') re += '[^/]*';
    else if (ch === '?') re += '[^/]';
    else re += ch.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}

/** Files under `dir` (symlinks not followed), as paths relative to `base`. */
export async function* walk(dir: string, base: string): AsyncGenerator<string> {
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch {
    return;
  }
  for (const e of entries) {
    const full = join(dir, e.name);
    if (e.isDirectory()) yield* walk(full, base);
    else if (e.isFile()) yield relative(base, full);
  }
}

/** Files matching `pattern`, relative to `cwd`; the walk starts at the pattern's fixed prefix. */
export async function globFiles(pattern: string, cwd: string): Promise<string[]> {
  const segments = pattern.split('/');
  const fixed: string[] = [];
  for (const s of segments) {
    if (/[*?]/.test(s)) break;
    fixed.push(s);
  }
  const re = globToRegExp(pattern);
  const out: string[] = [];
  for await (const f of walk(
    join(cwd, ...fixed.slice(0, Math.max(0, segments.length === fixed.length ? fixed.length - 1 : fixed.length))),
    cwd,
  )) {
    if (re.test(f)) out.push(f);
  }
  return out;
}
