/**
 * Isolation Forest (Liu, Ting and Zhou, 2008), written for speed and reproducibility: a seeded
 * PRNG, each tree built on its own subsample of ψ rows, height limit ceil(log2 ψ), and all trees
 * in flat typed arrays (pre-order: a node's left child follows it, its right child is stored).
 *
 * One departure, for accuracy: a split's value is drawn between the smallest and largest value of
 * every training row that reaches the node, not only of the subsample's rows there. The subsample
 * still decides the tree's shape (where it stops, what its leaves hold); the whole training set
 * only widens the range a cut can fall in. 256 rows miss most of a distribution's tails and the
 * gaps between its clusters, where cuts that isolate anomalies belong: on seeded level-shift
 * series this lifts ROC AUC from 0.959 to 0.974 (mean of 20 series; docs in the README).
 */

import { z } from 'zod';
import { VigilError } from '@vigil/events';

/** sfc32 seeded through splitmix32: small, fast, and identical on every platform. */
export function prng(seed: number): () => number {
  let s = seed >>> 0;
  const split = () => {
    s = (s + 0x9e3779b9) | 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 16), 0x21f0aaad);
    z = Math.imul(z ^ (z >>> 15), 0x735a2d97);
    return (z ^ (z >>> 15)) >>> 0;
  };
  let a = split();
  let b = split();
  let c = split();
  let d = split();
  return () => {
    const t = (((a + b) | 0) + d) | 0;
    d = (d + 1) | 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) | 0;
    c = (c << 21) | (c >>> 11);
    c = (c + t) | 0;
    return (t >>> 0) / 4294967296;
  };
}

const EULER = 0.5772156649015329;

/** The harmonic number H(i): exact up to 1000, then ln(i) + γ + 1/(2i) − 1/(12i²). */
export function harmonic(i: number): number {
  // Zero for i ≤ 0 too: the sum is empty.
  if (i <= 1000) {
    let h = 0;
    for (let k = 1; k <= i; k++) h += 1 / k;
    return h;
  }
  return Math.log(i) + EULER + 1 / (2 * i) - 1 / (12 * i * i);
}

/**
 * c(n): the average path length of an unsuccessful search in a binary search tree of n points,
 * 2H(n−1) − 2(n−1)/n; c(1) = 0, c(2) = 1. It normalises path lengths and adjusts leaves that hold
 * more than one point.
 */
export function c(n: number): number {
  // Stryker disable next-line EqualityOperator: equivalent, the table's c(1) is 0 too
  if (n <= 1) return 0;
  if (n < C_TABLE.length) return C_TABLE[n]!;
  return 2 * harmonic(n - 1) - (2 * (n - 1)) / n;
}

// c(n) for every leaf size a forest of ψ ≤ 4096 can have: scoring looks it up at every leaf.
const C_TABLE = (() => {
  const t = new Float64Array(4097);
  let h = 0;
  // Stryker disable next-line EqualityOperator: equivalent, a typed array ignores a write past its end
  for (let n = 2; n < t.length; n++) {
    h += 1 / (n - 1);
    t[n] = 2 * h - (2 * (n - 1)) / n;
  }
  return t;
})();

export interface ForestOptions {
  /** Trees. @default 100 */
  readonly trees?: number;
  /** Subsample size ψ per tree (capped at the number of rows). @default 256 */
  readonly sampleSize?: number;
  /** Seed of the PRNG: the same seed and data give the same forest. @default 1 */
  readonly seed?: number;
}

export interface Forest {
  readonly dims: number;
  readonly sampleSize: number;
  readonly heightLimit: number;
  readonly seed: number;
  readonly trees: number;
  /** First node of each tree; offsets[trees] is the node count. */
  readonly offsets: Int32Array;
  /** Split feature, or −1 for a leaf. */
  readonly feature: Int16Array;
  readonly split: Float64Array;
  /** Index of the right child (the left child is the next node). */
  readonly right: Int32Array;
  /** Training rows that reached the node. */
  readonly size: Int32Array;
  /** For a leaf, its path length h: depth + c(size). Derived (not saved): scoring adds it up. */
  readonly leafPath: Float64Array;
  /** The trees as complete binary trees, for branch-free scoring. Derived; absent for deep trees. */
  readonly complete: CompleteTrees | undefined;
}

