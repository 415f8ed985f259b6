import { describe, expect, it } from 'vitest';
import { checkOptions, DEFAULT_STUN_SERVERS, findUnknownFlag } from '../../source/app/cliargs.js';

describe('findUnknownFlag', () => {
  it('accepts every flag we have, long and short, with = and clusters', () => {
    expect(
      findUnknownFlag([
        '-n',
        'alice',
        '--port=9000',
        '--host',
        '::',
        '-c',
        'f.json',
        '--profile',
        'x',
        '-v',
        '--no-verbose',
        '--help',
        '--version',
        '-h',
        '-vn',
        'bob',
        '-p9000',
      ]),
    ).toBeUndefined();
  });

  it('names the first unknown one as typed', () => {
    expect(findUnknownFlag(['-n', 'a', '--bogus'])).toBe('--bogus');
    expect(findUnknownFlag(['--bogus=1'])).toBe('--bogus');
    expect(findUnknownFlag(['-x'])).toBe('-x');
    expect(findUnknownFlag(['-vx'])).toBe('-x');
    expect(findUnknownFlag(['--no-nick'])).toBe('--no-nick');
  });

  it('ignores values, negative numbers and everything after --', () => {
    expect(findUnknownFlag(['-p', '-1'])).toBeUndefined();
    expect(findUnknownFlag(['--', '--bogus'])).toBeUndefined();
    expect(findUnknownFlag(['plain', '-'])).toBeUndefined();
  });
});

describe('checkOptions', () => {
  it('returns validated options with defaults', () => {
    expect(checkOptions({ nick: 'alice' }, [])).toEqual({
      nick: 'alice',
      port: 0,
      host: undefined,
      config: undefined,
      profile: undefined,
      verbose: false,
      noBell: false,
      stun: DEFAULT_STUN_SERVERS,
      maxDatagram: undefined,
      relays: [],
      relayUser: undefined,
      dht: true,
      mdns: true,
    });
    expect(
      checkOptions(
        {
          nick: 'bob',
          port: '9000',
          host: '::1',
          config: 'p.json',
          profile: 'work',
          verbose: true,
          bell: false,
          stun: ['198.18.0.2:3478'],
          maxDatagram: '1200',
        },
        [],
      ),
    ).toEqual({
      nick: 'bob',
      port: 9000,
      host: '::1',
      config: 'p.json',
      profile: 'work',
      verbose: true,
      noBell: true,
      stun: ['198.18.0.2:3478'],
      maxDatagram: 1200,
      relays: [],
      relayUser: undefined,
      dht: true,
      mdns: true,
    });
    expect(checkOptions({ nick: 'a', port: '65535' }, [])).toMatchObject({ port: 65535 });
  });

  it('each problem is one line naming the flag', () => {
    const cases: [Parameters<typeof checkOptions>[0], string[], RegExp][] = [
      [{}, [], /missing --nick/],
      [{ nick: '' }, [], /missing --nick/],
      [{ nick: 'a b' }, [], /bad --nick "a b"/],
      [{ nick: 'a\u001b' }, [], /bad --nick "a\\x1b"/],
      [{ nick: 'a', port: 'x' }, [], /bad --port "x"/],
      [{ nick: 'a', port: '' }, [], /bad --port/],
      [{ nick: 'a', port: '65536' }, [], /bad --port/],
      [{ nick: 'a', port: '1.5' }, [], /bad --port/],
      [{ nick: 'a', port: '-1' }, [], /bad --port/],
      [{ nick: 'a', host: 'localhost' }, [], /bad --host "localhost"/],
      [{ nick: 'a', config: '' }, [], /--config/],
      [{ nick: 'a', profile: '../etc' }, [], /bad --profile/],
      [
        { nick: 'a', maxDatagram: '1500' },
        [],
        /bad --max-datagram "1500": use a number of bytes from 1200 to 1452/,
      ],
      [{ nick: 'a', maxDatagram: '1199' }, [], /bad --max-datagram/],
      [{ nick: 'a', maxDatagram: '1300.5' }, [], /bad --max-datagram/],
      [{ nick: 'a', maxDatagram: '' }, [], /bad --max-datagram/],
      [{ nick: 'a' }, ['extra'], /unexpected argument "extra"/],
    ];
    for (const [flags, input, why] of cases) {
      const r = checkOptions(flags, input);
      expect(typeof r).toBe('string');
      expect(r).toMatch(why);
      expect(r as string).not.toContain('\n');
    }
  });
});

