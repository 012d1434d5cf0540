import { readdir } from 'node:fs/promises';
import { join, relative } from 'node:path';
import picomatch from 'picomatch';
import { glob } from 'tinyglobby';

/**
 * Globs as the suite writes them (picomatch): `**` any depth, `*` within a segment, `?` one
 * character, braces and classes. Dot files match: `.env` is where secrets are.
 */
const options = { dot: true } as const;

/** One test for many globs: whether a path (relative, with `/`) matches any of them. */
export function globMatcher(patterns: readonly string[]): (path: string) => boolean {
  if (patterns.length === 0) return () => false;
  return picomatch([...patterns], options);
}

/** Files under `dir` (symlinks not followed), as paths relative to `base`; streamed, not listed. */
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

/** Files matching `pattern`, relative to `cwd` (tinyglobby; symlinks not followed). */
export async function globFiles(pattern: string, cwd: string): Promise<string[]> {
  return glob(pattern, { cwd, ...options, followSymbolicLinks: false, onlyFiles: true, expandDirectories: false });
}
