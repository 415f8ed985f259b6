import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeChat, encodeChat } from '../../source/chat/protocol.js';

describe('chat payload', () => {
  it('round-trips public and private text', () => {
    for (const payload of [
      { text: 'hello', private: false },
      { text: 'psst 👋🏽', private: true },
      { text: '', private: false },
      { text: '{"type":"srmudp-chat"}', private: false },
    ]) {
      expect(decodeChat(encodeChat(payload))).toEqual(payload);
    }
  });

  it('is the documented JSON envelope', () => {
    expect(JSON.parse(encodeChat({ text: 'hi', private: true }).toString('utf8'))).toEqual({
      type: 'srmudp-chat',
      version: 1,
      private: true,
      text: 'hi',
    });
  });

  it('shows anything else as plain public text, never throwing', () => {
    expect(decodeChat(Buffer.from('raw bytes'))).toEqual({ text: 'raw bytes', private: false });
    expect(decodeChat(Buffer.from('{not json'))).toEqual({ text: '{not json', private: false });
    const other = '{"type":"srmudp-chat","version":2,"text":"future"}';
    expect(decodeChat(Buffer.from(other))).toEqual({ text: other, private: false });
    expect(decodeChat(Buffer.from('{"type":"srmudp-chat","version":1,"text":5}')).private).toBe(
      false,
    );
    expect(decodeChat(Buffer.from([0xff, 0xfe, 0x41]))).toEqual({
      text: '\ufffd\ufffdA',
      private: false,
    });
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
        const p = decodeChat(bytes);
        expect(typeof p.text).toBe('string');
      }),
    );
  });
});