/**
 * Every tree padded to a complete binary tree of the height limit H: node i's children are 2i+1
 * and 2i+2, and a leaf above depth H repeats its path length in every leaf below it. A point then
 * takes exactly H steps per tree, each `i = 2i + 1 + !(x[f] < split)`, with no branch to mispredict
 * and no variable-length loop, and eight points walk a tree side by side. Same sums, same scores.
 */
export interface CompleteTrees {
  readonly height: number;
  /** (2^H − 1) per tree. */
  readonly feature: Int32Array;
  readonly split: Float64Array;
  /** 2^H per tree. */
  readonly leafPath: Float64Array;
}

/** Beyond this height (ψ > 4096) the padded trees would be large; scoring walks the sparse trees. */
const MAX_COMPLETE_HEIGHT = 12;

function completeTrees(
  trees: number,
  height: number,
  offsets: Int32Array,
  feature: Int16Array,
  split: Float64Array,
  right: Int32Array,
  leafPath: Float64Array,
): CompleteTrees | undefined {
  if (height > MAX_COMPLETE_HEIGHT) return undefined;
  const inner = (1 << height) - 1;
  const leaves = 1 << height;
  const cf = new Int32Array(trees * inner);
  const cs = new Float64Array(trees * inner);
  const cl = new Float64Array(trees * leaves);
  for (let t = 0; t < trees; t++) {
    // Iterative fill: (sparse node, complete position, depth).
    const stack: number[] = [offsets[t]!, 0, 0];
    while (stack.length > 0) {
      const depth = stack.pop()!;
      const pos = stack.pop()!;
      const node = stack.pop()!;
      const isLeaf = feature[node]! < 0;
      if (depth === height) {
        // A split below the height limit (a model saved by another build) cannot be padded.
        if (!isLeaf) return undefined;
        cl[t * leaves + pos - inner] = leafPath[node]!;
        continue;
      }
      cf[t * inner + pos] = isLeaf ? 0 : feature[node]!;
      cs[t * inner + pos] = isLeaf ? Infinity : split[node]!;
      stack.push(isLeaf ? node : node + 1, 2 * pos + 1, depth + 1);
      stack.push(isLeaf ? node : right[node]!, 2 * pos + 2, depth + 1);
    }
  }
  return { height, feature: cf, split: cs, leafPath: cl };
}

/** Depth + c(size) of every leaf; children always follow their parent in the arrays. */
function leafPaths(offsets: Int32Array, feature: Int16Array, right: Int32Array, size: Int32Array): Float64Array {
  // Zero-filled: every root, the first node of its tree, is at depth 0.
  const depth = new Int32Array(feature.length);
  const path = new Float64Array(feature.length);
  // Stryker disable next-line EqualityOperator: equivalent, a typed array ignores reads and writes past its end
  for (let i = 0; i < feature.length; i++) {
    if (feature[i]! < 0) path[i] = depth[i]! + c(size[i]!);
    else {
      depth[i + 1] = depth[i]! + 1;
      depth[right[i]!] = depth[i]! + 1;
    }
  }
  return path;
}

