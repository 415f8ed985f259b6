import { describe, expect, it } from 'vitest';
import { PAGE_COST } from '../../source/net/core/conn/pages.js';
import { MAX_STREAM_GAPS } from '../../source/net/core/conn/recvstream.js';
import { RECV_WINDOW } from '../../source/net/core/conn/streamlimits.js';
import { MAX_PEER_GAPS, PEER_REASSEMBLY_LIMIT } from '../../source/net/core/peers/peer.js';
import { reassemblyAttack } from '../support/scenarios/reassembly.js';

/**
 * The security issue's reassembly attack through the whole stack: an
 * authenticated stranger's slivers of stream data end its session as a
 * protocol violation (RFC 9000 §21.7) within the documented bounds, and a
 * well-behaved peer on the same node is not hurt.
 */
describe('reassembly attack by an authenticated peer', () => {
  it('one-byte frames at every other offset: cut off at MAX_STREAM_GAPS, a few pages held', () => {
    const f = reassemblyAttack(41, 'every-other');
    expect(f.closed).toBe(true);
    expect(f.closeReason).toMatch(/too many gaps in stream data/);
    expect(f.finalState).toMatch(/^disconnected: protocol violation: too many gaps/);
    expect(f.protocolDrops).toBeGreaterThan(0);
    // It took just past the bound, not the 16.7 million pieces.
    expect(f.frames).toBeGreaterThan(MAX_STREAM_GAPS);
    expect(f.frames).toBeLessThanOrEqual(MAX_STREAM_GAPS + 200);
    expect(f.peakGaps).toBe(MAX_STREAM_GAPS);
    // 8 KiB of stream in slivers: two pages, charged what they cost.
    expect(f.peakObjects).toBeLessThanOrEqual(3);
    expect(f.peakCharged).toBeLessThanOrEqual(3 * PAGE_COST);
    // Work: a constant per frame, however the slivers are ordered.
    expect(f.operations).toBeLessThanOrEqual(12 * f.frames);
    expect(f.goodPeerDelivered).toBe(true);
    expect(f.goodPeerConnected).toBe(true);
    expect(f.heldAfter).toBe(0);
  });

  it('slivers spread over three streams, each under its own bound: cut off at MAX_PEER_GAPS', () => {
    const f = reassemblyAttack(43, 'spread-gaps');
    expect(f.closed).toBe(true);
    expect(f.closeReason).toMatch(/too many gaps across streams/);
    expect(f.finalState).toMatch(/^disconnected: protocol violation/);
    // Sampled as alice accounts each frame: the last is the one that crossed the bound.
    expect(f.peakGaps).toBe(MAX_PEER_GAPS + 1);
    expect(f.frames).toBeLessThanOrEqual(MAX_PEER_GAPS + 200);
    // Two pages per attacked stream, and mallory's own control stream may hold
    // a page and a partial message of its routine traffic.
    expect(f.peakCharged).toBeLessThanOrEqual((3 * 2 + 1) * PAGE_COST + 1024);
    expect(f.operations).toBeLessThanOrEqual(12 * f.frames);
    expect(f.goodPeerDelivered).toBe(true);
    expect(f.goodPeerConnected).toBe(true);
    expect(f.heldAfter).toBe(0);
  });

  it('one byte per page: cut off at PEER_REASSEMBLY_LIMIT, charge and objects within bounds', () => {
    const f = reassemblyAttack(42, 'one-per-page');
    expect(f.closed).toBe(true);
    expect(f.closeReason).toMatch(/reassembly limit exceeded/);
    expect(f.finalState).toMatch(/^disconnected: protocol violation/);
    expect(f.peakCharged).toBeGreaterThan(PEER_REASSEMBLY_LIMIT - PAGE_COST);
    expect(f.peakCharged).toBeLessThanOrEqual(f.bounds.charged);
    expect(f.peakObjects).toBeLessThanOrEqual(f.bounds.objects);
    expect(f.peakGaps).toBeLessThanOrEqual(f.bounds.gaps);
    // Every byte it sent cost it a page, and it could not place more than fit the budget.
    expect(f.frames).toBeLessThanOrEqual(Math.ceil(PEER_REASSEMBLY_LIMIT / PAGE_COST) + 200);
    expect(f.frames).toBeLessThan((2 * RECV_WINDOW) / 4096);
    expect(f.operations).toBeLessThanOrEqual(12 * f.frames);
    expect(f.goodPeerDelivered).toBe(true);
    expect(f.goodPeerConnected).toBe(true);
    expect(f.heldAfter).toBe(0);
  });
});
