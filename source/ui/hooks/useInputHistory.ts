import { useRef } from 'react';

/**
 * Up/Down history for the input line, shell style: Up walks back through
 * sent lines, Down forward and finally back to what was being typed.
 */
export interface InputHistory {
  push(line: string): void;
  /** The line to show for Up (-1) or Down (+1), or undefined when there is none. */
  move(dir: -1 | 1, current: string): string | undefined;
}

export const MAX_HISTORY = 500;

export function createInputHistory(): InputHistory {
  const lines: string[] = [];
  let at = 0;
  let draft = '';
  return {
    push(line) {
      if (line.trim() !== '' && lines[lines.length - 1] !== line) lines.push(line);
      if (lines.length > MAX_HISTORY) lines.shift();
      at = lines.length;
      draft = '';
    },
    move(dir, current) {
      if (at === lines.length) draft = current;
      const next = at + dir;
      if (next < 0 || next > lines.length) return undefined;
      at = next;
      return at === lines.length ? draft : lines[at];
    },
  };
}

export function useInputHistory(): InputHistory {
  const ref = useRef<InputHistory | null>(null);
  ref.current ??= createInputHistory();
  return ref.current;
}
