import { render } from 'ink';
import type { ChatController } from '../chat/controller.js';
import { sanitize } from '../chat/sanitize.js';
import type { ChatStore } from '../chat/store.js';
import { App } from './App.js';
import type { TransportView } from './hooks/useTransport.js';
import { ScreenWriter } from './screenwriter.js';

/**
 * Runs the full-screen chat on the alternate screen, and puts the terminal
 * back however we leave: /quit, Ctrl+C, a signal, or a crash (the 'exit'
 * hook runs even then, synchronously).
 */

/**
 * Enter the alternate screen, clear it, hide the cursor (Ink in debug mode
 * hides none) and turn auto-wrap off (DECAWM): a row the terminal finds
 * wider than we measured (emoji sequences) is cut at the right margin
 * instead of spilling onto the row below (see screenwriter.ts); and ask
 * for bracketed paste (xterm mode 2004): a paste arrives between ESC[200~
 * and ESC[201~, so its line ends are told from Enter (see App.tsx).
 */
const ENTER_ALT = '\x1b[?1049h\x1b[H\x1b[2J\x1b[?25l\x1b[?7l\x1b[?2004h';
/** Bracketed paste off, auto-wrap back on, the cursor shown, the alternate screen left. */
export const LEAVE_ALT = '\x1b[?2004l\x1b[?7h\x1b[?25h\x1b[?1049l';

export interface TuiOptions {
  nick: string;
  store: ChatStore;
  controller: Pick<ChatController, 'execute' | 'nicks' | 'shutdown'>;
  transport: TransportView;
  color: boolean;
  stdout?: NodeJS.WriteStream;
  stdin?: NodeJS.ReadStream;
  /** How long /quit waits for unacknowledged sends (ms). */
  graceMs?: number;
  /** For the one-line crash report. */
  name?: string;
  /** Print the stack on a crash, too. */
  verbose?: boolean;
  /** Called after each Ink render (diagnostics: see debugstats.ts). */
  onRender?: (metrics: { renderTime: number }) => void;
}

export interface Tui {
  /** Resolves with the exit code once the screen is restored and the socket closed. */
  done: Promise<number>;
  /** Ends the chat as /quit does (e.g. on SIGTERM). */
  quit(): void;
}

export function runTui(opts: TuiOptions): Tui {
  const stdout = opts.stdout ?? process.stdout;
  const stdin = opts.stdin ?? process.stdin;
  let onScreen = true;
  const restore = () => {
    if (!onScreen) return;
    onScreen = false;
    try {
      stdout.write(LEAVE_ALT);
    } catch {
      // A closed terminal: nothing left to restore.
    }
  };
  // A crash must not leave the terminal on the alternate screen with the error
  // message hidden there: restore first, then say what happened, then exit.
  const crash = (err: unknown) => {
    // Ink first: unmounting writes its last frame, which must land on the
    // alternate screen, not over the message below.
    try {
      instance.unmount();
    } catch {
      // Already gone.
    }
    restore();
    const e = err as Error | undefined;
    process.stderr.write(
      `${opts.name ?? 'srmudp-tui'}: internal error: ${sanitize(e?.message ?? String(err))}\n`,
    );
    if (opts.verbose) process.stderr.write(`${sanitize(e?.stack ?? '')}\n`);
    process.exit(1);
  };
  process.on('exit', restore);
  process.on('uncaughtException', crash);
  process.on('unhandledRejection', crash);
  stdout.write(ENTER_ALT);
  const screen = new ScreenWriter(stdout);

  let resolveDone: (code: number) => void = () => undefined;
  const done = new Promise<number>((r) => {
    resolveDone = r;
  });
  let ending = false;
  const quit = () => {
    if (ending) return;
    ending = true;
    void (async () => {
      try {
        await opts.controller.shutdown(opts.graceMs ?? 2000);
      } finally {
        opts.store.close();
        instance.unmount();
        screen.close();
        restore();
        process.off('exit', restore);
        process.off('uncaughtException', crash);
        process.off('unhandledRejection', crash);
        resolveDone(0);
      }
    })();
  };

  const instance = render(
    <App
      nick={opts.nick}
      store={opts.store}
      controller={opts.controller}
      transport={opts.transport}
      color={opts.color}
      onQuit={quit}
    />,
    {
      // Frames go through the ScreenWriter, which writes only the rows that
      // changed (see screenwriter.ts for why not Ink's incrementalRendering).
      // Debug mode hands it each frame whole, with no cursor movements, and
      // renders at once: network-driven renders are already throttled by the
      // store (50 ms), and a keystroke's frame should not wait (bench/tui.ts).
      stdout: screen as unknown as NodeJS.WriteStream,
      stdin,
      exitOnCtrlC: false,
      debug: true,
      // Nothing of ours logs to the console while the screen is up.
      patchConsole: false,
      ...(opts.onRender ? { onRender: opts.onRender } : {}),
    },
  );
  // Ink ends the app itself on an error thrown while rendering: a crash too.
  instance.waitUntilExit().catch(crash);
  return { done, quit };
}
