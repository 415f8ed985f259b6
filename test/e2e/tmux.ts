import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';

/**
 * A private tmux server (its own -L socket, so nothing touches the user's
 * sessions) for driving the real chat in real terminals. `kill()` ends the
 * server and every process in it.
 */

const run = promisify(execFile);

export function findTmux(): string | undefined {
  for (const p of ['/usr/bin/tmux', '/usr/local/bin/tmux', '/opt/homebrew/bin/tmux']) {
    if (existsSync(p)) return p;
  }
  return undefined;
}

export interface Pane {
  name: string;
  /** The screen as text (or with SGR escapes when `escapes`). */
  capture(escapes?: boolean): Promise<string>;
  /** Types text literally, then Enter. */
  line(text: string): Promise<void>;
  keys(...keys: string[]): Promise<void>;
  /** A tmux format value for this pane, e.g. #{alternate_on}. */
  format(fmt: string): Promise<string>;
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  /** Waits for the program to end; resolves with its exit status. */
  exited(timeoutMs?: number): Promise<number>;
}

export class Tmux {
  readonly socket: string;
  private readonly bin: string;

  constructor(
    bin: string,
    socket = `srmudp-${process.pid}-${Math.random().toString(36).slice(2, 8)}`,
  ) {
    this.bin = bin;
    this.socket = socket;
  }

  async tmux(...args: string[]): Promise<string> {
    const { stdout } = await run(this.bin, ['-L', this.socket, '-f', '/dev/null', ...args]);
    return stdout;
  }

  /** Starts `argv` in a new detached session of the given size; the pane stays after it exits. */
  async start(
    name: string,
    argv: readonly string[],
    env: Record<string, string>,
    size = { columns: 120, rows: 36 },
    /** Seconds the pane's shell waits after the program, to look at its last screen. */
    linger = 10,
  ): Promise<Pane> {
    const envArgs = Object.entries(env).flatMap(([k, v]) => ['-e', `${k}=${v}`]);
    // Run under a shell that outlives the program briefly, as in a real
    // terminal: tmux may stop reading a pane whose only process has exited
    // before it drained the program's last output (the terminal restore).
    const quoted = argv.map((a) => `'${a.replaceAll("'", "'\\''")}'`).join(' ');
    await this.tmux(
      'new-session',
      '-d',
      '-s',
      name,
      '-x',
      String(size.columns),
      '-y',
      String(size.rows),
      ...envArgs,
      '--',
      '/bin/sh',
      '-c',
      `${quoted}; s=$?; echo "[exit status $s]"; sleep ${linger}; exit $s`,
    );
    await this.tmux('set-option', '-t', name, 'remain-on-exit', 'on');
    return this.pane(name);
  }

  pane(name: string): Pane {
    const capture = (escapes = false) =>
      this.tmux('capture-pane', '-p', ...(escapes ? ['-e'] : []), '-t', name);
    const format = async (fmt: string) =>
      (await this.tmux('display-message', '-p', '-t', name, fmt)).trim();
    const poll = async <T>(
      check: () => Promise<T | undefined>,
      what: string,
      timeoutMs: number,
    ) => {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const got = await check();
        if (got !== undefined) return got;
        if (Date.now() > deadline) {
          throw new Error(
            `${name}: timed out waiting for ${what}; screen:\n${await capture().catch(() => '?')}`,
          );
        }
        await new Promise((r) => setTimeout(r, 100));
      }
    };
    return {
      name,
      capture,
      format,
      line: async (text) => {
        // Literal text first, Enter separately: as a person types, not one pasted chunk.
        await this.tmux('send-keys', '-t', name, '-l', text);
        await this.tmux('send-keys', '-t', name, 'Enter');
      },
      keys: async (...keys) => {
        await this.tmux('send-keys', '-t', name, ...keys);
      },
      waitFor: (pattern, timeoutMs = 8000) =>
        poll(async () => (await capture()).match(pattern) ?? undefined, String(pattern), timeoutMs),
      // The pane's shell prints the status and lingers: tmux's own pane_dead_status
      // is briefly empty, and a dead pane's screen is not always kept.
      exited: async (timeoutMs = 8000) =>
        Number(
          (
            await poll(
              async () => (await capture()).match(/\[exit status (\d+)\]/) ?? undefined,
              'exit',
              timeoutMs,
            )
          )[1],
        ),
    };
  }

  async kill(): Promise<void> {
    await this.tmux('kill-server').catch(() => undefined);
  }
}

/** The command line of one chat instance on 127.0.0.1 (as the e2e test and the screenshot run it). */
export function chatArgv(root: string, nick: string): string[] {
  return [
    process.execPath,
    '--import',
    'tsx',
    join(root, 'cli.tsx'),
    '-n',
    nick,
    '--host',
    '127.0.0.1',
  ];
}

/** Its environment: its own data directory, no STUN servers, no DHT, no mDNS, a colour terminal. */
export function chatEnv(home: string, nick: string): Record<string, string> {
  return {
    SRMUDP_HOME: join(home, nick),
    SRMUDP_STUN: 'none',
    // The chat turns the DHT and mDNS on by default: never from a test.
    SRMUDP_DHT: 'none',
    SRMUDP_MDNS: 'off',
    TERM: 'xterm-256color',
  };
}
