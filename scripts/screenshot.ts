/**
 * Renders a real two-peer session to media/: starts Alice and Bob in a
 * private tmux server on 127.0.0.1 (separate temporary data directories),
 * has them talk, captures both terminals with their colours
 * (`capture-pane -e`) and draws the cells into an SVG, rendered to PNG with
 * resvg. Nothing is drawn by hand.
 *
 *   npx tsx scripts/screenshot.ts [out-dir]     (default: media)
 */
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Resvg } from '@resvg/resvg-js';
import { chatArgv, chatEnv, findTmux, Tmux } from '../test/e2e/tmux.js';

const MONO_FONTS = [
  '/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf',
  '/usr/share/fonts/truetype/dejavu/DejaVuSansMono-Bold.ttf',
];
const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const COLUMNS = 96;
const ROWS = 30;

// ---- terminal cells from `capture-pane -e` output --------------------------------

interface Style {
  fg: string | undefined;
  bg: string | undefined;
  bold: boolean;
  dim: boolean;
  inverse: boolean;
}

interface Cell {
  ch: string;
  style: Style;
}

const PLAIN: Style = { fg: undefined, bg: undefined, bold: false, dim: false, inverse: false };

// A dark theme's 16 colours (xterm-like, softened).
const PALETTE = [
  '#1e1e1e',
  '#e06c75',
  '#98c379',
  '#e5c07b',
  '#61afef',
  '#c678dd',
  '#56b6c2',
  '#d0d0d0',
  '#808080',
  '#ff7b86',
  '#b5e890',
  '#ffd68a',
  '#80c4ff',
  '#e09cff',
  '#7fdbe6',
  '#ffffff',
];
const FG = '#d0d0d0';
const BG = '#1e1e1e';

function color256(n: number): string {
  if (n < 16) return PALETTE[n]!;
  if (n >= 232) {
    const v = 8 + (n - 232) * 10;
    return `rgb(${v},${v},${v})`;
  }
  const i = n - 16;
  const c = (x: number) => (x === 0 ? 0 : 55 + x * 40);
  return `rgb(${c(Math.floor(i / 36))},${c(Math.floor(i / 6) % 6)},${c(i % 6)})`;
}

function applySgr(style: Style, params: number[]): Style {
  const s = { ...style };
  for (let i = 0; i < params.length; i++) {
    const p = params[i]!;
    if (p === 0) Object.assign(s, PLAIN);
    else if (p === 1) s.bold = true;
    else if (p === 2) s.dim = true;
    else if (p === 7) s.inverse = true;
    else if (p === 22) s.bold = s.dim = false;
    else if (p === 27) s.inverse = false;
    else if (p >= 30 && p <= 37) s.fg = PALETTE[p - 30];
    else if (p >= 90 && p <= 97) s.fg = PALETTE[p - 90 + 8];
    else if (p >= 40 && p <= 47) s.bg = PALETTE[p - 40];
    else if (p >= 100 && p <= 107) s.bg = PALETTE[p - 100 + 8];
    else if (p === 39) s.fg = undefined;
    else if (p === 49) s.bg = undefined;
    else if ((p === 38 || p === 48) && params[i + 1] === 5) {
      const c = color256(params[i + 2] ?? 0);
      if (p === 38) s.fg = c;
      else s.bg = c;
      i += 2;
    } else if ((p === 38 || p === 48) && params[i + 1] === 2) {
      const c = `rgb(${params[i + 2] ?? 0},${params[i + 3] ?? 0},${params[i + 4] ?? 0})`;
      if (p === 38) s.fg = c;
      else s.bg = c;
      i += 4;
    }
  }
  return s;
}

const ESC = String.fromCharCode(27);

export function parseScreen(text: string, columns: number): Cell[][] {
  const rows: Cell[][] = [];
  let style = PLAIN;
  for (const line of text.split('\n')) {
    const row: Cell[] = [];
    for (let i = 0; i < line.length; ) {
      if (line[i] === ESC && line[i + 1] === '[') {
        const end = line.slice(i + 2).search(/[A-Za-z]/);
        if (end < 0) break;
        const body = line.slice(i + 2, i + 2 + end);
        if (line[i + 2 + end] === 'm') {
          style = applySgr(style, body === '' ? [0] : body.split(';').map(Number));
        }
        i += 3 + end;
        continue;
      }
      const cp = line.codePointAt(i)!;
      const ch = String.fromCodePoint(cp);
      row.push({ ch, style });
      i += ch.length;
    }
    while (row.length < columns) row.push({ ch: ' ', style: PLAIN });
    rows.push(row.slice(0, columns));
  }
  return rows;
}

// ---- SVG -----------------------------------------------------------------------

const CW = 8.4;
const CH = 17;
const escapeXml = (s: string) =>
  s.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;');

