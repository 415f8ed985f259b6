import { clearLine, createInterface, cursorTo, moveCursor } from 'node:readline';
import type { Readable, Writable } from 'node:stream';
import { completeCommand, parseCommand } from '../chat/commands/index.js';
import type { ChatController } from '../chat/controller.js';
import { type ChatLine, formatChatLine } from '../chat/format.js';

/**
 * The plain line-mode front end: reads lines (a terminal with history and tab
 * completion, or any pipe), runs them through the controller one at a time,
 * and prints its lines. The chat runs this when stdin or stdout is not a
 * terminal (scripts, pipes); in a terminal it is full screen (source/ui).
 */

export interface LineModeOptions {
  controller: ChatController;
  input: Readable;
  output: Writable & { isTTY?: boolean };
  /** Shown before the input in a terminal. */
  prompt?: string;
  /** After /quit or end of input, how long to wait for unacknowledged sends (ms). */
  graceMs?: number;
}

export interface LineMode {
  /** Prints one line above the input. */
  print(line: ChatLine): void;
  /**
   * Resolves with the exit code once the chat has ended and the socket is
   * closed: 1 when a message could not be sent (a script must not read a
   * lost message as success), else 0.
   */
  done: Promise<number>;
  /** Ends the chat as /quit does (e.g. on a signal). */
  quit(): void;
}

/** Creates the printer first so the controller can be built with it, then `start` it. */
export function createLineMode(opts: Omit<LineModeOptions, 'controller'>): {
  print: (line: ChatLine) => void;
  start: (controller: ChatController) => LineMode;
} {
  const { output } = opts;
  const tty = output.isTTY === true && (opts.input as { isTTY?: boolean }).isTTY === true;
  let rl: ReturnType<typeof createInterface> | undefined;
  let outputBroken = false;
  output.on('error', () => {
    // A closed stdout (EPIPE) must not crash the chat; stop writing instead.
    outputBroken = true;
  });

  const write = (text: string) => {
    if (outputBroken) return;
    if (tty && rl) {
      clearLine(output, 0);
      cursorTo(output, 0);
      output.write(`${text}\n`);
      rl.prompt(true);
    } else {
      output.write(`${text}\n`);
    }
  };

  /** Set while the line just typed (if it fitted on one row) is still on screen. */
  let justEntered = false;
  const print = (line: ChatLine) => {
    // In a terminal our typed line is still on screen: replace it with the
    // formatted message instead of showing it twice.
    if (justEntered && line.kind === 'message' && line.own) {
      moveCursor(output, 0, -1);
    }
    justEntered = false;
    write(formatChatLine(line));
  };

  const start = (controller: ChatController): LineMode => {
    const iface = createInterface({
      input: opts.input,
      ...(tty ? { output, terminal: true } : { terminal: false }),
      historySize: 500,
      removeHistoryDuplicates: true,
      completer: (line: string): [string[], string] => [
        completeCommand(line, controller.nicks()),
        line,
      ],
    });
    rl = iface;
    if (tty) {
      iface.setPrompt(opts.prompt ?? '> ');
      iface.prompt();
    }

    let resolveDone: (code: number) => void = () => undefined;
    const done = new Promise<number>((r) => {
      resolveDone = r;
    });
    let ending = false;
    /** /quit or a signal: lines still queued are not run. End of input lets them run. */
    let stopped = false;
    let queue: Promise<void> = Promise.resolve();

    const quit = () => {
      stopped = true;
      end();
    };
    const end = () => {
      if (ending) return;
      ending = true;
      queue = queue.then(async () => {
        await controller.shutdown(opts.graceMs ?? 2000);
        const unsent = controller.unsent;
        if (unsent > 0) {
          print({
            kind: 'error',
            time: Date.now(),
            text: `${unsent} message${unsent === 1 ? ' was' : 's were'} not delivered: exit code 1`,
          });
        }
        iface.close();
        // Leave the terminal on a fresh line after the prompt.
        if (tty && !outputBroken) output.write('\n');
        resolveDone(unsent > 0 ? 1 : 0);
      });
    };

    iface.on('line', (line: string) => {
      if (ending) return;
      queue = queue.then(async () => {
        if (stopped) return;
        const columns = (output as { columns?: number }).columns ?? 0;
        // A safe over-estimate of its width: wide characters take two columns, tabs up to eight.
        const width =
          (opts.prompt ?? '> ').length + 2 * line.length + 6 * (line.split('\t').length - 1);
        justEntered = tty && width < columns;
        const result = await controller.execute(parseCommand(line));
        justEntered = false;
        if (result === 'quit') quit();
        else if (result === 'bell') {
          print({
            kind: 'system',
            time: Date.now(),
            text: 'line mode rings no bell (the full-screen chat does)',
          });
        } else if (result === 'clear' && tty) {
          cursorTo(output, 0, 0);
          output.write('\x1b[2J\x1b[3J');
          cursorTo(output, 0, 0);
          iface.prompt(true);
        } else if (tty) iface.prompt(true);
      });
    });
    // End of input (a pipe closing, Ctrl-D) ends the chat once queued lines ran.
    iface.on('close', end);
    // Ctrl-C in a terminal.
    iface.on('SIGINT', quit);

    return { print, done, quit };
  };

  return { print, start };
}
