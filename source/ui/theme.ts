import { clipCells } from './cells.js';

/**
 * Colours for the panes. Every pane takes `color: boolean` (false under
 * NO_COLOR) and must still say everything in text without colour: marks and
 * words carry the meaning, colour only helps.
 */

/** Nick colours: never red (errors) or grey (system lines). */
const NICK_COLORS = [
  'cyan',
  'green',
  'yellow',
  'magenta',
  'blue',
  'greenBright',
  'cyanBright',
  'magentaBright',
] as const;

export type NickColor = (typeof NICK_COLORS)[number];

/** The same nick gets the same colour in every run and on every machine. */
export function nickColor(nick: string): NickColor {
  // FNV-1a: small, stable, spreads similar nicks apart.
  let h = 0x811c9dc5;
  for (let i = 0; i < nick.length; i++) {
    h ^= nick.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return NICK_COLORS[h % NICK_COLORS.length]!;
}

/** `c` when colour is on, else nothing (Ink then uses the terminal's default). */
export const hue = <T extends string>(color: boolean, c: T): T | undefined =>
  color ? c : undefined;

/** 1.2 kB style sizes. */
export function formatBytes(n: number): string {
  if (n < 1000) return `${n} B`;
  const units = ['kB', 'MB', 'GB', 'TB'];
  let v = n;
  let u = -1;
  while (v >= 1000 && u < units.length - 1) {
    v /= 1000;
    u++;
  }
  return `${v < 10 ? v.toFixed(1) : Math.round(v)} ${units[u]}`;
}

/** Cuts to `width` terminal cells (never inside a character), marking the cut with …. */
export const clip = clipCells;
