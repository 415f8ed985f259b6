import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import dgram from 'node:dgram';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Coturn, SKIP as NO_COTURN } from '../support/coturn.js';
import { stunServer } from '../support/stunserver.js';

/** The real CLI in child processes, talking over 127.0.0.1 only. */

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

interface Running {
  proc: ChildProcessWithoutNullStreams;
  stdout: () => string;
  stderr: () => string;
  waitFor: (pattern: RegExp, timeout?: number) => Promise<RegExpMatchArray>;
  exited: Promise<number | null>;
  send: (line: string) => void;
}

const children: ChildProcessWithoutNullStreams[] = [];
let home: string;

beforeEach(async () => {
  home = await mkdtemp(join(tmpdir(), 'srmudp-cli-'));
});

afterEach(async () => {
  for (const c of children.splice(0)) if (c.exitCode === null) c.kill('SIGKILL');
  await rm(home, { recursive: true, force: true });
});

function start(args: string[], env: Record<string, string> = {}): Running {
  const proc = spawn(process.execPath, ['--import', 'tsx', 'cli.tsx', ...args], {
    cwd: root,
    env: { ...process.env, SRMUDP_HOME: join(home, 'data'), ...env },
    stdio: 'pipe',
  });
  children.push(proc);
  let out = '';
  let err = '';
  const watchers = new Set<() => void>();
  proc.stdout.setEncoding('utf8');
  proc.stderr.setEncoding('utf8');
  proc.stdout.on('data', (d: string) => {
    out += d;
    for (const w of [...watchers]) w();
  });
  proc.stderr.on('data', (d: string) => {
    err += d;
  });
  const exited = new Promise<number | null>((resolve) => proc.on('exit', (code) => resolve(code)));
  // A guard against a hang, not a measure: a loaded machine (two cores,
  // several engineers) takes 5-8 s to start the chat under tsx.
  const waitFor = (pattern: RegExp, timeout = 20_000) =>
    new Promise<RegExpMatchArray>((resolve, reject) => {
      const check = () => {
        const m = out.match(pattern);
        if (!m) return;
        watchers.delete(check);
        clearTimeout(timer);
        resolve(m);
      };
      const timer = setTimeout(() => {
        watchers.delete(check);
        reject(new Error(`timed out waiting for ${pattern}\nstdout:\n${out}\nstderr:\n${err}`));
      }, timeout);
      watchers.add(check);
      check();
    });
  return {
    proc,
    stdout: () => out,
    stderr: () => err,
    waitFor,
    exited,
    send: (line) => proc.stdin.write(`${line}\n`),
  };
}

/** Runs the CLI with no input to completion. */
async function run(args: string[], env: Record<string, string> = {}) {
  const r = start(args, env);
  r.proc.stdin.end();
  const code = await r.exited;
  return { code, stdout: r.stdout(), stderr: r.stderr() };
}

