/**
 * Parent <-> worker plumbing. A worker is a TypeScript file forked with tsx
 * that calls `serve(api)`; the parent gets a typed `Worker<Api>` whose
 * `call(cmd, args)` runs `api[cmd](args)` in the child over IPC (JSON).
 *
 * Children are tracked here and SIGKILLed when the parent exits for any
 * reason; a child also exits by itself as soon as its IPC channel closes, so
 * an orphaned worker never lingers.
 */
import { type ChildProcess, fork } from 'node:child_process';

/** `never` accepts any handler's argument type; calls are checked through Parameters<>. */
type Handler = (args: never) => Promise<unknown>;
export type Api = Record<string, Handler>;

interface CallMessage {
  kind: 'call';
  id: number;
  cmd: string;
  args: unknown;
}

interface ReplyMessage {
  kind: 'reply';
  id: number;
  ok: boolean;
  value?: unknown;
  error?: string;
}

interface ReadyMessage {
  kind: 'ready';
}

// ---- child side ---------------------------------------------------------------

/**
 * Serves `api` to the parent. `cleanup` runs when the parent disconnects (or
 * dies) before the process exits; it gets two seconds.
 */
export function serve(api: Api, cleanup: () => Promise<void> = async () => {}): void {
  const send = process.send?.bind(process);
  if (!send) throw new Error('bench workers must be started with child_process.fork');
  let stopping = false;
  const stop = async (code: number): Promise<void> => {
    if (stopping) return;
    stopping = true;
    const force = setTimeout(() => process.exit(code), 2000);
    force.unref();
    try {
      await cleanup();
    } catch {
      // Exiting anyway.
    }
    process.exit(code);
  };
  process.on('message', (raw) => {
    const m = raw as CallMessage;
    if (m?.kind !== 'call') return;
    const reply = (r: Omit<ReplyMessage, 'kind' | 'id'>): void => {
      if (process.connected) send({ kind: 'reply', id: m.id, ...r } satisfies ReplyMessage);
    };
    const handler = (Object.hasOwn(api, m.cmd) ? api[m.cmd] : undefined) as
      | ((args: unknown) => Promise<unknown>)
      | undefined;
    if (!handler) {
      reply({ ok: false, error: `unknown command ${m.cmd}` });
      return;
    }
    handler(m.args).then(
      (value) => reply({ ok: true, value }),
      (err: unknown) =>
        reply({
          ok: false,
          error: err instanceof Error ? (err.stack ?? err.message) : String(err),
        }),
    );
  });
  process.on('disconnect', () => void stop(0));
  process.on('uncaughtException', (err) => {
    console.error('bench worker crashed:', err);
    void stop(1);
  });
  send({ kind: 'ready' } satisfies ReadyMessage);
}

// ---- parent side --------------------------------------------------------------

const live = new Set<ChildProcess>();

/** SIGKILLs every worker still running (synchronous: safe in an 'exit' handler). */
export function killAll(): void {
  for (const child of live) {
    try {
      child.kill('SIGKILL');
    } catch {
      // Already gone.
    }
  }
  live.clear();
}

process.once('exit', killAll);

export class Worker<A extends Api> {
  private nextId = 1;
  private readonly waiting = new Map<
    number,
    { resolve: (v: unknown) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }
  >();
  private exited = false;
  /** The worker's process id (for taskset). */
  readonly pid: number | undefined;

  constructor(
    readonly name: string,
    private readonly child: ChildProcess,
  ) {
    this.pid = child.pid;
    child.on('message', (raw) => {
      const m = raw as ReplyMessage;
      if (m?.kind !== 'reply') return;
      const w = this.waiting.get(m.id);
      if (!w) return;
      this.waiting.delete(m.id);
      clearTimeout(w.timer);
      if (m.ok) w.resolve(m.value);
      else w.reject(new Error(`${name}: ${m.error ?? 'failed'}`));
    });
    child.once('exit', (code, signal) => {
      this.exited = true;
      for (const [, w] of this.waiting) {
        clearTimeout(w.timer);
        w.reject(new Error(`${name} exited (${signal ?? code}) during a call`));
      }
      this.waiting.clear();
    });
  }

  /** Runs `cmd` in the worker; rejects after `timeoutMs` (the worker is then of no further use). */
  call<K extends keyof A & string>(
    cmd: K,
    args: Parameters<A[K]>[0],
    timeoutMs = 120_000,
  ): Promise<Awaited<ReturnType<A[K]>>> {
    if (this.exited || !this.child.connected) {
      return Promise.reject(new Error(`${this.name} is not running`));
    }
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(id);
        reject(new Error(`${this.name}: ${cmd} took longer than ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiting.set(id, {
        resolve: resolve as (v: unknown) => void,
        reject,
        timer,
      });
      this.child.send({ kind: 'call', id, cmd, args } satisfies CallMessage);
    });
  }

  /** Asks the worker to clean up and exit; SIGKILLs it if it is not gone within `graceMs`. */
  async stop(graceMs = 3000): Promise<void> {
    if (this.exited) return;
    const gone = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    if (this.child.connected) this.child.disconnect();
    const timer = setTimeout(() => this.child.kill('SIGKILL'), graceMs);
    await gone;
    clearTimeout(timer);
    live.delete(this.child);
  }
}

/** Forks `file` under tsx and waits for its `serve()` to report ready; `nodeFlags` go to node (e.g. --cpu-prof). */
export function launch<A extends Api>(
  name: string,
  file: string,
  nodeFlags: readonly string[] = [],
): Promise<Worker<A>> {
  const child = fork(file, [], {
    execArgv: [...nodeFlags, '--import', import.meta.resolve('tsx')],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  live.add(child);
  child.once('exit', () => live.delete(child));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${name} did not start within 20 s`));
    }, 20_000);
    const onExit = (code: number | null, signal: NodeJS.Signals | null) => {
      clearTimeout(timer);
      reject(new Error(`${name} exited (${signal ?? code}) before it was ready`));
    };
    child.once('exit', onExit);
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    const onMessage = (raw: unknown) => {
      if ((raw as ReadyMessage)?.kind !== 'ready') return;
      clearTimeout(timer);
      child.off('exit', onExit);
      child.off('message', onMessage);
      resolve(new Worker<A>(name, child));
    };
    child.on('message', onMessage);
  });
}
