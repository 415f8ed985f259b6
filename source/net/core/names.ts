/**
 * Peer names people read and type: what a nick may contain, and when two
 * nicks look alike. Pure (no I/O); the endpoint uses it to name strangers.
 *
 * Look-alikes follow Unicode UTS #39 §4 (confusable detection): two strings
 * are confusable when their skeletons are equal, skeleton(X) = NFD, remove
 * Default_Ignorable_Code_Point characters, map each character by
 * confusables.txt, NFD again. The mapping table is the `unhomoglyph`
 * package's copy of confusables.txt (MIT, every entry of the file, Unicode
 * 13.0). Two additions to the bare skeleton, both so that what a person sees
 * decides and not how it is encoded:
 * - NFKC first: confusables.txt leaves out characters whose compatibility
 *   decomposition already names the look-alike (fullwidth `ｂ`, script `ℬ`),
 *   because UTS #39 expects identifiers to be NFKC already (UAX #31 §5).
 * - Case-insensitive: `Bob` beside a pinned `bob` is as misleading as `bоb`.
 *   confusableWith also compares the case-kept skeleton, for UTS #39's
 *   cross-case prototypes (`I` and `1` look like `l`).
 */
import unhomoglyph from 'unhomoglyph';
import { UsageError } from './errors.js';

export const MAX_NICK_CHARS = 32;
/** Stranger names leave room for a `-<8 fingerprint chars>` suffix within MAX_NICK_CHARS. */
export const MAX_ANNOUNCED_CHARS = 23;
/**
 * Combining marks one base letter may carry: enough for NFD Vietnamese (2),
 * Indic clusters and Tibetan stacks (3-4), not enough for "Zalgo" text that
 * spills over neighbouring lines.
 */
export const MAX_MARKS_PER_BASE = 4;

const BASE = /^[\p{L}\p{N}]$/u;
const PUNCT = /^[_.-]$/u;
const MARK = /^\p{M}$/u;
/**
 * Characters that render as nothing (UTS #39 §4 removes them from skeletons;
 * here a nick may not hold them at all): Default_Ignorable_Code_Point covers
 * ZWJ/ZWNJ, soft hyphen, variation selectors and the Hangul fillers U+115F,
 * U+1160, U+3164, U+FFA0 (letters, so \p{L} lets them in); \p{Cf} the bidi
 * overrides and other format characters.
 */
const INVISIBLE = /^[\p{Default_Ignorable_Code_Point}\p{Cf}]$/u;
const INVISIBLE_ALL = /[\p{Default_Ignorable_Code_Point}\p{Cf}]/gu;

function codePoint(ch: string): string {
  return `U+${ch.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}`;
}

/** Controls, separators, format/invisible characters and marks: shown as <U+XXXX> in messages. */
const UNSHOWABLE = /^[\p{C}\p{Z}\p{M}\p{Default_Ignorable_Code_Point}]$/u;

/** The nick for an error message, with anything that would not print plainly spelled out. */
function shown(nick: string): string {
  const chars = [...nick];
  const cut = chars.slice(0, 40);
  const text = cut.map((c) => (c !== ' ' && UNSHOWABLE.test(c) ? `<${codePoint(c)}>` : c)).join('');
  return chars.length > cut.length ? `${text}...` : text;
}

/** What is wrong with `nick`, or undefined when it is a valid nick. */
function nickProblem(nick: string): string | undefined {
  const chars = [...nick];
  if (chars.length === 0 || chars.length > MAX_NICK_CHARS) {
    return `use 1-${MAX_NICK_CHARS} letters, digits, "_", "." or "-"`;
  }
  let marks = 0;
  for (const [i, c] of chars.entries()) {
    if (INVISIBLE.test(c)) return `${codePoint(c)} is invisible`;
    if (MARK.test(c)) {
      const prev = chars[i - 1];
      if (prev === undefined || PUNCT.test(prev))
        return `combining mark ${codePoint(c)} has no letter`;
      if (++marks > MAX_MARKS_PER_BASE)
        return `more than ${MAX_MARKS_PER_BASE} marks on one letter`;
      continue;
    }
    marks = 0;
    if (!BASE.test(c) && !PUNCT.test(c)) {
      return /^\s$/u.test(c)
        ? 'no spaces'
        : `${codePoint(c)} is not a letter, digit, "_", "." or "-"`;
    }
  }
  return undefined;
}