/** Fits a forest to `rows` (n × dims, row-major). */
// Over 60 lines: one closure over the forest's typed arrays, which `partition` and `build` fill in place without allocating; the hot loop of training.
export function fit(rows: Float64Array, dims: number, o: ForestOptions = {}): Forest {
  const n = Math.floor(rows.length / dims);
  if (n < 2 || rows.length !== n * dims) throw new RangeError(`fit needs at least 2 rows of ${dims} values`);
  const trees = o.trees ?? 100;
  const seed = o.seed ?? 1;
  const psi = Math.min(o.sampleSize ?? 256, n);
  const heightLimit = Math.ceil(Math.log2(psi));
  const rnd = prng(seed);
  // A cut may leave every subsample row on one side (it fell where only other rows are), so the
  // bound is the complete tree's, not 2ψ − 1.
  // Stryker disable next-line ArithmeticOperator: equivalent, the arrays are cut to the nodes made
  const maxNodes = 2 ** (heightLimit + 1) - 1;
  const feature = new Int16Array(trees * maxNodes);
  const split = new Float64Array(trees * maxNodes);
  const right = new Int32Array(trees * maxNodes);
  const size = new Int32Array(trees * maxNodes);
  const offsets = new Int32Array(trees + 1);
  const all = new Int32Array(n);
  const idx = new Int32Array(psi);
  // Every training row, partitioned alongside the subsample: it sets the range of each cut.
  const everyRow = new Int32Array(n);
  const candidates = new Int32Array(dims);
  let next = 0;

  /** Moves the rows of `ids[from, to)` below `p` on feature `f` first; returns where the rest begin. */
  const partition = (ids: Int32Array, from: number, to: number, f: number, p: number): number => {
    let a = from;
    let b = to - 1;
    while (a <= b) {
      if (rows[ids[a]! * dims + f]! < p) a++;
      else {
        const t = ids[a]!;
        ids[a] = ids[b]!;
        ids[b] = t;
        b--;
      }
    }
    return a;
  };

  // idx[from, to) is the node's share of the subsample, everyRow[allFrom, allTo) of all rows.
  const build = (from: number, to: number, allFrom: number, allTo: number, depth: number): void => {
    const node = next++;
    size[node] = to - from;
    if (depth >= heightLimit || to - from <= 1) {
      feature[node] = -1;
      return;
    }
    // A random feature among those that vary here, found by drawing without replacement: only the
    // drawn feature's range is scanned, usually once, over what can be every training row.
    // Stryker disable next-line EqualityOperator: equivalent, a typed array ignores a write past its end
    for (let f = 0; f < dims; f++) candidates[f] = f;
    let k = dims;
    let f = -1;
    let lo = 0;
    let hi = 0;
    while (k > 0) {
      const j = Math.floor(rnd() * k);
      const g = candidates[j]!;
      lo = Infinity;
      hi = -Infinity;
      for (let i = allFrom; i < allTo; i++) {
        const v = rows[everyRow[i]! * dims + g]!;
        // Stryker disable next-line EqualityOperator: equivalent, an equal value leaves the minimum as it is
        if (v < lo) lo = v;
        // Stryker disable next-line EqualityOperator: equivalent, an equal value leaves the maximum as it is
        if (v > hi) hi = v;
      }
      if (hi > lo) {
        f = g;
        break;
      }
      candidates[j] = candidates[--k]!;
    }
    // Identical rows cannot be separated: a leaf, adjusted by c(size).
    if (f < 0) {
      feature[node] = -1;
      return;
    }
    const p = lo + rnd() * (hi - lo);
    const mid = partition(idx, from, to, f, p);
    const allMid = partition(everyRow, allFrom, allTo, f, p);
    feature[node] = f;
    split[node] = p;
    build(from, mid, allFrom, allMid, depth + 1);
    right[node] = next;
    build(mid, to, allMid, allTo, depth + 1);
  };

  // Stryker disable next-line EqualityOperator: equivalent, a typed array ignores a write past its end
  for (let i = 0; i < n; i++) all[i] = everyRow[i] = i;
  for (let t = 0; t < trees; t++) {
    // A fresh subsample of ψ distinct rows for every tree (partial Fisher–Yates).
    for (let i = 0; i < psi; i++) {
      const j = i + Math.floor(rnd() * (n - i));
      const tmp = all[i]!;
      all[i] = all[j]!;
      all[j] = tmp;
      idx[i] = all[i]!;
    }
    offsets[t] = next;
    build(0, psi, 0, n, 0);
  }
  offsets[trees] = next;
  const f = feature.slice(0, next);
  const r = right.slice(0, next);
  const sz = size.slice(0, next);
  return {
    dims,
    sampleSize: psi,
    heightLimit,
    seed,
    trees,
    offsets,
    feature: f,
    right: r,
    size: sz,
    ...derived(trees, heightLimit, offsets, f, split.slice(0, next), r, sz),
  };
}

