import { readFile, stat } from 'node:fs/promises';
import { isAbsolute, join, relative } from 'node:path';
import { globMatcher, walk } from './glob.js';
import type { CheckRunner } from './types.js';

/**
 * The rule set. Each finding reports file:line and the rule, never the matched text.
 * Rules follow the common shapes gitleaks also detects; the entropy rule catches random-looking
 * quoted strings that name no known provider.
 */
export const secretRules: readonly { id: string; pattern: RegExp }[] = [
  { id: 'aws-access-key-id', pattern: /\b(?:AKIA|ASIA)[0-9A-Z]{16}\b/ },
  { id: 'private-key', pattern: /-----BEGIN (?:RSA |EC |DSA |OPENSSH |PGP )?PRIVATE KEY(?: BLOCK)?-----/ },
  { id: 'github-token', pattern: /\bgh[pousr]_[A-Za-z0-9]{36,}\b/ },
  { id: 'slack-token', pattern: /\bxox[baprs]-[0-9A-Za-z-]{10,}\b/ },
  { id: 'stripe-secret-key', pattern: /\b(?:sk|rk)_live_[0-9a-zA-Z]{20,}\b/ },
  { id: 'url-with-password', pattern: /\b[a-z][a-z0-9+.-]*:\/\/[^\s:@/'"]+:[^\s@/'"$<>{}]{3,}@[^\s'"]+/i },
  {
    id: 'assigned-secret',
    pattern:
      /\b(?:password|passwd|secret|api[_-]?key|access[_-]?token|auth[_-]?token)\b\s*[:=]\s*['"][^'"\s$<>{}]{8,}['"]/i,
  },
];

/** Shannon entropy in bits per character. */
export function entropy(s: string): number {
  const counts = new Map<string, number>();
  for (const ch of s) counts.set(ch, (counts.get(ch) ?? 0) + 1);
  let h = 0;
  for (const n of counts.values()) {
    const p = n / s.length;
    h -= p * Math.log2(p);
  }
  return h;
}

const quoted = /['"]([A-Za-z0-9+/=_-]{24,})['"]/g;
/** A quoted token of 24+ characters at ≥ 4.5 bits/char looks like a key, not a word or an id. */
export const ENTROPY_THRESHOLD = 4.5;

export interface Finding {
  readonly file: string;
  readonly line: number;
  readonly rule: string;
}

/**
 * A finding's fingerprint, `file:rule:line` as gitleaks writes them (without the commit): what an
 * allowlist names to accept one known finding. It holds no part of the secret.
 */
export function fingerprint(f: Finding): string {
  return `${f.file}:${f.rule}:${f.line}`;
}

/** What a suite accepts as not secret. */
export interface SecretAllowlist {
  /** A finding whose matched text matches one of these is accepted (example keys, placeholders). */
  readonly patterns?: readonly RegExp[];
  /** Findings accepted one by one, by {@link fingerprint}. */
  readonly fingerprints?: ReadonlySet<string>;
}

/** Findings of one file's text, less those the allowlist accepts. */
export function scanText(text: string, file: string, allow: SecretAllowlist = {}): Finding[] {
  const out: Finding[] = [];
  const lines = text.split('\n');
  const accepted = (secret: string, f: Finding) =>
    (allow.patterns?.some((re) => re.test(secret)) ?? false) || (allow.fingerprints?.has(fingerprint(f)) ?? false);
  const report = (secret: string, f: Finding) => {
    if (!accepted(secret, f)) out.push(f);
  };
  for (const [i, line] of lines.entries()) {
    if (line.includes('vigil:allow-secret')) continue; // an explicit, reviewable exception
    for (const r of secretRules) {
      const m = r.pattern.exec(line);
      if (m !== null) report(m[0], { file, line: i + 1, rule: r.id });
    }
    for (const m of line.matchAll(quoted)) {
      const token = m[1] as string;
      if (/^[a-f0-9-]+$/i.test(token)) continue; // hashes and UUIDs are not secrets
      if (entropy(token) >= ENTROPY_THRESHOLD) report(token, { file, line: i + 1, rule: 'high-entropy-string' });
    }
  }
  return out;
}

/**
 * Test code and its fixtures, left out unless a suite sets `includeTests`: planted secrets are
 * what a secret scanner's own tests and redaction tests are made of, and they unlock nothing.
 */
export const TEST_FILE_GLOBS: readonly string[] = [
  '**/*.spec.*',
  '**/*.test.*',
  '**/testing/**',
  '**/__tests__/**',
  '**/__fixtures__/**',
  '**/fixtures/**',
  '**/testdata/**',
];

async function* one(path: string): AsyncGenerator<string> {
  yield path;
}

export const secrets: CheckRunner<'secrets'> = async (p, ctx) => {
  const excluded = globMatcher([...p.exclude, ...p.allow.paths]);
  const testFile = p.includeTests ? () => false : globMatcher(TEST_FILE_GLOBS);
  const allow: SecretAllowlist = {
    patterns: p.allow.patterns.map((re) => new RegExp(re)),
    fingerprints: new Set(p.allow.fingerprints),
  };
  const findings: Finding[] = [];
  let files = 0;
  for (const root of p.paths) {
    const dir = isAbsolute(root) ? root : join(ctx.cwd, root);
    const isFile = (await stat(dir).catch(() => undefined))?.isFile() === true;
    for await (const rel of isFile ? one(relative(ctx.cwd, dir)) : walk(dir, ctx.cwd)) {
      if (ctx.signal.aborted) break;
      const path = relative(ctx.cwd, join(ctx.cwd, rel));
      // Test globs hold anywhere, also under a root outside the workdir ('../x/a.spec.ts'), which
      // picomatch's `**` does not cross.
      if (excluded(path) || testFile(path.replace(/^(?:\.\.\/)+/, ''))) continue;
      const full = join(ctx.cwd, path);
      if ((await stat(full)).size > p.maxFileBytes) continue;
      const buf = await readFile(full);
      if (buf.includes(0)) continue; // binary
      files++;
      findings.push(...scanText(buf.toString('utf8'), path, allow));
    }
  }
  const observed = { files, findings: findings.length };
  if (findings.length === 0) return { status: 'PASS', message: `no secrets found in ${files} files`, observed };
  // `file:line (rule)` gives the fingerprint an allowlist names; the secret itself is never shown.
  const shown = findings.slice(0, 10).map((f) => `${f.file}:${f.line} (${f.rule})`);
  return {
    status: 'FAIL',
    message: `${findings.length} possible secret(s): ${shown.join(', ')}${findings.length > 10 ? ', …' : ''}`,
    observed,
  };
};
