import { Box, renderToString, useStdout } from 'ink';
import {
  memo,
  type ReactNode,
  useCallback,
  useEffect,
  useLayoutEffect,
  useRef,
  useState,
} from 'react';
import { completeCommand, parseCommand } from '../chat/commands/index.js';
import type { ChatController } from '../chat/controller.js';
import { type ChatStore, SETTLE_MS } from '../chat/store.js';
import { frameRows } from './frame.js';
import { useChatState } from './hooks/useChatState.js';
import { useInputHistory } from './hooks/useInputHistory.js';
import { useKeys } from './hooks/useKeys.js';
import { useTerminalSize } from './hooks/useTerminalSize.js';
import { type TransportView, useTransport } from './hooks/useTransport.js';
import { InputLine } from './InputLine.js';
import type { KeyPress } from './keys.js';
import { EMPTY, edit, type Line } from './lineedit.js';
import { Messages } from './Messages.js';
import { rowsOf } from './msglayout.js';
import { Peers } from './Peers.js';
import { Stats, statsRowsWanted } from './Stats.js';
import { StatusBar } from './StatusBar.js';
import { ScreenWriter } from './screenwriter.js';
import { type Scroll, scrollBy } from './scroll.js';
import { hue } from './theme.js';

/**
 * The full-screen chat: wires the store, the transport and the keyboard to
 * the props-only panes. Typing lives in local state, so keystrokes render at
 * once, while network-driven renders come at most at the store's throttle.
 */

export interface AppProps {
  nick: string;
  store: ChatStore;
  controller: Pick<ChatController, 'execute' | 'nicks'>;
  transport: TransportView;
  color: boolean;
  /** Called once, when the user quits (/quit, Ctrl+C). */
  onQuit: () => void;
}

// The panes re-render only when their own props change: a keystroke then
// costs React the input line alone (Ink still draws the whole frame).
const MessagesPane = memo(Messages);
const PeersPane = memo(Peers);
const StatsPane = memo(Stats);

function commonPrefix(xs: readonly string[]): string {
  if (xs.length === 0) return '';
  let p = xs[0]!;
  for (const x of xs) while (!x.startsWith(p)) p = p.slice(0, -1);
  return p;
}

