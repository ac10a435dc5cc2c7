// Offline mode's flow names: a file of tcp-info events in the eventsocket's
// JSONL format, read whole before the capture files are.
import { readFileSync } from 'node:fs';
import { errorWords, PacketHeadersError } from '../errors.js';
import { parseEventLine } from './eventline.js';
import type { BadEventReason, FlowOpenEvent } from './types.js';

export interface EventFile {
  opens: FlowOpenEvent[];
  bad: Map<BadEventReason, number>;
}

export function readEventFile(path: string): EventFile {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new PacketHeadersError('PH_ERR_FLAG', `cannot read -events file "${path}": ${errorWords(error)}`);
  }
  const result: EventFile = { opens: [], bad: new Map() };
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    const parsed = parseEventLine(line);
    if (!parsed.ok) result.bad.set(parsed.reason, (result.bad.get(parsed.reason) ?? 0) + 1);
    else if (parsed.event.kind === 'open') result.opens.push(parsed.event);
  }
  return result;
}
