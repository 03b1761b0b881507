/**
 * The schedule validator. It checks these rules, in this order, and throws a `ScheduleError`
 * (summary plus the rank × step grid of the action lists with the faulty cells marked) at the
 * first failure:
 *
 * - `checkRankCount`: one action list per rank;
 * - per action, in rank and list order: `checkRanges` (stage 0..p·v−1, micro-batch 0..m−1),
 *   `checkOnRankOfStage` (it sits on the rank of its stage, s mod p), `checkPeer` (SEND/RECV
 *   name an existing stage on another rank), `checkNotDuplicate` (no action appears twice);
 * - per stage and micro-batch: `checkComplete` (exactly one F and either one fused BW or one B
 *   and one W), `checkStageOrder` (F before B or BW before W in the rank's list);
 * - per stage and micro-batch, `checkInputsArrive`: F of stage s > 0 follows F of s − 1, on the
 *   same rank by list order, else through SEND_F after that F and RECV_F before this one; the
 *   backward of s < p·v−1 follows the backward of s + 1 the same way through SEND_B / RECV_B;
 * - `checkSendsReceived`: every send is received;
 * - `checkChannelOrder`: on each channel (sender rank, receiver rank, direction F or B) the
 *   receiver takes the messages in the order they are sent (point-to-point messages match in order);
 * - `checkNoDeadlock`: a dry run with blocking receives and non-blocking sends finishes.
 */
import { isFirstStage, isLastStage, nextStageRank, previousStageRank, rankOfStage, stageCount } from "../parallel/placement.js";
import { action, actionKey, formatAction, type Action, type ActionType, type Schedule, type ScheduleDims } from "./actions.js";
import { ScheduleError } from "./error.js";
import { formatActionLists, type Cell } from "./grid.js";
import { messageKey, simulateSchedule } from "./simulate.js";

interface Located extends Cell {
  action: Action;
}

/** What every rule reads: the schedule, its dimensions and where each action sits. */
interface Checking {
  readonly schedule: Schedule;
  readonly dims: ScheduleDims;
  /** Every action seen so far by `checkNotDuplicate`, by key. */
  readonly placed: Map<string, Located>;
  /** Throws the ScheduleError: `summary` and the grid with `located` marked. */
  fail(summary: string, located?: Cell[]): never;
}

export function validateSchedule(schedule: Schedule, dims: ScheduleDims): void {
  const checking = startChecking(schedule, dims);
  checkRankCount(checking);
  forEachAction(schedule, (here) => {
    checkRanges(checking, here);
    checkOnRankOfStage(checking, here);
    checkPeer(checking, here);
    checkNotDuplicate(checking, here);
  });
  forEachStageAndMicroBatch(dims, (stage, mb) => {
    checkComplete(checking, stage, mb);
    checkStageOrder(checking, stage, mb);
  });
  forEachStageAndMicroBatch(dims, (stage, mb) => checkInputsArrive(checking, stage, mb));
  checkSendsReceived(checking);
  checkChannelOrder(checking);
  checkNoDeadlock(schedule);
}

function startChecking(schedule: Schedule, dims: ScheduleDims): Checking {
  const fail = (summary: string, located: Cell[] = []): never => {
    const cells = located.map(({ rank, index }) => ({ rank, index }));
    throw new ScheduleError(summary, formatActionLists(schedule, cells), cells);
  };
  return { schedule, dims, placed: new Map(), fail };
}

function forEachAction(schedule: Schedule, visit: (here: Located) => void): void {
  schedule.forEach((list, rank) => list.forEach((a, index) => visit({ rank, index, action: a })));
}

function forEachStageAndMicroBatch(dims: ScheduleDims, visit: (stage: number, mb: number) => void): void {
  for (let stage = 0; stage < stageCount(dims); stage++) {
    for (let mb = 0; mb < dims.m; mb++) visit(stage, mb);
  }
}

/** Where the action (type, stage, micro-batch) sits, if it is in the schedule. */
function find(checking: Checking, type: ActionType, stage: number, mb: number): Located | undefined {
  return checking.placed.get(actionKey(action(type, stage, mb)));
}