function terminalSvg(title: string, rows: Cell[][], x0: number, y0: number): string {
  const width = COLUMNS * CW + 24;
  const height = rows.length * CH + 44;
  const out: string[] = [
    `<g transform="translate(${x0},${y0})">`,
    `<rect width="${width}" height="${height}" rx="8" fill="${BG}" stroke="#444"/>`,
    `<circle cx="16" cy="14" r="5" fill="#ff5f56"/><circle cx="32" cy="14" r="5" fill="#ffbd2e"/><circle cx="48" cy="14" r="5" fill="#27c93f"/>`,
    `<text x="${width / 2}" y="18" fill="#aaa" text-anchor="middle" font-size="12">${escapeXml(title)}</text>`,
  ];
  rows.forEach((row, r) => {
    const y = 32 + r * CH;
    // Runs of cells with one style become one <text>.
    let c = 0;
    while (c < row.length) {
      const st = row[c]!.style;
      let end = c;
      let text = '';
      while (end < row.length && row[end]!.style === st) text += row[end++]!.ch;
      let fg = st.fg ?? FG;
      let bg = st.bg;
      if (st.inverse) [fg, bg] = [bg ?? BG, fg];
      const x = 12 + c * CW;
      if (bg) {
        out.push(`<rect x="${x}" y="${y}" width="${(end - c) * CW}" height="${CH}" fill="${bg}"/>`);
      }
      if (text.trim() !== '') {
        const attrs = [
          `x="${x}"`,
          `y="${y + CH - 4}"`,
          `fill="${fg}"`,
          `textLength="${(end - c) * CW}"`,
          'lengthAdjust="spacingAndGlyphs"',
          st.bold ? 'font-weight="bold"' : '',
          st.dim ? 'opacity="0.6"' : '',
        ];
        out.push(`<text ${attrs.filter(Boolean).join(' ')}>${escapeXml(text)}</text>`);
      }
      c = end;
    }
  });
  out.push('</g>');
  return out.join('\n');
}

// ---- the session ---------------------------------------------------------------

async function main(): Promise<void> {
  const outDir = resolve(process.argv[2] ?? join(root, 'media'));
  const bin = findTmux();
  if (!bin) {
    process.stderr.write('screenshot: tmux is not installed (apt-get install tmux)\n');
    process.exit(2);
  }
  const tmux = new Tmux(bin);
  const home = await mkdtemp(join(tmpdir(), 'srmudp-shot-'));
  try {
    const start = (nick: string) =>
      tmux.start(nick, chatArgv(root, nick), chatEnv(home, nick), { columns: COLUMNS, rows: ROWS });
    const [alice, bob] = await Promise.all([start('alice'), start('bob')]);
    const port = (await alice.waitFor(/listening on 127\.0\.0\.1:(\d+)/, 20_000))[1]!;
    await bob.waitFor(/type \/help/, 20_000);
    // Start-up lines are long paths in temp dirs: clear them for the picture.
    await alice.line('/clear');
    await bob.line('/clear');
    await bob.line(`/add alice 127.0.0.1:${port}`);
    await alice.waitFor(/│bob\s+127\.0\.0\.1:\d+\s+\w{8}\s+\d/);
    await bob.waitFor(/│alice\s+127\.0\.0\.1:\d+\s+\w{8}\s+\d/);
    await bob.line('hi Alice! the full-screen chat works');
    await alice.waitFor(/<bob> hi Alice/);
    await alice.line('hello Bob, all messages are end-to-end encrypted');
    await bob.waitFor(/<alice> hello Bob/);
    await alice.line('/msg bob this one is just for you');
    await bob.waitFor(/\[private\] <alice> this one/);
    await bob.line('/whois alice');
    await bob.waitFor(/fingerprint\s+\w{52}/);
    await alice.keys('/ms');
    // Let a few stats ticks land so RTT and totals are live.
    await new Promise((r) => setTimeout(r, 1500));
    const screens = [
      { title: 'alice', rows: parseScreen(await alice.capture(true), COLUMNS) },
      { title: 'bob', rows: parseScreen(await bob.capture(true), COLUMNS) },
    ];
    await alice.keys('C-u');
    await alice.line('/quit');
    await bob.line('/quit');
    const codes = await Promise.all([alice.exited(), bob.exited()]).catch(() => undefined);
    if (codes?.some((c) => c !== 0) !== false)
      process.stderr.write('screenshot: a chat did not exit cleanly\n');

    const tw = COLUMNS * CW + 24;
    const th = ROWS * CH + 44;
    const gap = 16;
    const svg = [
      `<svg xmlns="http://www.w3.org/2000/svg" width="${2 * tw + 3 * gap}" height="${th + 2 * gap}" font-family="DejaVu Sans Mono, Menlo, Consolas, monospace" font-size="14" xml:space="preserve">`,
      `<rect width="100%" height="100%" fill="#111"/>`,
      ...screens.map((s, i) => terminalSvg(s.title, s.rows, gap + i * (tw + gap), gap)),
      '</svg>',
    ].join('\n');
    await mkdir(outDir, { recursive: true });
    const svgPath = join(outDir, 'screenshot.svg');
    await writeFile(svgPath, `${svg}\n`);
    process.stdout.write(`wrote ${svgPath}\n`);
    const pngPath = join(outDir, 'screenshot.png');
    const png = new Resvg(svg, {
      font: {
        loadSystemFonts: true,
        fontFiles: MONO_FONTS.filter((f) => existsSync(f)),
        defaultFontFamily: 'DejaVu Sans Mono',
        monospaceFamily: 'DejaVu Sans Mono',
      },
    }).render();
    await writeFile(pngPath, png.asPng());
    process.stdout.write(`wrote ${pngPath}\n`);
  } finally {
    await tmux.kill();
    await rm(home, { recursive: true, force: true });
  }
}

await main();
