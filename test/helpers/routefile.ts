// The flow store on its own, without a demuxer: a flow opened for a frame's
// 4-tuple, as the demuxer opens one for a connection named before its
// packets come, and batches routed to it through the store's route() as the
// demuxer's are, the flow's header length and anonymize bits chosen by the test.
import { D_HASH, D_KEY, NEWFLOW_WORDS, NF_ROUTE, NF_SERIAL, NF_SLOT, SaverState } from '../../src/native/layout.js';
import { describeRecords } from '../../src/decode/describe.js';
import { KEY_WORDS } from '../../src/decode/flowkey.js';
import type { FlowFile, WriteErrorListener } from '../../src/saver/flowfile.js';
import type { FlowStore, OpenedFlow } from '../../src/saver/flowstore.js';
import { batchOf } from './frames.js';

/**
 * A flow for the 4-tuple of `frame` (a link-layer frame of `linkType`) with
 * its file: its records cut to `keep` bytes (0: fixed by the first packet),
 * the addresses chosen by `anonymize` (ANONYMIZE_A | ANONYMIZE_B) masked.
 */
export function openTestFlow(store: FlowStore, frame: Buffer, linkType: number, onError: WriteErrorListener, keep = 0, anonymize = 0): OpenedFlow {
  const d = describeRecords(batchOf([{ frame }]), linkType);
  const opened = store.openFlow(d.slice(D_KEY, D_KEY + KEY_WORDS), d[D_HASH], onError, keep, anonymize);
  if (typeof opened === 'string') throw new Error(`the store refused the flow: ${opened}`);
  return opened;
}

/**
 * Routes every record of `batch` (records of `flow`'s 4-tuple) through the
 * store, and returns the store's tallies of the batch (zeroing them). A
 * record of another 4-tuple starts a flow of its own, which is ended at once
 * and its file dropped; their files are returned too. `flushStream`: the flow
 * is saving, and its records are sealed into a member at the end, as the
 * demuxer's flushStreams() does in stream mode every second.
 */
export function routeToFlow(store: FlowStore, flow: OpenedFlow, batch: Buffer, linkType: number, flushStream = false): { tallies: Float64Array; others: FlowFile[] } {
  if (flushStream) store.setFlowState(flow.route, SaverState.Saving);
  store.route(batch, describeRecords(batch, linkType), linkType, null);
  const others: FlowFile[] = [];
  const started = store.takeNewFlows();
  for (let at = 0; at + NEWFLOW_WORDS <= started.length; at += NEWFLOW_WORDS) {
    if (started[at + NF_ROUTE] < 0) continue;
    const file = store.fileOf(started[at + NF_SLOT], started[at + NF_SERIAL], () => {});
    file.discard();
    store.endFlow(started[at + NF_ROUTE]);
    others.push(file);
  }
  if (flushStream) store.flushStreams();
  store.takeTallies();
  const tallies = store.tallies.slice();
  store.tallies.fill(0);
  return { tallies, others };
}