/** The backward of (stage, micro-batch): its fused BW, or the B of a split one. */
function findBackward(checking: Checking, stage: number, mb: number): Located | undefined {
  return find(checking, "BW", stage, mb) ?? find(checking, "B", stage, mb);
}

function checkRankCount({ schedule, dims, fail }: Checking): void {
  if (schedule.length !== dims.p) fail(`the schedule has ${schedule.length} ranks, expected p = ${dims.p}`);
}

function checkRanges({ dims, fail }: Checking, here: Located): void {
  const { action: a } = here;
  const stages = stageCount(dims);
  const name = formatAction(a);
  if (!Number.isInteger(a.stage) || a.stage < 0 || a.stage >= stages) fail(`${name}: stage must be 0..${stages - 1}`, [here]);
  if (!Number.isInteger(a.mb) || a.mb < 0 || a.mb >= dims.m) fail(`${name}: micro-batch must be 0..${dims.m - 1}`, [here]);
}

function checkOnRankOfStage({ dims, fail }: Checking, here: Located): void {
  const { action: a, rank } = here;
  const home = rankOfStage(a.stage, dims.p);
  if (home !== rank) fail(`${formatAction(a)} is on rank ${rank}, but stage ${a.stage} lives on rank ${home}`, [here]);
}

/** The stage a SEND or RECV exchanges data with, undefined for compute actions. */
function peerStage(a: Action): number | undefined {
  if (a.type === "SEND_F" || a.type === "RECV_B") return a.stage + 1;
  if (a.type === "RECV_F" || a.type === "SEND_B") return a.stage - 1;
  return undefined;
}

function checkPeer({ dims, fail }: Checking, here: Located): void {
  const peer = peerStage(here.action);
  if (peer === undefined) return;
  const name = formatAction(here.action);
  if (peer < 0 || peer >= stageCount(dims)) fail(`${name}: stage ${peer} does not exist`, [here]);
  if (rankOfStage(peer, dims.p) === here.rank) fail(`${name}: stage ${peer} is on the same rank, no message needed`, [here]);
}

/** Also records the action's place, for the rules after it. */
function checkNotDuplicate({ placed, fail }: Checking, here: Located): void {
  const key = actionKey(here.action);
  const first = placed.get(key);
  if (first) fail(`duplicate action ${formatAction(here.action)}`, [first, here]);
  placed.set(key, here);
}

function checkComplete(checking: Checking, stage: number, mb: number): void {
  const { fail, dims } = checking;
  const f = find(checking, "F", stage, mb), bw = find(checking, "BW", stage, mb);
  const b = find(checking, "B", stage, mb), w = find(checking, "W", stage, mb);
  const anyCell = [f, bw, b, w].filter((c): c is Located => c !== undefined);
  if (!f) fail(`missing ${stage}F${mb} (on rank ${rankOfStage(stage, dims.p)})`, anyCell);
  if (bw && (b || w)) fail(`${stage}BW${mb} is fused, but ${stage}${b ? "B" : "W"}${mb} exists too`, anyCell);
  if (!bw && !b) fail(`missing the backward of stage ${stage}, micro-batch ${mb} (${stage}BW${mb} or ${stage}B${mb} + ${stage}W${mb})`, anyCell);
  if (b && !w) fail(`missing ${stage}W${mb}: a split backward needs its weight-gradient half`, [b]);
  if (w && !b) fail(`${stage}W${mb} has no ${stage}B${mb}`, [w]);
}

/** Runs after `checkComplete` for the same stage and micro-batch: every action it needs exists. */
function checkStageOrder(checking: Checking, stage: number, mb: number): void {
  const f = find(checking, "F", stage, mb)!, back = findBackward(checking, stage, mb)!, w = find(checking, "W", stage, mb);
  if (back.index < f.index) checking.fail(`${formatAction(back.action)} runs before its forward ${stage}F${mb}`, [back]);
  if (w && w.index < back.index) checking.fail(`${stage}W${mb} runs before ${stage}B${mb}`, [w]);
}