function derived(
  trees: number,
  height: number,
  offsets: Int32Array,
  feature: Int16Array,
  split: Float64Array,
  right: Int32Array,
  size: Int32Array,
): { split: Float64Array; leafPath: Float64Array; complete: CompleteTrees | undefined } {
  const leafPath = leafPaths(offsets, feature, right, size);
  return { split, leafPath, complete: completeTrees(trees, height, offsets, feature, split, right, leafPath) };
}

/** s(x) = 2^(−E[h(x)] / c(ψ)): near 1 is anomalous, well under 0.5 is normal. */
export function score(forest: Forest, x: ArrayLike<number>): number {
  return scoreAll(
    forest,
    Float64Array.from({ length: forest.dims }, (_, i) => x[i]!),
  )[0]!;
}

/**
 * Scores every row of `rows` (n × dims). Tree by tree, so that one tree's nodes stay in cache
 * while every row walks it; a leaf adds its precomputed path length.
 */
export function scoreAll(forest: Forest, rows: Float64Array): Float64Array {
  const { dims, feature, split, right, leafPath, offsets, trees } = forest;
  const n = Math.floor(rows.length / dims);
  const totals = forest.complete ? completePaths(forest.complete, trees, dims, rows, n) : new Float64Array(n);
  for (let t = 0; forest.complete === undefined && t < trees; t++) {
    const root = offsets[t]!;
    // Stryker disable next-line EqualityOperator: equivalent, a row past the end adds to no total (typed arrays ignore the write)
    for (let r = 0, base = 0; r < n; r++, base += dims) {
      let i = root;
      let f = feature[i]!;
      while (f >= 0) {
        i = rows[base + f]! < split[i]! ? i + 1 : right[i]!;
        f = feature[i]!;
      }
      totals[r] = totals[r]! + leafPath[i]!;
    }
  }
  const norm = -1 / (c(forest.sampleSize) * trees);
  // Stryker disable next-line EqualityOperator: equivalent, a typed array ignores a write past its end
  for (let r = 0; r < n; r++) totals[r] = 2 ** (totals[r]! * norm);
  return totals;
}

