import { render } from 'ink-testing-library';
import { describe, expect, it } from 'vitest';
import { Stats } from '../../source/ui/Stats.js';
import { StatusBar } from '../../source/ui/StatusBar.js';
import { FP_ALICE, HOSTILE, inert, socketStats } from './fixtures.js';

describe('Stats pane', () => {
  it('shows local address, own fingerprint, totals, bad datagrams dropped and uptime', () => {
    const { lastFrame } = render(
      <Stats nick="alice" stats={socketStats()} width={120} color={false} />,
    );
    const out = lastFrame() ?? '';
    expect(out).toContain(`you: alice at 127.0.0.1:47001   key ${FP_ALICE}`);
    expect(out).toContain('in 120 pkts 14 kB   out 118 pkts 14 kB   bad dropped 6   up 0:01:23');
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
