import type { PeerInfo, PeerState, SocketStats } from '../index.js';
import type { ChatLine } from './format.js';

/**
 * The one reducer of the full-screen chat: every transport event, controller
 * line and scroll key becomes a ChatEvent, and this pure function folds it
 * into the state the panes render. No I/O, no clock (times come in events).
 */

/** How one recipient's copy of an own message ended (or that it has not yet). */
export type Outcome = 'pending' | 'acked' | 'failed' | 'left';

export interface RecipientMark {
  nick: string;
  outcome: Outcome;
  /** Why, for a failed or left one. */
  detail?: string;
}

export interface UiLine {
  /** Stable React key. */
  key: number;
  line: ChatLine;
  /** Own messages only: each recipient and its outcome, in the order sent. */
  recipients?: readonly RecipientMark[];
  /** Someone else's message naming our nick. */
  mention: boolean;
}

export interface DeliverySummary {
  total: number;
  acked: number;
  /** Not acknowledged yet, still may be. */
  waiting: string[];
  /** Will not be: failed or left, with why. */
  missing: RecipientMark[];
}

/** What a message's mark says: how many acknowledged, who is still awaited, who is missing. */
export function deliverySummary(recipients: readonly RecipientMark[]): DeliverySummary {
  return {
    total: recipients.length,
    acked: recipients.filter((r) => r.outcome === 'acked').length,
    waiting: recipients.filter((r) => r.outcome === 'pending').map((r) => r.nick),
    missing: recipients.filter((r) => r.outcome === 'failed' || r.outcome === 'left'),
  };
}

export interface PeerView {
  info: PeerInfo;
  /**
   * Wall-clock ms when we first saw the peer in its current kind of state.
   * (The transport's `state.since` is on a monotonic clock, not a time of day.)
   */
  since: number;
  /** Added by key and not found yet: a placeholder row (the transport has no such peer). */
  lookingUp?: true;
}

export interface ChatState {
  nick: string;
  lines: UiLine[];
  nextKey: number;
  /** Lines scrolled back from the newest; 0 follows new lines. */
  scroll: number;
  /** Lines that arrived while scrolled back. */
  unseen: number;
  /** Every peer the transport has, sorted by nick (what /list shows too). */
  peers: PeerView[];
  /** The peers pane's: `peers` less strangers gone for a while (see lapsedStranger). */
  shown: PeerView[];
  stats: SocketStats | undefined;
  bell: boolean;
  /** Bumped on each mention while the bell is on: the screen rings on change. */
  rings: number;
}

export type ChatEvent =
  | { type: 'line'; line: ChatLine }
  /**
   * Many lines at once, in order: what the store folds in per render (one
   * copy of the line list for all of them, not one per line: 1,000 messages
   * a second against 5,000 lines kept was 10 M element copies a second).
   */
  | { type: 'lines'; lines: readonly ChatLine[] }
  /** One recipient of own message `id` acknowledged it, or never will. */
  | {
      type: 'delivery';
      id: number;
      nick: string;
      outcome: Exclude<Outcome, 'pending'>;
      detail?: string;
    }
  /** `lookingUp`: names added by key that discovery has not found yet (stats().discovery). */
  | { type: 'peers'; peers: readonly PeerInfo[]; now: number; lookingUp?: readonly string[] }
  | { type: 'stats'; stats: SocketStats }
  /** Positive scrolls back (older), negative forward. */
  | { type: 'scroll'; by: number }
  | { type: 'follow' }
  | { type: 'clear' }
  | { type: 'bell'; on: boolean };

/** How long a stranger stays in the peers pane after it left, ms. */
export const STRANGER_LINGER_MS = 60_000;

/**
 * A peer we never added (unpinned: it dialed us, or an introduction brought
 * it) that left at least STRANGER_LINGER_MS ago: the pane has no room for
 * every passer-by of a session; /list still names it.
 */
/**
 * The pane shows a few rows: the peers the user added come first, then
 * strangers that are connected, then the rest (alphabetical within each, as
 * /list; the sort is stable). A friend that is unreachable is what the user
 * needs to see, not a stranger that left a minute ago.
 */
function paneRank(p: PeerView): number {
  if (p.info.pinned || p.lookingUp) return 0;
  return p.info.state.kind === 'connected' ? 1 : 2;
}

export function lapsedStranger(p: PeerView, now: number): boolean {
  return (
    !p.info.pinned && p.info.state.kind === 'disconnected' && now - p.since >= STRANGER_LINGER_MS
  );
}

/** Lines kept; older ones fall off the top. */
export const MAX_LINES = 5000;

export function initialState(nick: string, bell = true): ChatState {
  return {
    nick,
    lines: [],
    nextKey: 1,
    scroll: 0,
    unseen: 0,
    peers: [],
    shown: [],
    stats: undefined,
    bell,
    rings: 0,
  };
}

const escapeRegExp = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** True when `text` names `nick` as a whole word, any case. */
export function mentions(text: string, nick: string): boolean {
  if (nick === '') return false;
  return new RegExp(
    `(^|[^\\p{L}\\p{N}_.-])@?${escapeRegExp(nick)}($|[^\\p{L}\\p{N}_-])`,
    'iu',
  ).test(text);
}

function stateKey(s: PeerState): string {
  return s.kind === 'connecting' ? 'connecting' : s.kind;
}

