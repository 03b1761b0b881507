/**
 * The schedule validator. It checks, in this order, and throws a `ScheduleError` (summary plus
 * the rank × step grid of the action lists with the faulty cells marked) at the first failure:
 *
 * 1. every action names a stage 0..p·v−1 and a micro-batch 0..m−1 and sits on the rank of its
 *    stage (s mod p); SEND/RECV only cross ranks;
 * 2. no action appears twice;
 * 3. each (stage, micro-batch) has exactly one F and either one fused BW or one B and one W;
 * 4. per stage and micro-batch: F before B (or BW) before W in the rank's list;
 * 5. F of stage s > 0 follows F of s − 1: on the same rank by list order, else through
 *    SEND_F after that F and RECV_F before this one; backward of s < p·v−1 follows backward of
 *    s + 1 the same way through SEND_B / RECV_B; every send is received;
 * 6. on each channel (sender rank, receiver rank, direction F or B) the receiver takes the
 *    messages in the order they are sent (point-to-point messages match in order);
 * 7. no deadlock: a dry run with blocking receives and non-blocking sends finishes.
 */
import { action, actionKey, formatAction, rankOfStage, type Action, type Schedule, type ScheduleDims } from "./actions.js";
import { ScheduleError } from "./error.js";
import { formatActionLists, type Cell } from "./grid.js";
import { messageKey, simulateSchedule } from "./simulate.js";

interface Located extends Cell {
  action: Action;
}

