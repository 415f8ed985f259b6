import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/**
 * The architecture boundaries in biome.json are checked, not just stated:
 * each rule must report a deliberate violation. Probe files are written into
 * a temporary tree that holds a byte-for-byte copy of the project's
 * biome.json (so the real overrides and their path globs apply), Biome lints
 * that tree once, and every probe's diagnostics are compared with what the
 * probe was written to trigger. Probes under source/net/shell/ and
 * source/net/store/, and imports through source/index.ts, are the controls:
 * the same code there must be accepted.
 */
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const BIOME = join(ROOT, 'node_modules', '.bin', 'biome');

const IMPORTS = 'lint/style/noRestrictedImports';
const GLOBALS = 'lint/style/noRestrictedGlobals';
const PROPERTIES = 'lint/nursery/noJsRestrictedProperties';
/** Other rules (e.g. useNodejsImportProtocol on `fs`) may fire on a probe too; they are not the point here. */
const BOUNDARY_RULES = new Set([IMPORTS, GLOBALS, PROPERTIES]);

interface Probe {
  path: string;
  source: string;
  /** The rule each violation must raise, in line order; [] for a control. */
  expect: string[];
}

const transportOnlyViaIndex: Probe[] = [
  {
    path: 'source/chat/probe-value.ts',
    source:
      "import { parseHostPort } from '../net/core/address.js';\nexport const p = parseHostPort;\n",
    expect: [IMPORTS],
  },
  {
    path: 'source/chat/probe-type.ts',
    source: "import type { PeerState } from '../net/core/events.js';\nexport type S = PeerState;\n",
    expect: [IMPORTS],
  },
  {
    path: 'source/chat/probe-reexport.ts',
    source: "export { decodeInvite } from '../net/nat/invite.js';\n",
    expect: [IMPORTS],
  },
  {
    path: 'source/ui/hooks/probe-dynamic.ts',
    source: "export const load = () => import('../../net/shell/socket.js');\n",
    expect: [IMPORTS],
  },
  {
    // The program around the chat (cli body, worker socket) is no exception.
    path: 'source/app/probe-value.ts',
    source:
      "import { MultiHolepunchSocket } from '../net/shell/socket.js';\nexport const M = MultiHolepunchSocket;\n",
    expect: [IMPORTS],
  },
  {
    path: 'source/app/probe-control.ts',
    source:
      "import { MultiHolepunchSocket } from '../index.js';\nexport const M = MultiHolepunchSocket;\n",
    expect: [],
  },
  {
    path: 'cli.tsx',
    source:
      "import { MultiHolepunchSocket } from './source/net/shell/socket.js';\nexport const M = MultiHolepunchSocket;\n",
    expect: [IMPORTS],
  },
  {
    path: 'source/ui/probe-control.ts',
    source:
      "import { MultiHolepunchSocket } from '../index.js';\nexport const M = MultiHolepunchSocket;\n",
    expect: [],
  },
];

const IO_MODULES = [
  'node:dgram',
  'node:dns',
  'node:fs',
  'node:fs/promises',
  'node:os',
  'fs',
  // A clock or a timer by import rather than as a global.
  'node:perf_hooks',
  'node:timers',
  'node:timers/promises',
];
const CLOCKS_AND_TIMERS: [string, string, string][] = [
  ['setTimeout', 'export const t = () => setTimeout(() => {}, 1);\n', GLOBALS],
  ['setInterval', 'export const t = () => setInterval(() => {}, 1);\n', GLOBALS],
  ['setImmediate', 'export const t = () => setImmediate(() => {});\n', GLOBALS],
  ['Date.now', 'export const t = () => Date.now();\n', GLOBALS],
  ['new Date', 'export const t = () => new Date();\n', GLOBALS],
  ['performance', 'export const t = () => performance.now();\n', GLOBALS],
  ['Math.random', 'export const r = () => Math.random();\n', PROPERTIES],
  // The same globals reached through globalThis.
  [
    'globalThis.setTimeout',
    'export const t = () => globalThis.setTimeout(() => {}, 1);\n',
    PROPERTIES,
  ],
  ['globalThis.Date', 'export const t = () => globalThis.Date.now();\n', PROPERTIES],
  ['globalThis.performance', 'export const t = () => globalThis.performance.now();\n', PROPERTIES],
];