export function reduce(state: ChatState, ev: ChatEvent): ChatState {
  switch (ev.type) {
    case 'line':
      return addLines(state, [ev.line]);
    case 'lines':
      return ev.lines.length === 0 ? state : addLines(state, ev.lines);
    case 'delivery':
      return deliver(state, ev);
    case 'peers': {
      const before = new Map(state.peers.map((p) => [p.info.nick, p]));
      const real = new Set(ev.peers.map((p) => p.nick));
      const searching = (ev.lookingUp ?? []).filter((nick) => !real.has(nick));
      const peers = [
        ...ev.peers.map((info): PeerView => {
          const old = before.get(info.nick);
          const same = old && !old.lookingUp && stateKey(old.info.state) === stateKey(info.state);
          return { info, since: same ? old.since : ev.now };
        }),
        ...searching.map((nick): PeerView => {
          const old = before.get(nick);
          return {
            info: placeholder(nick),
            since: old?.lookingUp ? old.since : ev.now,
            lookingUp: true,
          };
        }),
      ].sort((a, b) => a.info.nick.localeCompare(b.info.nick));
      const shown = peers.filter((p) => !lapsedStranger(p, ev.now));
      return { ...state, peers, shown: shown.sort((a, b) => paneRank(a) - paneRank(b)) };
    }
    case 'stats':
      return { ...state, stats: ev.stats };
    case 'scroll': {
      const max = Math.max(0, state.lines.length - 1);
      const scroll = Math.max(0, Math.min(max, state.scroll + ev.by));
      if (scroll === state.scroll) return state;
      return { ...state, scroll, unseen: scroll === 0 ? 0 : state.unseen };
    }
    case 'follow':
      // Unchanged state is the same object, so the store skips a render.
      return state.scroll === 0 && state.unseen === 0 ? state : { ...state, scroll: 0, unseen: 0 };
    case 'clear':
      return { ...state, lines: [], scroll: 0, unseen: 0 };
    case 'bell':
      return state.bell === ev.on ? state : { ...state, bell: ev.on };
  }
}

function uiLine(state: ChatState, line: ChatLine, key: number): UiLine {
  const mention = line.kind === 'message' && !line.own && mentions(line.text, state.nick);
  return {
    key,
    line,
    mention,
    ...(line.kind === 'message' && line.own && line.id !== undefined
      ? {
          recipients: (line.recipients ?? []).map((nick) => ({
            nick,
            outcome: 'pending' as const,
          })),
        }
      : {}),
  };
}

/** Appends `added` (at least one), keeping the newest MAX_LINES. */
function addLines(state: ChatState, added: readonly ChatLine[]): ChatState {
  const fresh = added.length > MAX_LINES ? added.slice(added.length - MAX_LINES) : added;
  const skipped = added.length - fresh.length;
  let rings = state.rings;
  // Lines dropped at once still rang (one at a time they would have).
  if (state.bell)
    for (const line of added.slice(0, skipped)) if (uiLine(state, line, 0).mention) rings++;
  const kept = Math.max(0, Math.min(state.lines.length, MAX_LINES - fresh.length));
  const lines = state.lines.slice(state.lines.length - kept);
  fresh.forEach((line, i) => {
    const ui = uiLine(state, line, state.nextKey + skipped + i);
    if (ui.mention && state.bell) rings++;
    lines.push(ui);
  });
  // Scrolled back, the view stays on the same lines as new ones arrive.
  const scrolled = state.scroll > 0;
  return {
    ...state,
    lines,
    nextKey: state.nextKey + added.length,
    scroll: scrolled ? Math.min(state.scroll + added.length, lines.length - 1) : 0,
    unseen: scrolled ? state.unseen + added.length : 0,
    rings,
  };
}

/**
 * Settles one recipient of an own message. The first outcome stands: the
 * transport's rejection that follows a recipient's leaving is no news.
 */
function deliver(state: ChatState, ev: Extract<ChatEvent, { type: 'delivery' }>): ChatState {
  const i = state.lines.findLastIndex(
    (l) => l.line.kind === 'message' && l.line.own && l.line.id === ev.id,
  );
  const old = state.lines[i];
  const at = old?.recipients?.findIndex((r) => r.nick === ev.nick) ?? -1;
  if (!old?.recipients || at < 0 || old.recipients[at]!.outcome !== 'pending') return state;
  const recipients = [...old.recipients];
  recipients[at] = {
    nick: ev.nick,
    outcome: ev.outcome,
    ...(ev.detail !== undefined ? { detail: ev.detail } : {}),
  };
  const lines = [...state.lines];
  lines[i] = { ...old, recipients };
  return { ...state, lines };
}

/** A name looked up by key that no record has answered yet: nothing known but the name. */
function placeholder(nick: string): PeerInfo {
  return {
    nick,
    address: undefined,
    fingerprint: undefined,
    pinned: true,
    announcedNick: undefined,
    state: { kind: 'connecting', since: 0, attempt: 0 },
    stats: {
      packetsSent: 0,
      packetsReceived: 0,
      bytesSent: 0,
      bytesReceived: 0,
      packetsLost: 0,
      retransmits: 0,
      ptoCount: 0,
      smoothedRtt: undefined,
      minRtt: undefined,
      rttVariance: undefined,
      lossRate: 0,
      congestionWindow: undefined,
      bytesInFlight: 0,
      recoveries: 0,
      mtu: undefined,
      lastSeen: undefined,
      path: 'none',
    },
  };
}