/** Sum over trees of each row's path length, on the complete trees, eight rows at a time. */
function completePaths(c: CompleteTrees, trees: number, dims: number, rows: Float64Array, n: number): Float64Array {
  const { height, feature, split, leafPath } = c;
  const inner = (1 << height) - 1;
  const totals = new Float64Array(n);
  // `+!(x < split)` is 0 (left) or 1 (right) without a branch; NaN goes right, as in the sparse walk.
  for (let t = 0; t < trees; t++) {
    const nb = t * inner;
    const lb = t * (inner + 1) - inner;
    let r = 0;
    // Stryker disable next-line ConditionalExpression,EqualityOperator,ArithmeticOperator: equivalent, the one-row loop below scores what this leaves, and lanes past the end write nowhere
    for (; r + 8 <= n; r += 8) {
      const b0 = r * dims;
      let i0 = 0;
      let i1 = 0;
      let i2 = 0;
      let i3 = 0;
      let i4 = 0;
      let i5 = 0;
      let i6 = 0;
      let i7 = 0;
      for (let d = 0; d < height; d++) {
        i0 = 2 * i0 + 1 + +!(rows[b0 + feature[nb + i0]!]! < split[nb + i0]!);
        i1 = 2 * i1 + 1 + +!(rows[b0 + dims + feature[nb + i1]!]! < split[nb + i1]!);
        i2 = 2 * i2 + 1 + +!(rows[b0 + 2 * dims + feature[nb + i2]!]! < split[nb + i2]!);
        i3 = 2 * i3 + 1 + +!(rows[b0 + 3 * dims + feature[nb + i3]!]! < split[nb + i3]!);
        i4 = 2 * i4 + 1 + +!(rows[b0 + 4 * dims + feature[nb + i4]!]! < split[nb + i4]!);
        i5 = 2 * i5 + 1 + +!(rows[b0 + 5 * dims + feature[nb + i5]!]! < split[nb + i5]!);
        i6 = 2 * i6 + 1 + +!(rows[b0 + 6 * dims + feature[nb + i6]!]! < split[nb + i6]!);
        i7 = 2 * i7 + 1 + +!(rows[b0 + 7 * dims + feature[nb + i7]!]! < split[nb + i7]!);
      }
      totals[r] = totals[r]! + leafPath[lb + i0]!;
      totals[r + 1] = totals[r + 1]! + leafPath[lb + i1]!;
      totals[r + 2] = totals[r + 2]! + leafPath[lb + i2]!;
      totals[r + 3] = totals[r + 3]! + leafPath[lb + i3]!;
      totals[r + 4] = totals[r + 4]! + leafPath[lb + i4]!;
      totals[r + 5] = totals[r + 5]! + leafPath[lb + i5]!;
      totals[r + 6] = totals[r + 6]! + leafPath[lb + i6]!;
      totals[r + 7] = totals[r + 7]! + leafPath[lb + i7]!;
    }
    // Stryker disable next-line EqualityOperator: equivalent, a row past the end adds to no total (typed arrays ignore the write)
    for (; r < n; r++) {
      const b = r * dims;
      let i = 0;
      for (let d = 0; d < height; d++) i = 2 * i + 1 + +!(rows[b + feature[nb + i]!]! < split[nb + i]!);
      totals[r] = totals[r]! + leafPath[lb + i]!;
    }
  }
  return totals;
}

/**
 * Which features isolate x: for every split on x's path, the share of the tree's sample that the
 * split cut away from x is credited to the split's feature; averaged over trees and normalised to
 * sum to 1. A point isolated early by one feature gets most of its credit on that feature.
 */
export function contributions(forest: Forest, x: ArrayLike<number>): Float64Array {
  const out = new Float64Array(forest.dims);
  const { feature, split, right, size } = forest;
  for (let t = 0; t < forest.trees; t++) {
    let i = forest.offsets[t]!;
    const root = size[i]!;
    for (;;) {
      const f = feature[i]!;
      if (f < 0) break;
      const child = x[f]! < split[i]! ? i + 1 : right[i]!;
      // Stryker disable next-line ArithmeticOperator: equivalent, every tree's root holds ψ rows, and the shares are normalised below
      out[f] = out[f]! + (size[i]! - size[child]!) / root;
      i = child;
    }
  }
  let sum = 0;
  for (const v of out) sum += v;
  // Stryker disable next-line EqualityOperator: equivalent, a typed array ignores a write past its end
  if (sum > 0) for (let f = 0; f < out.length; f++) out[f] = out[f]! / sum;
  return out;
}

/** A saved forest: versioned JSON, typed arrays as base64 of their little-endian bytes. */
export interface SavedForest {
  readonly format: 'vigil-iforest';
  readonly version: 1;
  readonly dims: number;
  readonly sampleSize: number;
  readonly heightLimit: number;
  readonly seed: number;
  readonly trees: number;
  readonly nodes: { offsets: string; feature: string; split: string; right: string; size: string };
}

const b64 = (a: ArrayBufferView) => Buffer.from(a.buffer, a.byteOffset, a.byteLength).toString('base64');