function coreProbes(folder: string, expected: (rule: string) => string[]): Probe[] {
  return [
    ...IO_MODULES.map((m) => ({
      path: `${folder}/probe-import-${m.replace(/\W/g, '-')}.ts`,
      source: `import * as io from '${m}';\nexport const x = io;\n`,
      expect: expected(IMPORTS),
    })),
    ...CLOCKS_AND_TIMERS.map(([name, source, rule]) => ({
      path: `${folder}/probe-${name.replace(/\W/g, '-')}.ts`,
      source,
      expect: expected(rule),
    })),
  ];
}

const sansIo: Probe[] = [
  ...coreProbes('source/net/core', (rule) => [rule]),
  ...coreProbes('source/net/nat', (rule) => [rule]),
  // node:crypto is allowed in the core (sodium and key derivation), and the
  // shell and the store are where I/O, timers and clocks belong.
  {
    path: 'source/net/crypto/probe-crypto.ts',
    source: "import { randomBytes } from 'node:crypto';\nexport const r = randomBytes;\n",
    expect: [],
  },
  ...coreProbes('source/net/shell', () => []),
  ...coreProbes('source/net/store', () => []),
  {
    path: 'source/net/core/probe-math.ts',
    source: 'export const m = (a: number, b: number) => Math.max(a, b) + Math.floor(a);\n',
    expect: [],
  },
];

const PROBES = [...transportOnlyViaIndex, ...sansIo];

/** file (relative to the temporary root) → the rules reported, in line order. */
let reported: Map<string, string[]>;
let tree: string;

beforeAll(() => {
  tree = mkdtempSync(join(tmpdir(), 'srmudp-lint-'));
  copyFileSync(join(ROOT, 'biome.json'), join(tree, 'biome.json'));
  for (const p of PROBES) {
    mkdirSync(dirname(join(tree, p.path)), { recursive: true });
    writeFileSync(join(tree, p.path), p.source);
  }
  // The temporary tree is not a git repository: VCS integration off, the rest
  // of the configuration as it is.
  const run = spawnSync(BIOME, ['lint', '--vcs-enabled=false', '--reporter=github', '.'], {
    cwd: tree,
    encoding: 'utf8',
  });
  reported = new Map();
  const rows: { file: string; line: number; rule: string }[] = [];
  for (const m of run.stdout.matchAll(/^::\w+ title=([^,]+),file=([^,]+),line=(\d+)/gm)) {
    const file = m[2]!.startsWith(tree) ? m[2]!.slice(tree.length + 1) : m[2]!;
    if (BOUNDARY_RULES.has(m[1]!)) rows.push({ file, line: Number(m[3]), rule: m[1]! });
  }
  rows.sort((a, b) => a.line - b.line);
  for (const r of rows) reported.set(r.file, [...(reported.get(r.file) ?? []), r.rule]);
}, 60_000);

afterAll(() => {
  rmSync(tree, { recursive: true, force: true });
});

describe('architecture boundaries (biome.json)', () => {
  it.each(transportOnlyViaIndex.map((p) => [p.path, p]))(
    'app, chat, UI and CLI reach the transport only through source/index.ts: %s',
    (_, probe) => {
      expect(reported.get(probe.path) ?? []).toEqual(probe.expect);
    },
  );

  it.each(sansIo.map((p) => [p.path, p]))(
    'the core does no I/O, reads no clock and sets no timer: %s',
    (_, probe) => {
      expect(reported.get(probe.path) ?? []).toEqual(probe.expect);
    },
  );

  it('every violation was reported (nothing reported outside the probes)', () => {
    const known = new Set(PROBES.map((p) => p.path));
    expect([...reported.keys()].filter((f) => !known.has(f))).toEqual([]);
    const violations = PROBES.reduce((n, p) => n + p.expect.length, 0);
    expect([...reported.values()].reduce((n, r) => n + r.length, 0)).toBe(violations);
    expect(violations).toBeGreaterThanOrEqual(40);
  });

  it('the project itself passes `biome check`', () => {
    const run = spawnSync(BIOME, ['check', '.'], { cwd: ROOT, encoding: 'utf8' });
    expect(run.status, `${run.stdout}\n${run.stderr}`).toBe(0);
  }, 60_000);
});