function checkInputsArrive(checking: Checking, stage: number, mb: number): void {
  if (!isFirstStage(stage)) {
    checkDependency(checking, find(checking, "F", stage, mb)!, find(checking, "F", stage - 1, mb)!, "RECV_F", "SEND_F");
  }
  if (!isLastStage(stage, checking.dims)) {
    checkDependency(checking, findBackward(checking, stage, mb)!, findBackward(checking, stage + 1, mb)!, "RECV_B", "SEND_B");
  }
}

/** `consumer` needs the output of `producer`: by list order on one rank, else through a send and a receive. */
function checkDependency(checking: Checking, consumer: Located, producer: Located, recvType: "RECV_F" | "RECV_B", sendType: "SEND_F" | "SEND_B"): void {
  const needs = consumer.action, makes = producer.action;
  if (producer.rank === consumer.rank) {
    if (producer.index > consumer.index) checking.fail(`${formatAction(needs)} runs before ${formatAction(makes)}, whose output it needs`, [consumer]);
    return;
  }
  const recv = find(checking, recvType, needs.stage, needs.mb);
  const send = find(checking, sendType, makes.stage, makes.mb);
  if (!recv) checking.fail(`${formatAction(needs)} has no ${needs.stage}${recvType}${needs.mb} before it`, [consumer]);
  if (recv.index > consumer.index) checking.fail(`${formatAction(recv.action)} comes after ${formatAction(needs)}, which needs it`, [recv]);
  if (!send) checking.fail(`${formatAction(recv.action)} has no matching ${makes.stage}${sendType}${makes.mb} on rank ${producer.rank}`, [recv]);
  if (send.index < producer.index) checking.fail(`${formatAction(send.action)} runs before ${formatAction(makes)}, which produces its data`, [send]);
}

function checkSendsReceived(checking: Checking): void {
  for (const here of checking.placed.values()) {
    const a = here.action;
    if (a.type === "SEND_F" && !find(checking, "RECV_F", a.stage + 1, a.mb)) checking.fail(`${formatAction(a)} is never received (no ${a.stage + 1}RECV_F${a.mb})`, [here]);
    if (a.type === "SEND_B" && !find(checking, "RECV_B", a.stage - 1, a.mb)) checking.fail(`${formatAction(a)} is never received (no ${a.stage - 1}RECV_B${a.mb})`, [here]);
  }
}

interface Channel {
  sends: Located[];
  recvs: Located[];
}

/** Every channel's sends and receives, each in list order. */
function channelsOf(schedule: Schedule, p: number): Channel[] {
  const channels = new Map<string, Channel>();
  const channel = (from: number, to: number, direction: "F" | "B") => {
    const key = `${from}>${to}:${direction}`;
    let found = channels.get(key);
    if (!found) channels.set(key, (found = { sends: [], recvs: [] }));
    return found;
  };
  forEachAction(schedule, (here) => {
    const { action: a, rank } = here;
    if (a.type === "SEND_F") channel(rank, nextStageRank(a.stage, p), "F").sends.push(here);
    if (a.type === "SEND_B") channel(rank, previousStageRank(a.stage, p), "B").sends.push(here);
    if (a.type === "RECV_F") channel(previousStageRank(a.stage, p), rank, "F").recvs.push(here);
    if (a.type === "RECV_B") channel(nextStageRank(a.stage, p), rank, "B").recvs.push(here);
  });
  return [...channels.values()];
}

function checkChannelOrder({ schedule, dims, fail }: Checking): void {
  for (const { sends, recvs } of channelsOf(schedule, dims.p)) {
    for (let i = 0; i < Math.min(sends.length, recvs.length); i++) {
      const send = sends[i]!, recv = recvs[i]!;
      if (messageKey(send.action) !== messageKey(recv.action)) {
        fail(
          `rank ${recv.rank} receives ${formatAction(recv.action)} as message ${i} from rank ${send.rank}, ` +
            `but message ${i} is ${formatAction(send.action)} (messages between two ranks match in order)`,
          [send, recv],
        );
      }
    }
  }
}

/** Throws a ScheduleError marking where each stuck rank waits. */
function checkNoDeadlock(schedule: Schedule): void {
  simulateSchedule(schedule, () => 1);
}
