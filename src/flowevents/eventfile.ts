// Offline mode's flow names from -events: a file of tcp-info events in the
// eventsocket's JSONL format, read whole before the capture files are. Each
// Open event names the first flow of its 4-tuple that starts after it is
// read, once.
import { readFileSync } from 'node:fs';
import { flowKeysEqual, hashFlowKey } from '../decode/flowkey.js';
import { errorWords, PacketHeadersError } from '../errors.js';
import type { Log } from '../log.js';
import { parseEventLine } from './eventline.js';
import type { FlowSource, UnnamedFlow } from './flowsource.js';
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

/** Open events known before the packets (an -events file, tests), each naming one flow. */
export class EventListSource implements FlowSource {
  /** Events that name no flow yet, by key hash. */
  private readonly expected = new Map<number, FlowOpenEvent[]>();

  constructor(opens: readonly FlowOpenEvent[]) {
    for (const event of opens) {
      const hash = hashFlowKey(event.key);
      const list = this.expected.get(hash);
      if (list === undefined) this.expected.set(hash, [event]);
      else list.push(event);
    }
  }

  /** The -events file's Open events; its unusable lines are logged, counted by reason. */
  static read(path: string, log: Log): EventListSource {
    const events = readEventFile(path);
    for (const [reason, count] of events.bad) log(`${path}: ${count} unusable line(s) (${reason})`);
    return new EventListSource(events.opens);
  }

  start(): Promise<void> {
    return Promise.resolve();
  }

  nameFlow(flow: UnnamedFlow): FlowOpenEvent | null {
    const list = this.expected.size === 0 ? undefined : this.expected.get(flow.hash);
    if (list === undefined) return null;
    const at = list.findIndex((e) => flowKeysEqual(e.key, flow.key));
    if (at < 0) return null;
    const [event] = list.splice(at, 1);
    if (list.length === 0) this.expected.delete(flow.hash);
    return event;
  }

  stop(): Promise<void> {
    return Promise.resolve();
  }
}