describe('--stun and $SRMUDP_STUN', () => {
  const base = { nick: 'alice' };
  const stunOf = (flags: Record<string, unknown>, env: { SRMUDP_STUN?: string } = {}) => {
    const r = checkOptions({ ...base, ...flags }, [], env);
    return typeof r === 'string' ? r : r.stun;
  };

  it('defaults to public servers named by host name, never IP literals', () => {
    const list = stunOf({});
    expect(list).toEqual(DEFAULT_STUN_SERVERS);
    for (const s of DEFAULT_STUN_SERVERS) expect(s).toMatch(/^[a-z][a-z0-9.-]+:\d+$/);
  });

  it('takes repeated --stun, "none", or the environment', () => {
    expect(stunOf({ stun: ['198.18.0.2:3478', 'stun.example.org:3478'] })).toEqual([
      '198.18.0.2:3478',
      'stun.example.org:3478',
    ]);
    expect(stunOf({ stun: ['none'] })).toEqual([]);
    expect(stunOf({}, { SRMUDP_STUN: 'none' })).toEqual([]);
    expect(stunOf({}, { SRMUDP_STUN: '198.18.0.2:3478, 198.18.0.3:3478' })).toEqual([
      '198.18.0.2:3478',
      '198.18.0.3:3478',
    ]);
    // The flag wins over the environment.
    expect(stunOf({ stun: ['a.example:1'] }, { SRMUDP_STUN: 'none' })).toEqual(['a.example:1']);
  });

  it('refuses a bad server in one line', () => {
    expect(stunOf({ stun: ['nohost'] })).toMatch(/^bad --stun "nohost": use host:port/);
    expect(stunOf({ stun: ['none', 'a.example:1'] })).toMatch(/cannot be combined/);
  });
});

describe('--relay, --relay-user', () => {
  const opts = (flags: Record<string, unknown>) => checkOptions({ nick: 'alice', ...flags }, []);

  it('takes repeated turn: URIs with a user (the password comes from elsewhere)', () => {
    expect(
      opts({
        relay: ['turn:relay.example.org', 'turn:198.18.0.9:3479?transport=udp'],
        relayUser: 'bob',
      }),
    ).toMatchObject({
      relays: ['turn:relay.example.org', 'turn:198.18.0.9:3479?transport=udp'],
      relayUser: 'bob',
    });
    expect(opts({})).toMatchObject({ relays: [], relayUser: undefined });
  });

  it('refuses a bad URI, and a user with no relay, in one line', () => {
    expect(opts({ relay: ['relay.example.org:3478'] })).toMatch(
      /^bad --relay "relay.example.org:3478": .*turn:host/,
    );
    expect(opts({ relay: ['turn:a.example?x=1'] })).toMatch(/^bad --relay/);
    expect(opts({ relayUser: 'bob' })).toMatch(/^--relay-user without --relay/);
    expect(opts({ relay: ['turn:a.example'], relayUser: '' })).toMatch(/--relay-user/);
  });
});

describe('discovery flags (--dht-bootstrap, --no-dht, --no-mdns, $SRMUDP_DHT, $SRMUDP_MDNS)', () => {
  const opts = (flags: Record<string, unknown>, env: Record<string, string> = {}) => {
    const r = checkOptions({ nick: 'alice', ...flags }, [], env);
    return typeof r === 'string' ? r : { dht: r.dht, mdns: r.mdns };
  };

  it('turns the DHT (public routers by name) and mDNS on by default', () => {
    expect(opts({})).toEqual({ dht: true, mdns: true });
  });

  it('--no-dht, --no-mdns and the environment turn them off', () => {
    expect(opts({ dht: false })).toEqual({ dht: false, mdns: true });
    expect(opts({ mdns: false })).toEqual({ dht: true, mdns: false });
    expect(opts({}, { SRMUDP_DHT: 'none', SRMUDP_MDNS: 'off' })).toEqual({
      dht: false,
      mdns: false,
    });
    expect(opts({}, { SRMUDP_DHT: ' NONE ', SRMUDP_MDNS: '0' })).toEqual({
      dht: false,
      mdns: false,
    });
  });

  it('--dht-bootstrap names a private DHT, kept even under SRMUDP_DHT=none', () => {
    expect(opts({ dhtBootstrap: ['10.0.0.1:6881', 'dht.lan:6881'] })).toEqual({
      dht: { bootstrap: ['10.0.0.1:6881', 'dht.lan:6881'] },
      mdns: true,
    });
    expect(opts({ dhtBootstrap: ['10.0.0.1:6881'] }, { SRMUDP_DHT: 'none' })).toMatchObject({
      dht: { bootstrap: ['10.0.0.1:6881'] },
    });
  });

  it('refuses a bad bootstrap node, or one with --no-dht, in one line', () => {
    expect(opts({ dhtBootstrap: ['nohost'] })).toMatch(
      /^bad --dht-bootstrap "nohost": use host:port/,
    );
    expect(opts({ dhtBootstrap: ['[::1]:6881'] })).toMatch(/^bad --dht-bootstrap .*IPv4/);
    expect(opts({ dhtBootstrap: ['a.example:1'], dht: false })).toMatch(
      /--dht-bootstrap and --no-dht/,
    );
  });

  it('knows the new flags and their negations', () => {
    expect(
      findUnknownFlag([
        '--relay',
        'turn:x',
        '--relay-user',
        'u',
        '--dht-bootstrap',
        'a:1',
        '--no-dht',
        '--no-mdns',
      ]),
    ).toBeUndefined();
    expect(findUnknownFlag(['--relay-password', 'x'])).toBe('--relay-password');
  });
});
