/**
 * The safetensors file format (Hugging Face, https://github.com/huggingface/safetensors, format
 * described in its README): an 8-byte little-endian header length N, N bytes of JSON
 * `{ name: { dtype, shape, data_offsets: [begin, end] }, "__metadata__": {...} }`, then the raw
 * little-endian tensor bytes, offsets relative to the end of the header. parasim writes F32 only.
 */
import { readInputFile } from "../util/inputs.js";
import { InputError } from "../errors.js";
import { writeFileAtomic } from "../util/atomic.js";

export interface NamedTensor {
  name: string;
  shape: number[];
  data: Float32Array;
}

interface HeaderEntry {
  dtype: string;
  shape: number[];
  data_offsets: [number, number];
}

/**
 * A safetensors file as the pieces written one after another: the header length and header, then
 * each tensor's own bytes (Float32Array is little-endian on every platform Node supports). No
 * piece is a copy of the tensors, so writing a file takes no second copy of the model and no
 * buffer past Node's largest (a training state of a billion parameters is 8 GB).
 */
export function safetensorsPieces(tensors: NamedTensor[], metadata: Record<string, string> = {}): Uint8Array[] {
  const header: Record<string, HeaderEntry | Record<string, string>> = { __metadata__: metadata };
  let offset = 0;
  for (const t of tensors) {
    const bytes = t.data.byteLength;
    header[t.name] = { dtype: "F32", shape: t.shape, data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  let json = JSON.stringify(header);
  // Pad with spaces so the data starts 8-byte aligned, as the reference writer does.
  json += " ".repeat((8 - ((8 + Buffer.byteLength(json)) % 8)) % 8);
  const headerBytes = Buffer.from(json, "utf8");
  const start = Buffer.alloc(8 + headerBytes.length);
  start.writeBigUInt64LE(BigInt(headerBytes.length), 0);
  headerBytes.copy(start, 8);
  return [start, ...tensors.map((t) => new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength))];
}

/** Writes a safetensors file atomically (synchronous; a checkpoint's large files go through writeFileAtomicAsync). */
export function writeSafetensors(path: string, tensors: NamedTensor[], metadata: Record<string, string> = {}): void {
  writeFileAtomic(path, safetensorsPieces(tensors, metadata));
}

export function readSafetensors(path: string): Map<string, NamedTensor> {
  const file = readInputFile("checkpoint", path);
  if (file.length < 8) throw new InputError("checkpoint", `${path} is too short to be a safetensors file`);
  const headerLength = Number(file.readBigUInt64LE(0));
  if (8 + headerLength > file.length) throw new InputError("checkpoint", `${path} has a header longer than the file`);
  let header: unknown;
  try {
    header = JSON.parse(file.subarray(8, 8 + headerLength).toString("utf8"));
  } catch {
    throw new InputError("checkpoint", `${path} has a header that is not JSON`);
  }
  if (!isObject(header)) throw new InputError("checkpoint", `${path} has a header that is not a JSON object`);
  const dataStart = 8 + headerLength;
  const entries = Object.entries(header)
    .filter(([name]) => name !== "__metadata__")
    .map(([name, raw]) => ({ name, entry: checkedEntry(name, raw, file.length - dataStart) }));
  checkTiling(path, entries, file.length - dataStart);
  const tensors = new Map<string, NamedTensor>();
  for (const { name, entry } of entries) {
    const [begin, end] = entry.data_offsets;
    // Copy into a fresh, aligned buffer: the file's bytes need not be 4-byte aligned.
    const data = new Float32Array((end - begin) / 4);
    new Uint8Array(data.buffer).set(file.subarray(dataStart + begin, dataStart + end));
    tensors.set(name, { name, shape: entry.shape, data });
  }
  return tensors;
}

/** A tensor's header entry, checked for an F32 dtype and a byte range that its shape fills and the data region holds. */
function checkedEntry(name: string, raw: unknown, dataBytes: number): HeaderEntry {
  const entry = headerEntry(name, raw);
  if (entry.dtype !== "F32") throw new InputError("checkpoint", `${name} has dtype ${entry.dtype}; parasim reads F32 only`);
  const [begin, end] = entry.data_offsets;
  const count = entry.shape.reduce((a, b) => a * b, 1);
  if (end - begin !== count * 4 || end > dataBytes) {
    throw new InputError("checkpoint", `${name} has data offsets that do not match its shape [${entry.shape}]`);
  }
  return entry;
}

/**
 * The tensors' byte ranges, in order of their offsets, must tile the data region: the first
 * starts at 0, each starts where the one before ends (no overlap, no gap), the last ends at the
 * end of the file. Overlapping ranges would let one tensor's bytes be read as another's.
 */
function checkTiling(path: string, entries: { name: string; entry: HeaderEntry }[], dataBytes: number): void {
  const sorted = [...entries].sort((a, b) => a.entry.data_offsets[0] - b.entry.data_offsets[0] || a.entry.data_offsets[1] - b.entry.data_offsets[1]);
  let end = 0;
  let previous = "the start of the data";
  for (const { name, entry } of sorted) {
    const [begin, next] = entry.data_offsets;
    if (begin < end) throw new InputError("checkpoint", `${name} has data_offsets [${begin}, ${next}] that overlap those of ${previous}`);
    if (begin > end) throw new InputError("checkpoint", `${name} has data_offsets [${begin}, ${next}] that leave a gap after ${previous} (which ends at ${end})`);
    end = next;
    previous = name;
  }
  if (end !== dataBytes) throw new InputError("checkpoint", `${path}: the tensors' data_offsets end at byte ${end} but the data region holds ${dataBytes} bytes`);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** The header entry of tensor `name`, checked for structure (InputError naming the tensor otherwise). */
function headerEntry(name: string, raw: unknown): HeaderEntry {
  const bad = (rule: string) => new InputError("checkpoint", `${name} ${rule}`);
  if (!isObject(raw)) throw bad("has a header entry that is not an object");
  const { dtype, shape, data_offsets: offsets } = raw;
  if (typeof dtype !== "string") throw bad(`has dtype ${JSON.stringify(dtype)}; it must be a string`);
  const isCount = (d: unknown): d is number => Number.isSafeInteger(d) && (d as number) >= 0;
  if (!Array.isArray(shape) || !shape.every(isCount)) throw bad(`has shape ${JSON.stringify(shape)}; it must be a list of non-negative integers`);
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isCount) || offsets[0] > offsets[1]) {
    throw bad(`has data_offsets ${JSON.stringify(offsets)}; they must be two integers [begin, end] with 0 ≤ begin ≤ end`);
  }
  return { dtype, shape, data_offsets: [offsets[0], offsets[1]] };
}