export function saveForest(f: Forest): SavedForest {
  return {
    format: 'vigil-iforest',
    version: 1,
    dims: f.dims,
    sampleSize: f.sampleSize,
    heightLimit: f.heightLimit,
    seed: f.seed,
    trees: f.trees,
    nodes: {
      offsets: b64(f.offsets),
      feature: b64(f.feature),
      split: b64(f.split),
      right: b64(f.right),
      size: b64(f.size),
    },
  };
}

/** A saved forest that cannot be loaded; the message says what is wrong with it. */
export class ModelFormatError extends VigilError {
  readonly code = 'MODEL_FORMAT';
}

// The schema's error is every check's: a negative number "is not a whole number" too.
const wholeNumber = z.int({ error: 'is not a whole number' }).nonnegative();
const base64 = z.string({ error: 'is not a base64 string' });
/** What a saved forest holds, past its format and version (checked first, for their own messages). */
const savedForestSchema = z.object({
  dims: wholeNumber,
  sampleSize: wholeNumber,
  heightLimit: wholeNumber,
  seed: wholeNumber,
  trees: wholeNumber,
  nodes: z.object(
    { offsets: base64, feature: base64, split: base64, right: base64, size: base64 },
    { error: 'is not an object of node arrays' },
  ),
});
const headerSchema = z.object({ format: z.literal('vigil-iforest'), version: z.unknown() });

function typed<T>(text: string, what: string, bytes: number, make: (b: ArrayBuffer) => T): T {
  const buf = Buffer.from(text, 'base64');
  if (buf.length % bytes !== 0)
    throw new ModelFormatError(`nodes.${what} has ${buf.length} bytes, not a multiple of ${bytes}`);
  const copy = new ArrayBuffer(buf.length);
  new Uint8Array(copy).set(buf);
  return make(copy);
}

/** Loads a saved forest, checking its format, version and structure. */
export function loadForest(saved: unknown): Forest {
  const header = headerSchema.safeParse(saved);
  if (!header.success) throw new ModelFormatError('not a vigil-iforest model');
  if (header.data.version !== 1)
    throw new ModelFormatError(`model version ${String(header.data.version)} is not supported (this build reads 1)`);
  const parsed = savedForestSchema.safeParse(saved);
  if (!parsed.success) {
    // zod reports at least one issue for a failed parse.
    const issue = parsed.error.issues[0]!;
    throw new ModelFormatError(`${issue.path.join('.')} ${issue.message}`);
  }
  const s = parsed.data;
  const n = s.nodes;
  const offsets = typed(n.offsets, 'offsets', 4, (b) => new Int32Array(b));
  const feature = typed(n.feature, 'feature', 2, (b) => new Int16Array(b));
  const split = typed(n.split, 'split', 8, (b) => new Float64Array(b));
  const right = typed(n.right, 'right', 4, (b) => new Int32Array(b));
  const size = typed(n.size, 'size', 4, (b) => new Int32Array(b));
  const nodes = feature.length;
  if (offsets.length !== s.trees + 1 || offsets[s.trees] !== nodes)
    throw new ModelFormatError('offsets do not match the trees');
  if (split.length !== nodes || right.length !== nodes || size.length !== nodes) {
    throw new ModelFormatError('node arrays differ in length');
  }
  // Stryker disable next-line EqualityOperator: equivalent, past the end a typed array reads undefined, which fails both tests
  for (let i = 0; i < nodes; i++) {
    if (feature[i]! >= s.dims) throw new ModelFormatError(`node ${i} splits on feature ${feature[i]} of ${s.dims}`);
    if (feature[i]! >= 0 && (right[i]! <= i + 1 || right[i]! >= nodes))
      throw new ModelFormatError(`node ${i} has no valid right child`);
  }
  return {
    dims: s.dims,
    sampleSize: s.sampleSize,
    heightLimit: s.heightLimit,
    seed: s.seed,
    trees: s.trees,
    offsets,
    feature,
    right,
    size,
    ...derived(s.trees, s.heightLimit, offsets, feature, split, right, size),
  };
}
