import { Box, Text } from 'ink';
import { formatTime } from '../chat/format.js';
import type { UiLine } from '../chat/reducer.js';
import { sanitize } from '../chat/sanitize.js';
import { hue, nickColor } from './theme.js';

/**
 * The message pane: the newest lines that fit (or, scrolled back, the lines
 * ending `scroll` before the newest). Props only. Every piece of text a peer
 * controls goes through `sanitize` here, right before Ink sees it.
 */

export interface MessagesProps {
  lines: readonly UiLine[];
  /** Lines scrolled back from the newest (0: following). */
  scroll: number;
  /** Lines that arrived while scrolled back. */
  unseen: number;
  /** Rows and columns available for lines. */
  height: number;
  width: number;
  color: boolean;
}

function deliveryMark(l: UiLine): string {
  switch (l.delivery) {
    case 'sending':
      return ' …';
    case 'delivered':
      return ' ✓';
    case 'failed':
      return ` ✗ not delivered${l.detail ? `: ${l.detail}` : ''}`;
    default:
      return '';
  }
}

/** The line as plain text, to estimate how many rows it wraps to. */
export function plainLine(l: UiLine): string {
  const line = l.line;
  const stamp = formatTime(line.time);
  switch (line.kind) {
    case 'message': {
      const priv = line.private ? (line.own ? `[private → ${line.to ?? '?'}] ` : '[private] ') : '';
      return sanitize(
        `${stamp} ${line.own ? '»' : l.mention ? '!' : ' '}${priv}<${line.from}> ${line.text}${deliveryMark(l)}`,
      );
    }
    case 'system':
      return sanitize(`${stamp} -- ${line.text}`);
    case 'error':
      return sanitize(`${stamp} !! ${line.text}`);
  }
}

function rowsOf(l: UiLine, width: number): number {
  return Math.max(1, Math.ceil(plainLine(l).length / Math.max(1, width)));
}

/** The lines shown for a scroll position, oldest first. */
export function visibleLines(
  lines: readonly UiLine[],
  scroll: number,
  height: number,
  width: number,
): UiLine[] {
  const end = Math.max(0, lines.length - scroll);
  const out: UiLine[] = [];
  let rows = 0;
  for (let i = end - 1; i >= 0 && rows < height; i--) {
    const l = lines[i]!;
    rows += rowsOf(l, width);
    out.push(l);
  }
  return out.reverse();
}

function Line({ l, color }: { l: UiLine; color: boolean }) {
  const line = l.line;
  const stamp = <Text dimColor>{formatTime(line.time)} </Text>;
  if (line.kind === 'system') {
    return (
      <Text wrap="wrap">
        {stamp}
        <Text color={hue(color, 'gray')}>-- {sanitize(line.text)}</Text>
      </Text>
    );
  }
  if (line.kind === 'error') {
    return (
      <Text wrap="wrap">
        {stamp}
        <Text color={hue(color, 'red')} bold>
          !! {sanitize(line.text)}
        </Text>
      </Text>
    );
  }
  const priv = line.private
    ? line.own
      ? `[private → ${sanitize(line.to ?? '?')}] `
      : '[private] '
    : '';
  const mark = deliveryMark(l);
  return (
    <Text wrap="wrap">
      {stamp}
      {/* The gutter: » our own line, ! a line naming us. */}
      <Text bold color={l.mention ? hue(color, 'yellow') : undefined}>
        {line.own ? '»' : l.mention ? '!' : ' '}
      </Text>
      {priv ? <Text color={hue(color, 'magenta')}>{priv}</Text> : null}
      <Text color={hue(color, nickColor(line.from))} bold>
        &lt;{sanitize(line.from)}&gt;
      </Text>
      <Text> </Text>
      <Text
        bold={l.mention}
        inverse={l.mention && !color}
        color={l.mention ? hue(color, 'yellowBright') : undefined}
      >
        {sanitize(line.text)}
      </Text>
      {mark ? (
        <Text
          color={hue(
            color,
            l.delivery === 'failed' ? 'red' : l.delivery === 'delivered' ? 'green' : 'gray',
          )}
        >
          {sanitize(mark)}
        </Text>
      ) : null}
    </Text>
  );
}

export function Messages({ lines, scroll, unseen, height, width, color }: MessagesProps) {
  const rows = Math.max(1, height - (scroll > 0 ? 1 : 0));
  const shown = visibleLines(lines, scroll, rows, width);
  return (
    <Box
      flexDirection="column"
      height={height}
      width={width}
      overflow="hidden"
      justifyContent="flex-end"
    >
      {shown.map((l) => (
        <Line key={l.key} l={l} color={color} />
      ))}
      {scroll > 0 ? (
        <Text inverse>
          {` scrolled back ${scroll} line${scroll === 1 ? '' : 's'}${unseen > 0 ? `, ${unseen} new` : ''}: End returns `}
        </Text>
      ) : null}
    </Box>
  );
}
