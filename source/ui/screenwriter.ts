import { EventEmitter } from 'node:events';
import stringWidth from 'string-width';

/**
 * Puts Ink's frames on the alternate screen row by row, at absolute
 * positions, writing only the rows that changed.
 *
 * Why not Ink's own `incrementalRendering`: in Ink 6.8 it moves the cursor up
 * one row too few after a frame that ends in a newline (every frame shorter
 * than the terminal, as ours is), so each frame whose last row did not change
 * was drawn one row low over the last: in tmux a joining peer left
 * "starting…" in the stats pane, panes without their bottom border and the
 * input row twice (test/ui/terminal.test.tsx shows it on a VT screen).
 * Ink's full redraw is right but sends the whole screen for every keystroke.
 * Here Ink renders in debug mode (each frame handed over whole, no cursor
 * movements of its own) and this writer diffs it against what it last put
 * on screen. The frame always starts at the top-left cell of the alternate
 * screen, so absolute cursor positions (CUP, ECMA-48 §8.3.21) cannot drift.
 */

/** Synchronized output (DEC mode 2026): the terminal shows the rows at once. */
const BEGIN = '\x1b[?2026h';
const END = '\x1b[?2026l';
/** A write that is only a bell or escape sequences (the App's mention bell): not a frame. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: BEL and ESC are what it looks for
const CONTROL_ONLY = /^(?:\x07|\x1b\[[0-9;?]*[A-Za-z])+$/;

/** A row's last character with the colour codes around it. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: SGR sequences start with ESC
const LAST_CHAR = /((?:\x1b\[[0-9;]*m)*)([^\x1b])((?:\x1b\[[0-9;]*m)*)$/u;

/**
 * A row of printable ASCII, box drawing (U+2500–U+257F, the panes' borders)
 * and SGR codes only: every terminal gives each of these characters one cell,
 * so such a row cannot overrun the last column and needs no measuring. Under
 * 1,000 incoming messages a second, string-width on each changed row was a
 * fifth of the chat's render time (bench/tui.ts --profile-chat).
 */
// biome-ignore lint/suspicious/noControlCharactersInRegex: SGR sequences start with ESC
const ONE_CELL_EACH = /^(?:[\x20-\x7e\u2500-\u257f]|\x1b\[[0-9;]*m)*$/;

/**
 * The row at `y` (1-based). A row as wide as the terminal has its last
 * character (a pane's right border) put again in the last column: terminals
 * disagree on the width of emoji ZWJ sequences and flags (tmux 3.3 and xterm
 * give 👨‍👩‍👧‍👦 eight cells, string-width and most newer terminals two), and
 * with auto-wrap off (run.tsx) the surplus overwrites the last column
 * instead of wrapping onto the row below; the border then comes back over it.
 */
function drawRow(
  y: number,
  row: string,
  columns: number,
  widthOf: (row: string) => number,
): string {
  let out = `\x1b[${y};1H\x1b[0m\x1b[2K${row}`;
  if (ONE_CELL_EACH.test(row)) return out;
  const last = LAST_CHAR.exec(row);
  if (last && widthOf(row) === columns && stringWidth(last[2]!) === 1) {
    out += `\x1b[${y};${columns}H${last[1]}${last[2]}${last[3]}`;
  }
  return out;
}

/**
 * The bytes that turn `shown` into `next` (rows of a frame) on a terminal
 * `columns` wide. Each changed row is erased before it is written: an erase
 * after a full-width row would meet the terminal's pending wrap, where some
 * terminals erase the last cell. `shown` undefined (first frame, after a
 * resize) clears and draws all rows.
 */
export function frameUpdate(
  shown: readonly string[] | undefined,
  next: readonly string[],
  columns: number,
  widthOf: (row: string) => number = stringWidth,
): string {
  let out = shown ? '' : '\x1b[H\x1b[2J';
  const count = Math.max(shown?.length ?? 0, next.length);
  for (let i = 0; i < count; i++) {
    const row = next[i];
    if (shown && shown[i] === row) continue;
    out += drawRow(i + 1, row ?? '', columns, widthOf);
  }
  return out === '' ? '' : `${BEGIN}${out}\x1b[0m${END}`;
}

/** The stream Ink writes to: the terminal's size and resizes, frames diffed onto `out`. */
export class ScreenWriter extends EventEmitter {
  readonly isTTY = true;
  private shown: string[] | undefined;
  /**
   * Display widths of the rows of the last two frames. string-width on every
   * changed row was 9 % of the chat's CPU under 1,000 incoming messages a
   * second (bench/tui.ts --profile-chat): as messages arrive every row of the
   * pane changes place, but most of them only move, so their widths are known.
   */
  private widths = new Map<string, number>();
  private nextWidths = new Map<string, number>();
  private readonly widthOf = (row: string): number => {
    let w = this.nextWidths.get(row) ?? this.widths.get(row);
    if (w === undefined) w = this.measure(row);
    this.nextWidths.set(row, w);
    return w;
  };

  constructor(
    private readonly out: NodeJS.WriteStream,
    private readonly measure: (text: string) => number = stringWidth,
  ) {
    super();
    out.on('resize', this.resized);
  }

  get columns(): number {
    return this.out.columns;
  }

  get rows(): number {
    return this.out.rows;
  }

  /** After a resize the terminal may have moved or cut rows: the next frame is drawn whole. */
  private readonly resized = () => {
    this.shown = undefined;
    this.emit('resize');
  };

  write(data: string | Uint8Array, cb?: (err?: Error | null) => void): boolean {
    const text = typeof data === 'string' ? data : Buffer.from(data).toString('utf8');
    if (CONTROL_ONLY.test(text)) return this.out.write(text, cb);
    const rows = text.split('\n');
    const bytes = frameUpdate(this.shown, rows, this.columns, this.widthOf);
    this.shown = rows;
    // The widths this frame looked up: a row moving on in the next is known.
    this.widths = this.nextWidths;
    this.nextWidths = new Map();
    if (bytes === '') {
      cb?.();
      return true;
    }
    return this.out.write(bytes, cb);
  }

  /**
   * Puts one row (0-based) of the frame on screen now, between Ink's frames:
   * the input row as keys are typed (App.tsx), so that a keystroke shows
   * without waiting for the whole frame to be rendered. The row must be what
   * the next frame will hold there (Ink's own rendering of the same
   * element): that frame then finds it drawn and writes nothing for it.
   * Nothing is drawn before the first frame or after a resize.
   */
  drawRowNow(index: number, row: string): void {
    const shown = this.shown;
    if (!shown || index < 0 || index >= shown.length || shown[index] === row) return;
    shown[index] = row;
    this.out.write(`${BEGIN}${drawRow(index + 1, row, this.columns, this.widthOf)}\x1b[0m${END}`);
  }

  /** Stops following the terminal's resizes. */
  close(): void {
    this.out.off('resize', this.resized);
  }
}
