import { describe, expect, it } from 'vitest';
import { COMMANDS, completeCommand } from '../../../source/chat/commands/index.js';

describe('completeCommand', () => {
  const nicks = ['alice', 'Albert', 'bob'];

  it('completes command names', () => {
    expect(completeCommand('/', nicks)).toHaveLength(COMMANDS.length);
    expect(completeCommand('/h', nicks)).toEqual(['/help ']);
    expect(completeCommand('/help m', nicks)).toEqual(['/help msg']);
    expect(completeCommand('/wait a', nicks)).toEqual(['/wait Albert ', '/wait alice ']);
    expect(completeCommand('/l', nicks)).toEqual(['/list', '/load ']);
    expect(completeCommand('/M', nicks)).toEqual(['/msg ']);
    expect(completeCommand('/zz', nicks)).toEqual([]);
  });

  it('completes a nick where a command takes one', () => {
    expect(completeCommand('/msg al', nicks)).toEqual(['/msg Albert ', '/msg alice ']);
    expect(completeCommand('/msg b', nicks)).toEqual(['/msg bob ']);
    expect(completeCommand('/whois ', nicks)).toEqual([
      '/whois Albert',
      '/whois alice',
      '/whois bob',
    ]);
    expect(completeCommand('/block bo', nicks)).toEqual(['/block bob']);
    expect(completeCommand('/MSG bo', nicks)).toEqual(['/msg bob ']);
  });

  it('does not complete other arguments', () => {
    expect(completeCommand('/msg bob hel', nicks)).toEqual([]);
    expect(completeCommand('/add al', nicks)).toEqual([]);
    expect(completeCommand('/save al', nicks)).toEqual([]);
    expect(completeCommand('/nope al', nicks)).toEqual([]);
  });

  it('completes the last word of a message as a nick', () => {
    expect(completeCommand('hi bo', nicks)).toEqual(['hi bob']);
    expect(completeCommand('AL', nicks)).toEqual(['Albert', 'alice']);
    expect(completeCommand('hi ', nicks)).toEqual([]);
    expect(completeCommand('', nicks)).toEqual([]);
  });
});