export function validateSchedule(schedule: Schedule, dims: ScheduleDims): void {
  const { p, m, v } = dims;
  const S = p * v;
  const fail = (summary: string, located: Cell[] = []): never => {
    const cells = located.map(({ rank, index }) => ({ rank, index }));
    throw new ScheduleError(summary, formatActionLists(schedule, cells), cells);
  };
  if (schedule.length !== p) fail(`the schedule has ${schedule.length} ranks, expected p = ${p}`);

  // 1 and 2: placement, ranges, duplicates.
  const where = new Map<string, Located>();
  schedule.forEach((list, rank) =>
    list.forEach((a, index) => {
      const here = { rank, index };
      const name = formatAction(a);
      if (!Number.isInteger(a.stage) || a.stage < 0 || a.stage >= S) fail(`${name}: stage must be 0..${S - 1}`, [here]);
      if (!Number.isInteger(a.mb) || a.mb < 0 || a.mb >= m) fail(`${name}: micro-batch must be 0..${m - 1}`, [here]);
      if (rankOfStage(a.stage, p) !== rank) fail(`${name} is on rank ${rank}, but stage ${a.stage} lives on rank ${rankOfStage(a.stage, p)}`, [here]);
      const peer = a.type === "SEND_F" || a.type === "RECV_B" ? a.stage + 1 : a.type === "RECV_F" || a.type === "SEND_B" ? a.stage - 1 : undefined;
      if (peer !== undefined && (peer < 0 || peer >= S)) fail(`${name}: stage ${peer} does not exist`, [here]);
      if (peer !== undefined && rankOfStage(peer, p) === rank) fail(`${name}: stage ${peer} is on the same rank, no message needed`, [here]);
      const key = actionKey(a);
      const first = where.get(key);
      if (first) fail(`duplicate action ${name}`, [first, here]);
      where.set(key, { rank, index, action: a });
    }),
  );
  const at = (type: Action["type"], stage: number, mb: number) => where.get(actionKey(action(type, stage, mb)));

  // 3 and 4: completeness and per-stage order.
  const backward = (s: number, mb: number) => at("BW", s, mb) ?? at("B", s, mb);
  for (let s = 0; s < S; s++) {
    for (let mb = 0; mb < m; mb++) {
      const f = at("F", s, mb), bw = at("BW", s, mb), b = at("B", s, mb), w = at("W", s, mb);
      const anyCell = [f, bw, b, w].filter((c): c is Located => c !== undefined);
      if (!f) fail(`missing ${s}F${mb} (on rank ${rankOfStage(s, p)})`, anyCell);
      if (bw && (b || w)) fail(`${s}BW${mb} is fused, but ${s}${b ? "B" : "W"}${mb} exists too`, anyCell);
      if (!bw && !b) fail(`missing the backward of stage ${s}, micro-batch ${mb} (${s}BW${mb} or ${s}B${mb} + ${s}W${mb})`, anyCell);
      if (b && !w) fail(`missing ${s}W${mb}: a split backward needs its weight-gradient half`, [b]);
      if (w && !b) fail(`${s}W${mb} has no ${s}B${mb}`, [w]);
      const back = (bw ?? b)!;
      if (back.index < f!.index) fail(`${formatAction(back.action)} runs before its forward ${s}F${mb}`, [back]);
      if (w && w.index < b!.index) fail(`${s}W${mb} runs before ${s}B${mb}`, [w]);
    }
  }

  // 5: dependencies between stages.
  const dependency = (consumer: Located, producer: Located, recvType: "RECV_F" | "RECV_B", sendType: "SEND_F" | "SEND_B") => {
    const c = consumer.action, pr = producer.action;
    if (producer.rank === consumer.rank) {
      if (producer.index > consumer.index) fail(`${formatAction(c)} runs before ${formatAction(pr)}, whose output it needs`, [consumer]);
      return;
    }
    const recv = at(recvType, c.stage, c.mb);
    const send = at(sendType, pr.stage, pr.mb);
    if (!recv) fail(`${formatAction(c)} has no ${c.stage}${recvType}${c.mb} before it`, [consumer]);
    if (recv!.index > consumer.index) fail(`${formatAction(recv!.action)} comes after ${formatAction(c)}, which needs it`, [recv!]);
    if (!send) fail(`${formatAction(recv!.action)} has no matching ${pr.stage}${sendType}${pr.mb} on rank ${producer.rank}`, [recv!]);
    if (send!.index < producer.index) fail(`${formatAction(send!.action)} runs before ${formatAction(pr)}, which produces its data`, [send!]);
  };
  for (let s = 0; s < S; s++) {
    for (let mb = 0; mb < m; mb++) {
      if (s > 0) dependency(at("F", s, mb)!, at("F", s - 1, mb)!, "RECV_F", "SEND_F");
      if (s < S - 1) dependency(backward(s, mb)!, backward(s + 1, mb)!, "RECV_B", "SEND_B");
    }
  }
  for (const loc of where.values()) {
    const a = loc.action;
    if (a.type === "SEND_F" && !at("RECV_F", a.stage + 1, a.mb)) fail(`${formatAction(a)} is never received (no ${a.stage + 1}RECV_F${a.mb})`, [loc]);
    if (a.type === "SEND_B" && !at("RECV_B", a.stage - 1, a.mb)) fail(`${formatAction(a)} is never received (no ${a.stage - 1}RECV_B${a.mb})`, [loc]);
  }

  // 6: in-order matching per channel.
  const channels = new Map<string, { sends: Located[]; recvs: Located[] }>();
  const channel = (from: number, to: number, dir: string) => {
    const key = `${from}>${to}:${dir}`;
    let c = channels.get(key);
    if (!c) channels.set(key, (c = { sends: [], recvs: [] }));
    return c;
  };
  schedule.forEach((list, rank) =>
    list.forEach((a, index) => {
      const loc = { rank, index, action: a };
      if (a.type === "SEND_F") channel(rank, rankOfStage(a.stage + 1, p), "F").sends.push(loc);
      if (a.type === "SEND_B") channel(rank, rankOfStage(a.stage - 1, p), "B").sends.push(loc);
      if (a.type === "RECV_F") channel(rankOfStage(a.stage - 1, p), rank, "F").recvs.push(loc);
      if (a.type === "RECV_B") channel(rankOfStage(a.stage + 1, p), rank, "B").recvs.push(loc);
    }),
  );
  for (const { sends, recvs } of channels.values()) {
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

  // 7: no deadlock (throws a ScheduleError marking where each stuck rank waits).
  simulateSchedule(schedule, () => 1);
}
