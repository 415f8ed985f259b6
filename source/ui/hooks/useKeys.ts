import { useStdin } from 'ink';
import { useEffect, useRef } from 'react';
import { type KeyPress, parseKeys } from '../keys.js';

/**
 * Every key of every read from the terminal, in order (see keys.ts for why
 * not Ink's useInput). Ink's App reads stdin and emits each read, split only
 * at escape sequences, on its stdin context's event emitter: the one place
 * the raw bytes are available without a second reader on stdin.
 */
export function useKeys(onKeys: (keys: KeyPress[]) => void): void {
  const { setRawMode, internal_eventEmitter: input } = useStdin();
  // The latest handler: it closes over the latest render's state.
  const handler = useRef(onKeys);
  handler.current = onKeys;
  useEffect(() => {
    setRawMode(true);
    return () => setRawMode(false);
  }, [setRawMode]);
  useEffect(() => {
    const onInput = (data: string) => handler.current(parseKeys(data));
    input.on('input', onInput);
    return () => {
      input.off('input', onInput);
    };
  }, [input]);
}