/** A port that was free a moment ago on 127.0.0.1. */
async function freePort(): Promise<number> {
  const s = dgram.createSocket('udp4');
  await new Promise<void>((resolve) => s.bind(0, '127.0.0.1', () => resolve()));
  const { port } = s.address();
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

function expectOneLine(text: string): void {
  expect(text.endsWith('\n')).toBe(true);
  expect(text.trimEnd().split('\n')).toHaveLength(1);
  expect(text).not.toMatch(/\n\s+at /); // no stack trace
}

describe('srmudp-tui command line', () => {
  it('--help exits 0 and lists the flags', async () => {
    const { code, stdout } = await run(['--help']);
    expect(code).toBe(0);
    for (const flag of ['--nick', '--port', '--config', '--verbose', '--profile', '--host']) {
      expect(stdout).toContain(flag);
    }
    for (const short of ['-n,', '-p,', '-c,', '-v,']) expect(stdout).toContain(short);
    for (const flag of ['--relay URI', '--relay-user', '--dht-bootstrap', '--no-dht', '--no-mdns'])
      expect(stdout).toContain(flag);
    expect(stdout).toContain('SRMUDP_RELAY_PASSWORD');
  });

  it('a relay without a user or a password, or a password flag, exits 2 with one line', async () => {
    const relay = ['-n', 'alice', '--host', '127.0.0.1', '--relay', 'turn:127.0.0.1:9'];
    const cases: [string[], Record<string, string>, RegExp][] = [
      [relay, { SRMUDP_RELAY_PASSWORD: 'pw' }, /--relay needs a user/],
      [
        [...relay, '--relay-user', 'bob'],
        { SRMUDP_RELAY_PASSWORD: '' },
        /--relay needs a password/,
      ],
      [['-n', 'alice', '--relay', 'relay.example.org'], {}, /bad --relay "relay.example.org"/],
      [[...relay, '--relay-password', 'pw'], {}, /unknown flag --relay-password/],
      [['-n', 'alice', '--dht-bootstrap', 'nohost'], {}, /bad --dht-bootstrap/],
    ];
    const results = await Promise.all(cases.map(([args, env]) => run(args, env)));
    for (const [i, r] of results.entries()) {
      expect(r.code, cases[i]![0].join(' ')).toBe(2);
      expectOneLine(r.stderr);
      expect(r.stderr).toMatch(cases[i]![2]);
    }
  });

  it('a chat started by the tests finds no peers by key: no public DHT router, no multicast', async () => {
    // vitest.config.ts gives every test process SRMUDP_DHT=none and
    // SRMUDP_MDNS=off; a spawned chat must inherit them (it turns both on
    // by default), or every test run would talk to the public routers.
    expect(process.env.SRMUDP_DHT).toBe('none');
    expect(process.env.SRMUDP_MDNS).toBe('off');
    const a = start(['-n', 'alice', '--host', '127.0.0.1']);
    await a.waitFor(/finding peers by key is off \(no DHT, no mDNS\)/);
    a.send('/quit');
    expect(await a.exited).toBe(0);
  });

  it('a peer added by key is looked up (a private DHT on loopback), and again after a restart', async () => {
    // A DHT bootstrap on 127.0.0.1 that never answers: discovery runs, in the
    // worker, and nothing leaves the machine (mDNS stays off by the env).
    const dead = dgram.createSocket('udp4');
    await new Promise<void>((r) => dead.bind(0, '127.0.0.1', () => r()));
    try {
      const boot = `127.0.0.1:${dead.address().port}`;
      const fp = 'hoedrikisoul3m6khpwsumlphenbfvvnw5gvu6gityzcxqzy4daq';
      const args = ['-n', 'alice', '--host', '127.0.0.1', '--dht-bootstrap', boot];
      const a = start(args);
      await a.waitFor(/finding peers by key through the Mainline DHT/);
      a.send(`/add carol ${fp}`);
      await a.waitFor(/looking up carol by key \S+ in the DHT/);
      a.send('/list');
      await a.waitFor(/carol: looking up by key, not found yet/);
      a.send('/quit');
      expect(await a.exited).toBe(0);
      const known = JSON.parse(await readFile(join(home, 'data', 'known-peers.json'), 'utf8'));
      expect(known.peers.carol).toEqual({ fingerprint: fp, lookup: true });

      const b = start(args);
      await b.waitFor(/reconnecting to 1 known peer: carol/);
      b.send('/whois carol');
      await b.waitFor(/carol: looking up by key in the DHT, not found yet/);
      b.send('/remove carol');
      await b.waitFor(/stopped looking up carol; forgotten/);
      b.send('/quit');
      expect(await b.exited).toBe(0);
      const after = JSON.parse(await readFile(join(home, 'data', 'known-peers.json'), 'utf8'));
      expect(after.peers).toEqual({});
    } finally {
      dead.close();
    }
  }, 90_000);

  it.skipIf(NO_COTURN)(
    '--relay allocates on a real coturn with the password from the profile config file',
    async () => {
      const coturn = new Coturn();
      try {
        const server = await coturn.start(['--lt-cred-mech', '--user', 'bob:s3cret']);
        const { mkdir } = await import('node:fs/promises');
        await mkdir(join(home, 'data'), { recursive: true });
        await writeFile(
          join(home, 'data', 'config.json'),
          JSON.stringify({ relay: { user: 'bob', password: 's3cret' } }),
        );
        const a = start([
          '-n',
          'alice',
          '--host',
          '127.0.0.1',
          '--relay',
          `turn:127.0.0.1:${server.port}`,
        ]);
        await a.waitFor(
          new RegExp(
            `relay on 127\\.0\\.0\\.1:${server.port}: allocated, relayed address 127\\.0\\.0\\.1:\\d+`,
          ),
          15_000,
        );
        // The password is in no line the chat printed.
        expect(a.stdout()).not.toContain('s3cret');
        a.send('/quit');
        expect(await a.exited).toBe(0);
      } finally {
        await coturn.stop();
      }
    },
    40_000,
  );

  it('--version prints the version', async () => {
    const { code, stdout } = await run(['--version']);
    expect(code).toBe(0);
    expect(stdout.trim()).toMatch(/^\d+\.\d+\.\d+/);
  });

  it('a missing nick is one line on stderr and exit code 2', async () => {
    const { code, stderr, stdout } = await run([]);
    expect(code).toBe(2);
    expectOneLine(stderr);
    expect(stderr).toMatch(/nick/);
    expect(stdout).toBe('');
  });

  it('bad ports, hosts, nicks and unknown flags exit 2 with one line', async () => {
    const cases: [string[], RegExp][] = [
      [['-n', 'alice', '-p', 'abc'], /port/],
      [['-n', 'alice', '-p', '70000'], /port/],
      [['-n', 'alice', '-p', '-1'], /port|flag/],
      [['-n', 'alice', '--host', 'nowhere'], /host/],
      [['-n', 'bad nick!'], /nick/],
      [['-n', 'alice', '--bogus'], /--bogus/],
      [['-n', 'alice', '--profile', '../x'], /profile/],
      [['-n', 'alice', 'stray'], /stray/],
    ];
    const results = await Promise.all(cases.map(([args]) => run(args)));
    for (const [i, r] of results.entries()) {
      expect(r.code, cases[i]![0].join(' ')).toBe(2);
      expectOneLine(r.stderr);
      expect(r.stderr).toMatch(cases[i]![1]);
    }
  });

  it('a busy port exits 2 naming the port', async () => {
    const s = dgram.createSocket('udp4');
    await new Promise<void>((resolve) => s.bind(0, '127.0.0.1', () => resolve()));
    try {
      const port = s.address().port;
      const { code, stderr } = await run([
        '-n',
        'alice',
        '--host',
        '127.0.0.1',
        '-p',
        String(port),
      ]);
      expect(code).toBe(2);
      expectOneLine(stderr);
      expect(stderr).toContain(String(port));
      expect(stderr).toMatch(/in use/);
    } finally {
      s.close();
    }
  });

  it('a malformed -c file exits 2 naming the file, which is left unchanged', async () => {
    const file = join(home, 'peers.json');
    const body = '{"type":"srmudp-peers","version":1,"peers":[{"nick":"bob","address":"nope"}]}';
    await writeFile(file, body);
    const { code, stderr } = await run(['-n', 'alice', '--host', '127.0.0.1', '-c', file]);
    expect(code).toBe(2);
    expectOneLine(stderr);
    expect(stderr).toContain(file);
    expect(await readFile(file, 'utf8')).toBe(body);

    const missing = join(home, 'missing.json');
    const r = await run(['-n', 'alice', '--host', '127.0.0.1', '-c', missing]);
    expect(r.code).toBe(2);
    expectOneLine(r.stderr);
    expect(r.stderr).toContain(missing);
  });

  it('a malformed trust store exits 2 naming it and is not overwritten', async () => {
    const data = join(home, 'data');
    const { mkdir } = await import('node:fs/promises');
    await mkdir(data, { recursive: true });
    const trust = join(data, 'trust.json');
    await writeFile(trust, 'garbage');
    const { code, stderr } = await run(['-n', 'alice', '--host', '127.0.0.1']);
    expect(code).toBe(2);
    expectOneLine(stderr);
    expect(stderr).toContain(trust);
    expect(await readFile(trust, 'utf8')).toBe('garbage');
  });

  it('a malformed known-peers store exits 2 naming it and is not overwritten', async () => {
    const data = join(home, 'data');
    const { mkdir } = await import('node:fs/promises');
    await mkdir(data, { recursive: true });
    const known = join(data, 'known-peers.json');
    for (const content of ['{"version":1,', '[]']) {
      await writeFile(known, content);
      const { code, stderr } = await run(['-n', 'alice', '--host', '127.0.0.1']);
      expect(code).toBe(2);
      expectOneLine(stderr);
      expect(stderr).toContain(`malformed known-peers store ${known}`);
      expect(await readFile(known, 'utf8')).toBe(content);
    }
  });

  it('two instances on 127.0.0.1 chat through piped stdin and /quit exits 0', async () => {
    const port = await freePort();
    const a = start(['-n', 'alice', '--host', '127.0.0.1', '-p', String(port)], {
      SRMUDP_HOME: join(home, 'a'),
    });
    const b = start(['-n', 'bob', '--host', '127.0.0.1'], { SRMUDP_HOME: join(home, 'b') });
    await a.waitFor(new RegExp(`listening on 127\\.0\\.0\\.1:${port}`));
    await a.waitFor(/your fingerprint: [a-z2-7]{52}/);
    await a.waitFor(/type \/help/);
    expect(a.stdout()).toContain(join(home, 'a', 'identity.json'));
    expect(a.stdout()).toContain(join(home, 'a', 'trust.json'));
    await b.waitFor(/listening on 127\.0\.0\.1:\d+/);

    b.send(`/add alice 127.0.0.1:${port}`);
    await b.waitFor(/alice connected/);
    await a.waitFor(/bob connected/);

    b.send('hello from bob');
    a.send('hello from alice');
    // Alice never added bob (he dialed her): his lines are marked as a stranger's.
    await a.waitFor(/\[\d\d:\d\d:\d\d\] \(stranger\) <bob> hello from bob/);
    await b.waitFor(/\[\d\d:\d\d:\d\d\] <alice> hello from alice/);

    b.send('/msg alice psst \u001b]52;c;aGk=\u0007');
    await b.waitFor(/control character/);
    b.send('/msg alice psst');
    await a.waitFor(/\(private\) \(stranger\) <bob> psst/);
    await b.waitFor(/delivered to alice/);

    b.send('/list');
    await b.waitFor(/alice\s+127\.0\.0\.1:\d+\s+connected\s+[a-z2-7]{8}\s+\S+\s+\d+\s+\d+\.\d%/);

    a.send('/quit');
    b.send('/quit');
    expect(await a.exited).toBe(0);
    expect(await b.exited).toBe(0);
    expect(a.stderr()).toBe('');
    expect(b.stderr()).toBe('');
  });

  it('-c loads peers (checking their fingerprints) and /save writes them back', async () => {
    const port = await freePort();
    const a = start(['-n', 'alice', '--host', '127.0.0.1', '-p', String(port)], {
      SRMUDP_HOME: join(home, 'a'),
    });
    const fp = (await a.waitFor(/your fingerprint: ([a-z2-7]{52})/))[1]!;
    const peers = join(home, 'peers.json');
    await writeFile(
      peers,
      JSON.stringify({
        type: 'srmudp-peers',
        version: 1,
        peers: [{ nick: 'alice', address: `127.0.0.1:${port}`, fingerprint: fp }],
      }),
    );
    const b = start(['-n', 'bob', '--host', '127.0.0.1', '-c', peers], {
      SRMUDP_HOME: join(home, 'b'),
    });
    await b.waitFor(/loaded 1 peer from/);
    await b.waitFor(/alice connected from 127\.0\.0\.1:\d+, key [a-z2-7]{8}/);
    const out = join(home, 'saved.json');
    b.send(`/save ${out}`);
    await b.waitFor(/saved 1 peer to/);
    expect(JSON.parse(await readFile(out, 'utf8'))).toEqual({
      type: 'srmudp-peers',
      version: 1,
      peers: [{ nick: 'alice', address: `127.0.0.1:${port}`, fingerprint: fp }],
    });
    b.send('/quit');
    a.proc.stdin.end();
    expect(await b.exited).toBe(0);
    expect(await a.exited).toBe(0);
  });

  it('a peer answering with another key than the -c file names is refused, and its key never reaches trust.json', async () => {
    const port = await freePort();
    const a = start(['-n', 'alice', '--host', '127.0.0.1', '-p', String(port)], {
      SRMUDP_HOME: join(home, 'a'),
    });
    // Alice is the "impostor" here: her real key is not the one the file names.
    const answered = (await a.waitFor(/your fingerprint: ([a-z2-7]{52})/))[1]!;
    const peers = join(home, 'peers.json');
    await writeFile(
      peers,
      JSON.stringify({
        type: 'srmudp-peers',
        version: 1,
        peers: [{ nick: 'alice', address: `127.0.0.1:${port}`, fingerprint: 'a'.repeat(52) }],
      }),
    );
    const b = start(['-n', 'bob', '--host', '127.0.0.1', '-c', peers], {
      SRMUDP_HOME: join(home, 'b'),
    });
    // Whichever comes first: the refusal, or (the bug) a session with alice's key.
    await b.waitFor(/WARNING: alice's key changed!|alice connected from/);
    b.send('/list');
    await b.waitFor(/alice\s+127\.0\.0\.1:\d+\s+\S/);
    b.proc.stdin.end();
    a.proc.stdin.end();
    expect(await b.exited).toBe(0);
    expect(await a.exited).toBe(0);
    // Refused before anything was pinned (security issue item 6): bob's trust
    // store holds the file's key for alice, never the key that answered.
    const trust = await readFile(join(home, 'b', 'trust.json'), 'utf8').catch(() => '');
    expect(trust).not.toContain(answered);
    expect(trust).toContain('a'.repeat(52));
    expect(b.stdout()).toMatch(/WARNING: alice's key changed! expected a{52}, got [a-z2-7]{52}/);
    expect(b.stdout()).not.toMatch(/alice connected from/);
    expect(b.stdout()).toMatch(/alice\s+127\.0\.0\.1:\d+\s+KEY CHANGED/);
  });

  it('says the public address once, when STUN has settled', async () => {
    const s1 = await stunServer();
    const s2 = await stunServer();
    try {
      const a = start([
        '-n',
        'alice',
        '--host',
        '127.0.0.1',
        '--stun',
        s1.address,
        '--stun',
        s2.address,
      ]);
      await a.waitFor(/public address 127\.0\.0\.1:\d+/);
      a.send('/quit');
      expect(await a.exited).toBe(0);
      // Two servers answer (two 'stun' events); both saw one mapping: a cone NAT, one line.
      expect(a.stdout().match(/public address/g)).toHaveLength(1);
      expect(a.stdout()).not.toContain('symmetric');
    } finally {
      await s1.close();
      await s2.close();
    }
  });

  it('ends cleanly (exit 0) when stdin closes', async () => {
    const r = start(['-n', 'alice', '--host', '127.0.0.1']);
    await r.waitFor(/listening on/);
    r.send('/help');
    r.proc.stdin.end();
    expect(await r.exited).toBe(0);
    expect(r.stdout()).toContain('/add <nick> <host:port>');
  });
});
