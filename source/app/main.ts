/**
 * The command line's body (cli.tsx only loads it): parses the flags, opens
 * the socket and runs the full-screen chat in a terminal, or the line-mode
 * chat when stdin or stdout is not a terminal (pipes, scripts).
 *
 * Mistakes (bad flags, busy port, bad peers file...) print one line to stderr
 * and exit with code 2; nothing is overwritten.
 */
import { homedir } from 'node:os';
import { resolve } from 'node:path';
import process from 'node:process';
import meow from 'meow';
import { ChatController } from '../chat/controller.js';
import type { ChatLine } from '../chat/format.js';
import { initialState } from '../chat/reducer.js';
import { sanitize } from '../chat/sanitize.js';
import { createChatStore } from '../chat/store.js';
import { UsageError } from '../index.js';
import { startDebugStats } from '../ui/debugstats.js';
import { runTui } from '../ui/run.js';
import { checkOptions, findUnknownFlag } from './cliargs.js';
import { KnownPeers, startPeers } from './knownpeers.js';
import { createLineMode } from './linemode.js';
import { discoveryStartLine, watchRelay } from './netreport.js';
import { dataPaths, resolveDataDir } from './paths.js';
import { loadPeersFile, type PeerEntry } from './peersfile.js';
import { watchProfile } from './profilewatch.js';
import { readRelayConfig, relayOptions } from './relayconfig.js';
import { RemoteSocket } from './remotesocket.js';

const NAME = 'srmudp-tui';
/** How long STUN may stay silent before the chat says so, ms. */
const STUN_QUIET_MS = 4000;
/** Exit code for the user's mistakes. */
const USAGE = 2;

const HELP = `
  Usage
    $ ${NAME} -n <nick> [options]

  Options
    -n, --nick NICK      your name in the chat (required)
    -p, --port PORT      UDP port to listen on (default 0: any free port)
        --host ADDR      local IP address to bind (default :: for IPv4 and IPv6)
    -c, --config FILE    peers file to load at start (write one with /save)
        --profile NAME   a separate identity and trust store (default "default")
    -v, --verbose        show connection details
        --no-bell        do not ring the terminal bell when your nick is mentioned
        --stun HOST:PORT a STUN server to learn your public address (repeatable;
                         "none" to ask none; default: public servers by name;
                         $SRMUDP_STUN takes "none" or a comma-separated list)
        --max-datagram BYTES
                         largest UDP datagram, 1200-1452 (default 1452:
                         sessions start at 1200 and probe the path for more;
                         1200 turns that off, e.g. behind a VPN that fragments)
        --relay URI      a TURN relay for peers no direct path reaches, as
                         turn:HOST[:PORT][?transport=udp|tcp], or
                         turns:HOST[:PORT] over TLS (repeatable; none
                         by default). Its password comes from
                         $SRMUDP_RELAY_PASSWORD or the profile's config.json,
                         never from a flag
        --relay-user NAME
                         the relay's user name (or "relay.user" in config.json)
        --dht-bootstrap HOST:PORT
                         find peers by key through this DHT node (repeatable;
                         default: the public BitTorrent routers, by name)
        --no-dht         do not publish or look up keys in the Mainline DHT
                         ($SRMUDP_DHT=none does the same)
        --no-mdns        do not announce or browse on the LAN with mDNS
                         ($SRMUDP_MDNS=off does the same)
    -h, --help           show this help
        --version        show the version

  Files
    The identity key, the trust store (names pinned to keys) and the known
    peers (reconnected at start) live in
    <config>/${NAME}/<profile>/, where <config> is $XDG_CONFIG_HOME or
    ~/.config (%APPDATA% on Windows). $SRMUDP_HOME overrides that directory.
    config.json there may hold the relay's credentials:
    {"relay": {"user": "...", "password": "..."}}

  In the chat
    Type a line to send it to every connected peer; /help lists the commands.
    In a terminal the chat is full screen; with piped input it reads lines.
    NO_COLOR=1 turns colours off.

  Examples
    $ ${NAME} -n alice -p 9000
    $ ${NAME} -n bob        then type: /add alice 192.0.2.10:9000
                            or, by key: /add alice <her 52-character fingerprint>
    $ SRMUDP_RELAY_PASSWORD=... ${NAME} -n bob --relay turn:relay.example.org --relay-user bob
`;