export function App({ nick, store, controller, transport, color, onQuit }: AppProps) {
  const state = useChatState(store);
  // Which state the screen shows (see store.ts: a notification is dropped
  // only when what it would publish is already on screen).
  useLayoutEffect(() => store.drawn(state));
  useTransport(transport, store);
  const { columns, rows } = useTerminalSize();
  const { stdout } = useStdout();
  const history = useInputHistory();
  // The line being typed lives in a ref: every keypress edits the latest
  // text, even when several arrive before React renders again.
  const line = useRef<Line>(EMPTY);
  const [shown, setShown] = useState<Line>(EMPTY);
  const [hint, setHint] = useState('');
  // Where the message pane is scrolled to, in rows (scroll.ts); the store's
  // line-based scroll cannot reach inside a line taller than the pane.
  const [scroll, setScroll] = useState<Scroll>(undefined);
  const quitting = useRef(false);
  // Between a bracketed paste's ESC[200~ and ESC[201~ (which may come in separate reads).
  const pasting = useRef(false);

  // The bell for a mention, straight to the terminal: BEL moves no cursor, and
  // Ink's own write() would clear and redraw the whole screen around it.
  const rang = useRef(state.rings);
  useEffect(() => {
    if (state.rings !== rang.current) stdout.write('\x07');
    rang.current = state.rings;
  }, [state.rings, stdout]);

  const quit = useCallback(() => {
    if (quitting.current) return;
    quitting.current = true;
    onQuit();
  }, [onQuit]);

  // The line is drawn once per read of keys, at its end (see useKeys below).
  const setLine = (next: Line) => {
    line.current = next;
  };

  // The frame that answers Enter (input emptied) waits SETTLE_MS, as the
  // message's own echo does (store.ts): the message's round trip, in the
  // socket's worker, is then over before this thread renders, instead of
  // sharing the CPU with a render. Drawn at once meanwhile it inflated the
  // chat's own RTT figure (bench/tui.ts: 4.4 ms against the library's 1.2
  // with a 12 ms render after each send). A key typed meanwhile draws it first.
  const afterSubmit = useRef<{ timer: NodeJS.Timeout; draw: () => void } | undefined>(undefined);
  const drawSubmitted = () => {
    const pending = afterSubmit.current;
    if (!pending) return;
    afterSubmit.current = undefined;
    clearTimeout(pending.timer);
    pending.draw();
  };
  useEffect(() => () => clearTimeout(afterSubmit.current?.timer), []);

  const submit = (text: string) => {
    history.push(text);
    // Keys typed from now on edit the empty line, drawn or not.
    line.current = EMPTY;
    const draw = () => {
      store.publish();
      setShown(line.current);
      setHint('');
      if (text.trim() !== '') setScroll(undefined);
    };
    clearTimeout(afterSubmit.current?.timer);
    afterSubmit.current = { timer: setTimeout(drawSubmitted, SETTLE_MS), draw };
    const action = parseCommand(text);
    if (quitting.current) return;
    // Each line runs at once, not queued behind the one before: a command
    // that waits (a slow /save, /add's DNS, /invite's STUN) must not hold
    // back messages or other commands. Messages still go out in the order
    // typed: the controller sends them synchronously.
    void controller.execute(action).then((result) => {
      if (quitting.current) return;
      if (result === 'quit') quit();
      else if (result === 'clear') {
        setScroll(undefined);
        store.dispatch({ type: 'clear' });
      } else if (result === 'bell') {
        const on = !store.getState().bell;
        store.dispatch({ type: 'bell', on });
        store.dispatch({
          type: 'line',
          line: {
            kind: 'system',
            time: Date.now(),
            text: `bell for mentions ${on ? 'on' : 'off'}`,
          },
        });
      }
    });
  };

  const complete = () => {
    const text = line.current.value;
    const found = completeCommand(text, controller.nicks());
    const common = found.length === 1 ? found[0]! : commonPrefix(found);
    if (common.length > text.length) setLine({ value: common, cursor: common.length });
    setHint(found.length > 1 ? found.map((f) => f.trim()).join('  ') : '');
  };

  // One more stats row for each of probing, the relay and discovery that has something to show.
  const statsWanted = statsRowsWanted(state.stats);
  const layout = frameRows(rows, state.shown.length, statsWanted, hint !== '');
  const inner = Math.max(10, columns - 2);
  // Scrolled back, the pane shows one row less (its status row): a page is
  // exactly that, so paging neither skips nor repeats a row.
  const page = Math.max(1, layout.messages - 3);
  const scrollRows = (by: number) =>
    setScroll((cur) =>
      scrollBy(state.lines, cur, by, page, (i) => rowsOf(state.lines[i]!, inner, color).length),
    );

  /** Handles one key; true when it only edited the line. */
  const onKey = (key: KeyPress): boolean => {
    if (key.name === 'letter' && key.ctrl && key.text === 'c') {
      quit();
      return false;
    }
    const result = edit(line.current, key);
    if (result.kind === 'edit') {
      if (hint && result.line.value !== line.current.value) setHint('');
      setLine(result.line);
      return true;
    }
    if (result.kind === 'submit') submit(result.text);
    else if (key.name === 'pageup') scrollRows(page);
    else if (key.name === 'pagedown') scrollRows(-page);
    else if (key.name === 'end') setScroll(undefined);
    else if (key.name === 'up' || key.name === 'down') {
      const next = history.move(key.name === 'up' ? -1 : 1, line.current.value);
      if (next !== undefined) setLine({ value: next, cursor: next.length });
    } else if (key.name === 'tab' && !key.shift) complete();
    return false;
  };

  /**
   * Local echo: the input row, as the next frame will draw it, put on the
   * screen at once. Under 1,000 incoming messages a second a frame costs
   * 5–8 ms (Ink's Output, per cell: see the readme), and a key that came
   * during a message frame waited for that frame and then its own; now it
   * waits for the first only (bench/tui.ts). Only when the row stays where
   * the last frame drew it: no hint row above it (ScreenWriter.drawRowNow).
   */
  const echo = (typed: Line) => {
    if (!(stdout instanceof ScreenWriter)) return;
    const row = renderToString(<InputLine nick={nick} line={typed} hint="" width={columns} />, {
      columns,
    });
    stdout.drawRowNow(layout.messages + layout.peers + layout.stats, row);
  };
  // A read may hold many keys (a paste with line ends, keys sent faster than
  // we render): each is applied to the line as the one before left it.
  // The line is drawn once, after the last: unless the read ended a line
  // (Enter), whose frame waits (see afterSubmit). Keys after an Enter not
  // drawn yet draw it now.
  useKeys((keys) => {
    // This read's frame shows the newest lines too (see store.ts).
    store.publish();
    drawSubmitted();
    let onlyEdits = hint === '';
    keys.forEach((key, i) => {
      if (quitting.current) return;
      if (key.name === 'pastestart' || key.name === 'pasteend') {
        pasting.current = key.name === 'pastestart';
        onlyEdits = false;
        return;
      }
      // A Tab with more keys after it in the same read was pasted: text, as
      // a space (completing there would rewrite the pasted words). Inside a
      // bracketed paste, a line end is text too: an invite code copied off
      // the screen in two rows is one line, never its first half sent.
      const pasted =
        (key.name === 'tab' && i < keys.length - 1) ||
        (pasting.current && (key.name === 'return' || key.name === 'tab'));
      if (!onKey(pasted ? { ...key, name: 'text', text: ' ' } : key)) onlyEdits = false;
    });
    if (afterSubmit.current) return;
    setShown(line.current);
    if (onlyEdits && !quitting.current) echo(line.current);
  });

  const border = hue(color, 'gray');
  return (
    <Box flexDirection="column" width={columns} height={rows - 1}>
      <Framed border={border} height={layout.messages}>
        <MessagesPane
          lines={state.lines}
          scroll={scroll}
          height={layout.messages - 2}
          width={inner}
          color={color}
        />
      </Framed>
      {layout.peers > 0 ? (
        <Framed border={border} height={layout.peers}>
          <PeersPane peers={state.shown} width={inner} color={color} maxRows={layout.peerRows} />
        </Framed>
      ) : null}
      {layout.stats > 0 ? (
        <Framed border={border} height={layout.stats}>
          <StatsPane
            nick={nick}
            stats={state.stats}
            width={inner}
            color={color}
            rows={layout.statsRows}
          />
        </Framed>
      ) : null}
      <InputLine nick={nick} line={shown} hint={hint} width={columns} />
      {layout.status > 0 ? <StatusBar bell={state.bell} width={columns} /> : null}
    </Box>
  );
}

/** One pane: a rounded border of a fixed height that never shrinks (the layout decided it). */
function Framed({
  border,
  height,
  children,
}: {
  border: string | undefined;
  height: number;
  children: ReactNode;
}) {
  return (
    <Box
      borderStyle="round"
      borderColor={border}
      flexDirection="column"
      height={height}
      flexShrink={0}
    >
      {children}
    </Box>
  );
}
