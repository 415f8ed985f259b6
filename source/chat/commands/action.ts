/**
 * What one input line asks for: the parser's (commands/parse.ts) only output,
 * and the controller's only input. Plain text is a broadcast; every other
 * variant but `none` and `error` is a command with its own file here.
 */
export type Action =
  | { type: 'broadcast'; text: string }
  /** `command`: the one command to explain (its name, no slash), or all of them. */
  | { type: 'help'; command?: string }
  | { type: 'list' }
  /**
   * `address` is host:port or an invite code (srmudp1:…); `fingerprint` the
   * key it must prove. A fingerprint alone is looked up (DHT, LAN).
   */
  | { type: 'add'; nick: string; address?: string; fingerprint?: string }
  /** Show our invite code. */
  | { type: 'invite'; keyOnly?: true }
  /** Connect with an invite code under the nick it carries. */
  | { type: 'join'; code: string }
  | { type: 'remove'; nick: string }
  | { type: 'msg'; nick: string; text: string }
  | { type: 'save'; file: string }
  | { type: 'load'; file: string }
  | { type: 'quit' }
  | { type: 'whois'; nick: string }
  /** Line mode's scripts: wait until `nick` is connected, at most `seconds`. */
  | { type: 'wait'; nick: string; seconds: number }
  | { type: 'trust'; nick: string }
  /** `nick` is a peer's nick or a fingerprint. */
  | { type: 'block'; nick: string }
  /** `nick` is a nick blocked earlier or a fingerprint. */
  | { type: 'unblock'; nick: string }
  | { type: 'clear' }
  /** Switches the terminal bell for mentions on or off (full-screen UI). */
  | { type: 'bell' }
  | { type: 'none' }
  | { type: 'error'; message: string };

export type ActionType = Action['type'];

/** The actions that are commands (typed as /name). */
export type CommandName = Exclude<ActionType, 'broadcast' | 'none' | 'error'>;

export type ErrorAction = Extract<Action, { type: 'error' }>;

/** What the front end does after an action: leave, clear the screen, switch the bell. */
export type ExecuteResult = 'quit' | 'clear' | 'bell' | undefined;
