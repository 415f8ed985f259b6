import { render } from 'ink-testing-library';
import { describe, expect, it } from 'vitest';
import { formatUptime, Stats, statsRowsWanted } from '../../source/ui/Stats.js';
import { StatusBar } from '../../source/ui/StatusBar.js';
import { discoveryStats, FP_ALICE, HOSTILE, inert, relayInfo, socketStats } from './fixtures.js';

describe('Stats pane', () => {
  it('shows local address, own fingerprint, totals, datagrams dropped and why, and uptime', () => {
    const { lastFrame } = render(
      <Stats nick="alice" stats={socketStats()} width={120} color={false} />,
    );
    const out = lastFrame() ?? '';
    expect(out).toContain(`you: alice at 127.0.0.1:47001   key ${FP_ALICE}`);
    expect(out).toContain(
      'in 120 pkts 14 kB   out 118 pkts 14 kB   dropped 6 (3 undecryptable, 2 malformed, …)   up 1m',
    );
    const none = { ...socketStats().dropped, truncated: 0, malformed: 0, decrypt: 0 };
    const quiet = render(
      <Stats nick="alice" stats={socketStats({ dropped: none })} width={120} color={false} />,
    );
    expect(quiet.lastFrame()).toContain('dropped 0   up 1m');
  });

  it('shows the public address once STUN has told it, and a symmetric NAT', () => {
    const { lastFrame } = render(
      <Stats
        nick="alice"
        stats={socketStats({
          publicAddress: '198.51.100.7:40000',
          natMapping: 'endpoint-dependent',
        })}
        width={160}
        color={false}
      />,
    );
    expect(lastFrame()).toContain('public 198.51.100.7:40000 (symmetric NAT)');
  });

  it('summarises many-port probing only once it has run', () => {
    const zero = {
      probesSent: 0,
      spraysSent: 0,
      socketsOpen: 0,
      attemptsStarted: 0,
      attemptsSucceeded: 0,
      attemptsFailed: 0,
    };
    const idle = render(
      <Stats nick="alice" stats={socketStats({ probing: zero })} width={120} color={false} />,
    );
    expect(idle.lastFrame()).not.toContain('probing');
    // Older stats (and fixtures) without the field show nothing either.
    const none = render(<Stats nick="alice" stats={socketStats()} width={120} color={false} />);
    expect(none.lastFrame()).not.toContain('probing');
    expect((none.lastFrame() ?? '').split('\n')).toHaveLength(2);
    const busy = render(
      <Stats
        nick="alice"
        stats={socketStats({
          probing: {
            ...zero,
            attemptsStarted: 2,
            attemptsSucceeded: 1,
            socketsOpen: 256,
            probesSent: 512,
          },
        })}
        width={120}
        color={false}
      />,
    );
    const lines = (busy.lastFrame() ?? '').split('\n');
    expect(lines).toHaveLength(3);
    expect(lines[2]).toBe('probing: 2 attempts, 1 ok, 256 sockets open, 512 probes');
    const failed = render(
      <Stats
        nick="alice"
        stats={socketStats({
          probing: { ...zero, attemptsStarted: 1, attemptsFailed: 1, spraysSent: 2048 },
        })}
        width={40}
        color={false}
      />,
    );
    for (const line of (failed.lastFrame() ?? '').split('\n'))
      expect(line.length).toBeLessThanOrEqual(40);
    expect(failed.lastFrame()).toContain('probing: 1 attempt, 1 failed');
  });

  it('waits for the first stats', () => {
    const { lastFrame } = render(
      <Stats nick="alice" stats={undefined} width={120} color={false} />,
    );
    expect(lastFrame()).toContain('starting…');
  });

  it('keeps to its width', () => {
    const { lastFrame } = render(
      <Stats nick="alice" stats={socketStats()} width={30} color={false} />,
    );
    for (const line of (lastFrame() ?? '').split('\n')) expect(line.length).toBeLessThanOrEqual(30);
  });

  it('renders a hostile nick inert', () => {
    for (const text of Object.values(HOSTILE)) {
      const { lastFrame } = render(
        <Stats nick={text} stats={socketStats()} width={200} color={false} />,
      );
      expect(inert(lastFrame() ?? '')).toBe(true);
    }
  });
});

describe('StatusBar', () => {
  it('lists the keys and the bell setting', () => {
    const { lastFrame, rerender } = render(<StatusBar bell width={200} />);
    expect(lastFrame()).toContain('PgUp/PgDn scroll · End follow');
    expect(lastFrame()).toContain('/bell on');
    rerender(<StatusBar bell={false} width={200} />);
    expect(lastFrame()).toContain('/bell off');
  });
});

describe('formatUptime', () => {
  it('counts to the minute, so an idle screen changes once a minute at most', () => {
    expect(formatUptime(59_999)).toBe('<1m');
    expect(formatUptime(60_000)).toBe('1m');
    expect(formatUptime(59 * 60_000 + 59_999)).toBe('59m');
    expect(formatUptime(3_600_000 + 5 * 60_000)).toBe('1h 05m');
    expect(formatUptime(2 * 86_400_000 + 7 * 3_600_000)).toBe('2d 07h');
  });
});

describe('Stats pane: relay and discovery', () => {
  const stats = socketStats({
    relay: relayInfo(),
    discovery: discoveryStats({ lookingFor: { carol: undefined } }),
  });

  it('shows the allocation (relay, state, relayed address) and the discovery counters', () => {
    const { lastFrame } = render(
      <Stats nick="alice" stats={stats} width={200} color={false} rows={4} />,
    );
    const lines = (lastFrame() ?? '').split('\n');
    expect(lines).toHaveLength(4);
    expect(lines[2]).toContain(
      'relay on 198.18.0.9:3478: allocated, relayed address 198.18.0.9:49152, relayed 2.5 kB out, 120 B in',
    );
    expect(lines[3]).toMatch(
      /^discovery \(DHT, mDNS\):\s+looking up carol\s+3 published\s+4 lookups\s+1 records accepted\s+0 rejected/,
    );
  });

  it('asks for a row per thing to show, and gives up the last ones first', () => {
    expect(statsRowsWanted(socketStats())).toBe(2);
    expect(statsRowsWanted(stats)).toBe(4);
    expect(statsRowsWanted(socketStats({ relay: relayInfo({ state: 'allocating' }) }))).toBe(3);
    const { lastFrame } = render(
      <Stats nick="alice" stats={stats} width={200} color={false} rows={3} />,
    );
    const lines = (lastFrame() ?? '').split('\n');
    expect(lines).toHaveLength(3);
    expect(lines[2]).toMatch(/^relay on/);
  });
});
