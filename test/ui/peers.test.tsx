import { render } from 'ink-testing-library';
import { describe, expect, it } from 'vitest';
import type { PeerView } from '../../source/chat/reducer.js';
import { describeState } from '../../source/net/shell/describe.js';
import { Peers, stateWords } from '../../source/ui/Peers.js';
import { FP_ALICE, FP_BOB, HOSTILE, inert, peer } from './fixtures.js';

const since = new Date(2026, 0, 2, 12, 3, 0).getTime();
const view = (p: ReturnType<typeof peer>): PeerView => ({ info: p, since });

function frame(peers: PeerView[], width = 100): string {
  const { lastFrame, unmount } = render(<Peers peers={peers} width={width} color={false} />);
  const out = lastFrame() ?? '';
  unmount();
  return out;
}

describe('Peers pane', () => {
  it('says how to get peers when there are none', () => {
    expect(frame([])).toContain('no peers yet: /add <nick> <host:port>');
  });

  it('shows nick, address, short key, rtt, min rtt, retransmits, loss, path and state', () => {
    const out = frame([view(peer('bob'))]);
    const [header, row] = out.split('\n');
    expect(header).toMatch(/NICK\s+ADDRESS\s+KEY\s+RTT ms\s+MIN\s+RETX\s+LOSS\s+PATH\s+STATE/);
    expect(row).toMatch(
      /bob\s+127\.0\.0\.1:9000\s+o4omc4sf\s+1\.3\s+0\.5\s+2\s+3\.1%\s+direct\s+connected since 12:03/,
    );
    expect(row).not.toContain(FP_BOB);
  });

  it('says in words why a peer is not connected', () => {
    const p = (state: PeerView['info']['state']) => view(peer('bob', { state }));
    expect(stateWords(p({ kind: 'connecting', since: 0, attempt: 0 }))).toBe('connecting');
    // The number /whois shows too (describeState): the pane said one more.
    expect(stateWords(p({ kind: 'connecting', since: 0, attempt: 2 }))).toBe(
      'connecting (attempt 2)',
    );
    const dialling = { kind: 'connecting', since: 0, attempt: 2 } as const;
    expect(stateWords(p(dialling))).toBe(describeState(dialling));
    expect(
      stateWords(p({ kind: 'unreachable', since: 0, reason: 'no answer from any address' })),
    ).toBe('unreachable since 12:03: no answer from any address');
    expect(
      stateWords(
        p({
          kind: 'disconnected',
          since: 0,
          reason: 'peer closed',
          cause: { kind: 'remote', code: 0 },
        }),
      ),
    ).toBe('disconnected at 12:03: peer closed');
    expect(stateWords(p({ kind: 'key-mismatch', since: 0, expected: FP_ALICE, got: FP_BOB }))).toBe(
      'KEY MISMATCH since 12:03: got o4omc4sf, pinned rifscdkk (/whois, /trust)',
    );
    const out = frame([p({ kind: 'unreachable', since: 0, reason: 'no answer' })]);
    expect(out).toContain('unreachable since 12:03: no answer');
  });

  it('shows dashes for what is not known yet', () => {
    const out = frame([
      view(
        peer(
          'carol',
          {
            address: undefined,
            fingerprint: undefined,
            state: { kind: 'connecting', since: 0, attempt: 0 },
          },
          { smoothedRtt: undefined, minRtt: undefined, path: 'none' },
        ),
      ),
    ]);
    expect(out).toMatch(/carol\s+-\s+-\s+-\s+-\s+2\s+3\.1%\s+none\s+connecting/);
  });

  it('caps the rows and says how many more there are', () => {
    const many = Array.from({ length: 10 }, (_, i) => view(peer(`p${i}`)));
    const { lastFrame } = render(<Peers peers={many} width={160} color={false} maxRows={3} />);
    expect(lastFrame()).toContain('… and 7 more (/list)');
  });

  it('renders hostile nicks and reasons inert', () => {
    for (const text of Object.values(HOSTILE)) {
      const out = frame([
        view(
          peer(text, {
            state: {
              kind: 'disconnected',
              since: 0,
              reason: text,
              cause: { kind: 'remote', code: 0 },
            },
          }),
        ),
      ]);
      expect(inert(out)).toBe(true);
    }
  });
});

describe('Peers pane: relays and lookups', () => {
  it('says relay in the PATH column of a relayed session, and drops PATH before STATE when narrow', () => {
    const relayed = view(peer('bob', {}, { path: 'relay' }));
    expect(frame([relayed]).split('\n')[1]).toMatch(/3\.1%\s+relay\s+connected since 12:03/);
    const narrow = frame([relayed], 60);
    expect(narrow).not.toMatch(/PATH/);
    expect(narrow).toMatch(/connected since/);
  });

  it('a long state is cut, not allowed to push the RTT, MIN and RETX columns out', () => {
    const reason = 'no answer from any of its 6 addresses (5 attempts each, last 12:09)';
    const p = view(peer('bob', { state: { kind: 'unreachable', since: 0, reason } }));
    const [header, row] = frame([p, view(peer('carol'))], 120).split('\n');
    expect(header).toMatch(/NICK\s+ADDRESS\s+KEY\s+RTT ms\s+MIN\s+RETX\s+LOSS\s+PATH\s+STATE/);
    expect(row).toMatch(
      /^bob\s+127\.0\.0\.1:9000\s+o4omc4sf\s+1\.3\s+0\.5\s+2\s.*unreachable since 12:03/,
    );
    // Cut where the pane ends (/whois has it whole).
    expect(row).toContain('unreachable since 12:03: no an');
  });

  it('a key-only peer not found yet shows a looking up state', () => {
    const p: PeerView = {
      info: peer('carol', {
        address: undefined,
        fingerprint: undefined,
        state: { kind: 'connecting', since: 0, attempt: 0 },
      }),
      since,
      lookingUp: true,
    };
    expect(stateWords(p)).toBe('looking up by key since 12:03');
    expect(frame([p]).split('\n')[1]).toMatch(/^carol\s+-\s+-\s.*looking up by key since 12:03/);
  });
});
