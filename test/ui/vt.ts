import { EventEmitter } from 'node:events';
import stringWidth from 'string-width';

/**
 * A small VT100/xterm screen for tests: what a terminal shows after the bytes
 * the chat wrote, not the frames it meant to draw. It keeps the cursor, the
 * pending wrap at the right margin, scrolling at the bottom row, and the
 * cursor movements, erases and modes Ink and the chat use (ECMA-48 §8.3),
 * NL as CR LF (the tty's onlcr);
 * colours and other SGR attributes are ignored. Wide characters take two
 * cells (string-width, per code point: an emoji ZWJ sequence takes two cells
 * for each emoji in it, as in tmux 3.3 and xterm, where string-width counts
 * two for the whole cluster).
 */
export class VtScreen extends EventEmitter {
  readonly isTTY = true;
  bytes = 0;
  private grid: string[][] = [];
  private row = 0;
  private col = 0;
  /** Set after a character is written in the last column (DEC pending wrap). */
  private wrapPending = false;
  /** DECAWM: off, a character past the right margin overwrites the last column instead of wrapping. */
  private autoWrap = true;
  private pending = '';

  constructor(
    public columns: number,
    public rows: number,
  ) {
    super();
    this.grid = Array.from({ length: rows }, () => this.blank());
  }

  resize(columns: number, rows: number) {
    this.columns = columns;
    this.rows = rows;
    this.grid = this.grid
      .slice(0, rows)
      .map((r) => [...r.slice(0, columns), ...this.blank()].slice(0, columns));
    while (this.grid.length < rows) this.grid.push(this.blank());
    this.row = Math.min(this.row, rows - 1);
    this.col = Math.min(this.col, columns - 1);
    this.emit('resize');
  }

  /** The screen as text rows, trailing spaces kept. */
  lines(): string[] {
    return this.grid.map((r) => r.join(''));
  }

  write(data: string | Uint8Array, cb?: () => void): boolean {
    const text = typeof data === 'string' ? data : Buffer.from(data).toString('utf8');
    this.bytes += Buffer.byteLength(text);
    this.feed(this.pending + text);
    cb?.();
    return true;
  }

  private blank(): string[] {
    return Array.from({ length: this.columns }, () => ' ');
  }

  private feed(s: string) {
    this.pending = '';
    // biome-ignore lint/suspicious/noControlCharactersInRegex: a terminal parses control characters
    const re = /\x1b\[([?0-9;]*)([@-~])|\x1b\][^\x07]*\x07|\x1b[78=>]|[\s\S]/gu;
    for (const m of s.matchAll(re)) {
      const t = m[0];
      if (t === '\x1b' && m.index === s.length - 1) {
        this.pending = t;
        return;
      }
      if (m[2] !== undefined) this.csi(m[1] ?? '', m[2]);
      else if (t.startsWith('\x1b')) continue;
      else if (t === '\r') {
        this.col = 0;
        this.wrapPending = false;
      } else if (t === '\n') {
        // The tty's output processing (onlcr) sends NL as CR LF.
        this.col = 0;
        this.lineFeed();
      } else if (t === '\x07' || t < ' ') continue;
      else this.put(t);
    }
  }

  private lineFeed() {
    this.wrapPending = false;
    if (this.row === this.rows - 1) {
      this.grid.shift();
      this.grid.push(this.blank());
    } else this.row++;
  }

  private put(ch: string) {
    const w = stringWidth(ch);
    if (w === 0) return;
    if (this.wrapPending || this.col + w > this.columns) {
      if (this.autoWrap) {
        this.col = 0;
        this.lineFeed();
      } else this.col = this.columns - w;
    }
    this.grid[this.row]![this.col] = ch;
    if (w === 2 && this.col + 1 < this.columns) this.grid[this.row]![this.col + 1] = '';
    if (this.col + w >= this.columns) {
      this.col = this.columns - 1;
      this.wrapPending = true;
    } else this.col += w;
  }

  private csi(params: string, final: string) {
    if (params === '?7') this.autoWrap = final !== 'l';
    if (params.startsWith('?')) return; // other modes: cursor, alternate screen, synchronized output
    const n = params.split(';').map((p) => (p === '' ? undefined : Number(p)));
    const a = n[0] ?? 1;
    // As tmux does: an erase in the pending-wrap state leaves the last column's character.
    if (final === 'K' && this.wrapPending) return;
    this.wrapPending = false;
    const clampRow = (r: number) => Math.max(0, Math.min(this.rows - 1, r));
    switch (final) {
      case 'A':
        this.row = clampRow(this.row - a);
        break;
      case 'B':
        this.row = clampRow(this.row + a);
        break;
      case 'E':
        this.row = clampRow(this.row + a);
        this.col = 0;
        break;
      case 'F':
        this.row = clampRow(this.row - a);
        this.col = 0;
        break;
      case 'G':
        this.col = Math.min(this.columns - 1, a - 1);
        break;
      case 'H':
        this.row = clampRow((n[0] ?? 1) - 1);
        this.col = Math.min(this.columns - 1, (n[1] ?? 1) - 1);
        break;
      case 'J':
        if ((n[0] ?? 0) === 2) this.grid = this.grid.map(() => this.blank());
        break;
      case 'K': {
        const mode = n[0] ?? 0;
        const r = this.grid[this.row]!;
        for (let c = 0; c < this.columns; c++) {
          if (mode === 2 || (mode === 0 && c >= this.col) || (mode === 1 && c <= this.col))
            r[c] = ' ';
        }
        break;
      }
      default:
        break; // SGR and the rest: no effect on the text
    }
  }
}