function fail(message: string): number {
  process.stderr.write(`${NAME}: ${sanitize(message)}\n`);
  return USAGE;
}

async function main(argv: readonly string[]): Promise<number> {
  let cli: ReturnType<typeof parse>;
  try {
    cli = parse(argv);
  } catch (err) {
    // meow throws for e.g. a flag given twice.
    return fail(`${(err as Error).message} (see --help)`);
  }
  if (cli.flags.help) {
    process.stdout.write(`${cli.help.replace(/^\n/, '')}\n`);
    return 0;
  }
  if (cli.flags.version) {
    process.stdout.write(`${cli.pkg.version ?? 'unknown'}\n`);
    return 0;
  }
  const unknown = findUnknownFlag(argv);
  if (unknown) return fail(`unknown flag ${unknown} (see --help)`);
  const opts = checkOptions(cli.flags, cli.input, process.env);
  if (typeof opts === 'string') return fail(opts);

  let peers: PeerEntry[] = [];
  let known: KnownPeers;
  let socket: RemoteSocket | undefined;
  const dir = resolveDataDir({
    env: process.env,
    platform: process.platform,
    home: homedir(),
    profile: opts.profile,
  });
  const paths = dataPaths(dir);
  const relays = relayOptions(
    opts.relays,
    opts.relayUser,
    process.env,
    () => readRelayConfig(paths.config),
    paths.config,
  );
  if (typeof relays === 'string') return fail(relays);
  // The full-screen UI needs a terminal on both ends; piped input keeps the
  // line mode, so scripts can drive the chat (and see plain lines).
  const fullScreen = process.stdin.isTTY === true && process.stdout.isTTY === true;
  try {
    known = KnownPeers.open(paths.known);
    if (opts.config !== undefined) peers = await loadPeersFile(resolve(opts.config));
    // The socket runs in a worker thread, so rendering never delays the turn
    // in which the transport reads an ACK (the RTT column measured the
    // chat's renders, not the network).
    socket = await RemoteSocket.bind({
      nick: opts.nick,
      port: opts.port,
      ...(opts.host !== undefined ? { host: opts.host } : {}),
      ...(opts.maxDatagram !== undefined ? { maxDatagramSize: opts.maxDatagram } : {}),
      identityPath: paths.identity,
      trustStore: paths.trust,
      ...(relays.length > 0 ? { relays } : {}),
      dht: opts.dht,
      mdns: opts.mdns,
    });
  } catch (err) {
    if (err instanceof UsageError) return fail(err.message);
    throw err;
  }

  const color = fullScreen && !('NO_COLOR' in process.env && process.env.NO_COLOR !== '');
  const store = createChatStore(initialState(opts.nick, !opts.noBell));
  const lineMode = fullScreen
    ? undefined
    : createLineMode({ input: process.stdin, output: process.stdout, prompt: `${opts.nick}> ` });
  const print = lineMode
    ? lineMode.print
    : (line: ChatLine) => store.dispatch({ type: 'line', line });
  // A read-only disk must not end the chat (the trust store still has the
  // key), but it is said.
  const keep = (write: () => void) => {
    try {
      write();
    } catch (err) {
      print({
        kind: 'error',
        time: Date.now(),
        text: `cannot save known peers to ${known.path}: ${(err as Error).message}`,
      });
    }
  };
  const controller = new ChatController(socket, {
    nick: opts.nick,
    verbose: opts.verbose,
    print,
    onTrust: (nick, fingerprint, address) => keep(() => known.trusted(nick, fingerprint, address)),
    // A name added by key is kept at once: found or not, a restart looks it up again.
    onAdded: (nick, by, fingerprint) =>
      keep(() =>
        by === 'key' && fingerprint ? known.byKey(nick, fingerprint) : known.byAddress(nick),
      ),
    onForgotten: (nick) => keep(() => known.forget(nick)),
    ...(fullScreen
      ? {
          onDelivery: (id, nick, outcome, detail) =>
            store.dispatch({ type: 'delivery', id, nick, outcome, ...(detail ? { detail } : {}) }),
        }
      : {}),
  });
  const say = (text: string) => print({ kind: 'system', time: Date.now(), text });
  const unfollow = known.follow(socket, (err) =>
    print({ kind: 'error', time: Date.now(), text: err.message }),
  );

  const unwatchProfile = watchProfile({
    identityPath: paths.identity,
    keepIdentity: () => socket.keepIdentityFile(),
    restoreKnown: () => known.restore(),
    say,
    fail: (text) => print({ kind: 'error', time: Date.now(), text }),
  });

  const local = socket.localAddress();
  const shown = local.address.includes(':') ? `[${local.address}]` : local.address;
  say(`${NAME} ${cli.pkg.version ?? ''}: you are ${opts.nick}`);
  say(`listening on ${shown}:${local.port}${local.address === '::' ? ' (all addresses)' : ''}`);
  say(`your fingerprint: ${socket.fingerprint}`);
  say(`identity ${paths.identity}, trust store ${paths.trust}, known peers ${known.path}`);
  // STUN runs on the chat's own socket; its answer (or silence) is reported,
  // never fatal.
  // Said once the answer is settled (every server heard, or the NAT kind
  // known), and again only if it changes: one event arrives per server.
  let stunSaid = '';
  socket.on('stun', (info) => {
    if (!info.done && info.mapping === 'unknown') return;
    const nat =
      info.mapping === 'endpoint-dependent'
        ? ` (symmetric NAT: a peer behind another symmetric NAT is reached only through a relay${opts.relays.length > 0 ? '' : ': see --relay'})`
        : '';
    const line = info.publicAddress
      ? `public address ${info.publicAddress}${nat}`
      : 'STUN: no public address learned';
    if (line === stunSaid) return;
    stunSaid = line;
    say(line);
  });
  if (opts.stun.length > 0) {
    socket.startStun(opts.stun).catch((err: Error) => say(`STUN: ${err.message}`));
    // The client gives a silent server the full RFC 8489 §6.2.1 schedule
    // (7 transmissions, then 16 RTOs: ~39.5 s) before it reports a timeout.
    // Four unanswered transmissions (0, 0.5, 1.5, 3.5 s) are already news.
    let heard = false;
    socket.on('stun', () => {
      heard = true;
    });
    setTimeout(() => {
      if (!heard) {
        say(
          `STUN: no answer yet from ${opts.stun.join(', ')} after ${STUN_QUIET_MS / 1000} s; still asking`,
        );
      }
    }, STUN_QUIET_MS).unref();
  }
  say(discoveryStartLine(socket.stats().discovery));
  const unwatchRelay = watchRelay(socket, say);
  if (process.env.SRMUDP_HOME && opts.profile !== undefined) {
    say(`--profile ${opts.profile} is ignored: SRMUDP_HOME sets the data directory`);
  }
  // The trust store (the transport's) decides each name's key; the known
  // peers only say where to find them. Each entry on its own: a refused one
  // is an error line, the rest are added.
  const { loaded, reconnecting } = await startPeers(known, socket, peers, (entries) =>
    controller.addEntries(entries),
  ).catch((err: Error) => {
    say(`reconnecting: ${err.message}`);
    return { loaded: [], reconnecting: [] };
  });
  if (reconnecting.length > 0) {
    const n = reconnecting.length;
    say(`reconnecting to ${n} known peer${n === 1 ? '' : 's'}: ${reconnecting.join(', ')}`);
  }
  if (peers.length > 0) {
    const of = loaded.length === peers.length ? '' : ` of ${peers.length}`;
    say(`loaded ${loaded.length}${of} peer${peers.length === 1 ? '' : 's'} from ${opts.config}`);
  }
  say('type /help for the commands; add a peer with /add <nick> <host:port> (or <fingerprint>)');

  // Opt-in diagnostics for bench/tui.ts (see source/ui/debugstats.ts).
  const onRender = startDebugStats(process.env.SRMUDP_DEBUG_ELD);
  const mode = lineMode
    ? lineMode.start(controller)
    : runTui({
        nick: opts.nick,
        store,
        controller,
        transport: socket,
        color,
        name: NAME,
        verbose: opts.verbose,
        ...(onRender ? { onRender } : {}),
      });
  let interrupts = 0;
  let quitting = false;
  let ended = false;
  const onSignal = (signal: NodeJS.Signals) => {
    // Once the chat has ended, a late signal changes nothing (the process is
    // leaving with its code). The listener stays: without one, Ink's
    // signal-exit re-raises the signal and the process dies by it (a SIGHUP
    // arriving while the screen was restored ended it with status 129).
    if (ended) return;
    // A second Ctrl+C is the user insisting: leave at once. A repeated
    // SIGHUP or SIGTERM (a closing terminal may send more than one) only
    // finds us already quitting: the CLOSE to every peer still goes out.
    if (signal === 'SIGINT' && ++interrupts > 1) process.exit(130);
    if (quitting) return;
    quitting = true;
    mode.quit();
  };
  // SIGHUP (the terminal closed, an ssh session dropped) ends the chat as
  // SIGTERM does: peers get a CLOSE and the screen is restored. Node's
  // default for it is to die on the spot, leaving both undone.
  for (const s of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(s, onSignal);
  const code = await mode.done;
  ended = true;
  unfollow();
  unwatchRelay();
  unwatchProfile();
  return code;
}

function parse(argv: readonly string[]) {
  return meow(HELP, {
    importMeta: import.meta,
    argv,
    autoHelp: false,
    autoVersion: false,
    allowUnknownFlags: true,
    flags: {
      nick: { type: 'string', shortFlag: 'n' },
      port: { type: 'string', shortFlag: 'p' },
      host: { type: 'string' },
      config: { type: 'string', shortFlag: 'c' },
      profile: { type: 'string' },
      verbose: { type: 'boolean', shortFlag: 'v' },
      bell: { type: 'boolean', default: true },
      stun: { type: 'string', isMultiple: true },
      maxDatagram: { type: 'string' },
      relay: { type: 'string', isMultiple: true },
      relayUser: { type: 'string' },
      dhtBootstrap: { type: 'string', isMultiple: true },
      dht: { type: 'boolean', default: true },
      mdns: { type: 'boolean', default: true },
      help: { type: 'boolean', shortFlag: 'h' },
      version: { type: 'boolean' },
    },
  });
}

/**
 * Runs the chat and ends the process with its exit code: 0, 2 for the user's
 * mistakes, 1 for our own bugs.
 */
export function runCli(argv: readonly string[]): void {
  main(argv).then(
    (code) => {
      process.exitCode = code;
      // Whatever might still hold the event loop (a paused stdin) must not keep us.
      setTimeout(() => process.exit(code), 1000).unref();
    },
    (err: unknown) => {
      // Our bug, not the user's: say so briefly; the stack only when asked.
      const e = err as Error;
      process.stderr.write(`${NAME}: internal error: ${sanitize(e?.message ?? String(err))}\n`);
      if (argv.includes('-v') || argv.includes('--verbose')) {
        process.stderr.write(`${e?.stack ?? ''}\n`);
      }
      process.exit(1);
    },
  );
}
