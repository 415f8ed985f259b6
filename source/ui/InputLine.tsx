import { Box, Text } from 'ink';
import type { Line } from './lineedit.js';

/**
 * The input line: prompt, text and cursor. Props only; the App owns the
 * editing (see lineedit.ts for why it is not ink-text-input's own state).
 */

export interface InputLineProps {
  nick: string;
  line: Line;
  /** Completion candidates to show after an ambiguous Tab. */
  hint?: string;
  placeholder?: string;
}

export function InputLine({
  nick,
  line,
  hint,
  placeholder = 'type a message, or /help',
}: InputLineProps) {
  const { value, cursor } = line;
  const at = value.codePointAt(cursor);
  const under = at === undefined ? ' ' : String.fromCodePoint(at);
  return (
    <Box flexDirection="column">
      {hint ? (
        <Text dimColor wrap="truncate-end">
          {hint}
        </Text>
      ) : null}
      <Text wrap="wrap">
        <Text bold>{nick}&gt; </Text>
        {value === '' ? (
          <>
            <Text inverse> </Text>
            <Text dimColor>{placeholder}</Text>
          </>
        ) : (
          <>
            {value.slice(0, cursor)}
            <Text inverse>{under}</Text>
            {value.slice(cursor + under.length)}
          </>
        )}
      </Text>
    </Box>
  );
}