/**
 * Nicks name peers in commands (`/msg bob hi`): 1-32 letters (any script),
 * digits, `_ . -`, and combining marks on a letter. Nothing invisible, no
 * spaces. Returns `nick` unchanged; throws UsageError saying what is wrong.
 */
export function validateNick(nick: string): string {
  const problem = nickProblem(nick);
  if (problem !== undefined) {
    throw new UsageError(`bad nickname "${shown(nick)}": ${problem}`);
  }
  return nick;
}

function mapConfusables(text: string): string {
  return unhomoglyph(text.normalize('NFD').replace(INVISIBLE_ALL, '')).normalize('NFD');
}

/** UTS #39 §4 skeleton of the NFKC form, case kept: catches `I` and `1` posing as `l`. */
function caseKeptSkeleton(nick: string): string {
  return mapConfusables(nick.normalize('NFKC'));
}

/**
 * The UTS #39 §4 skeleton of `nick` taken case-insensitively: NFKC, lower
 * case, skeleton, lower case again (prototypes such as `O` are capitals),
 * skeleton again. Equal skeletons mean the nicks look alike; the string is
 * for comparing, not for showing (`m` becomes `rn`).
 */
export function nickSkeleton(nick: string): string {
  return mapConfusables(mapConfusables(nick.normalize('NFKC').toLowerCase()).toLowerCase());
}

/**
 * Skeletons of names in use, memoised: confusableWith runs for every stranger
 * against every name, and the names change rarely. Only names in use are
 * cached (never the stranger's nick), and the cache is emptied when full, so
 * it holds at most SKELETON_CACHE_LIMIT entries.
 */
export const SKELETON_CACHE_LIMIT = 4096;
const cache = new Map<string, readonly [folded: string, kept: string]>();

function skeletonsOf(name: string): readonly [string, string] {
  let entry = cache.get(name);
  if (!entry) {
    entry = [nickSkeleton(name), caseKeptSkeleton(name)];
    if (cache.size >= SKELETON_CACHE_LIMIT) cache.clear();
    cache.set(name, entry);
  }
  return entry;
}

/** Entries in the skeleton cache (for tests of its bound). */
export function skeletonCacheSize(): number {
  return cache.size;
}

/**
 * The first of `namesInUse` that `nick` could be taken for (an identical name
 * included), or undefined when it looks like none of them. Compares both the
 * case-insensitive skeleton (`ALICE` vs `alice`) and the case-kept one
 * (`Il` vs `ll`), since folding case first loses the capital-I look-alikes.
 */
export function confusableWith(nick: string, namesInUse: Iterable<string>): string | undefined {
  const folded = nickSkeleton(nick);
  const kept = caseKeptSkeleton(nick);
  for (const name of namesInUse) {
    if (name === nick) return name;
    const [nameFolded, nameKept] = skeletonsOf(name);
    if (nameFolded === folded || nameKept === kept) return name;
  }
  return undefined;
}

/**
 * A stranger's self-chosen nick made into a valid, typeable one: NFC,
 * invisible characters and marks without a letter dropped, anything else not
 * allowed in a nick becomes `_`, at most MAX_ANNOUNCED_CHARS characters;
 * `peer` when nothing is left. Always passes validateNick.
 */
export function sanitizeAnnouncedNick(announced: string): string {
  const out: string[] = [];
  let marks = 0;
  for (const c of announced.normalize('NFC')) {
    if (out.length >= MAX_ANNOUNCED_CHARS) break;
    if (INVISIBLE.test(c)) continue;
    if (MARK.test(c)) {
      const prev = out[out.length - 1];
      if (prev === undefined || PUNCT.test(prev) || marks >= MAX_MARKS_PER_BASE) continue;
      marks++;
      out.push(c);
      continue;
    }
    marks = 0;
    out.push(BASE.test(c) || PUNCT.test(c) ? c : '_');
  }
  return out.length > 0 ? out.join('') : 'peer';
}
