/** Byte-level tokenizer: a token is one byte, so the vocabulary is 256 and nothing is unknown. */

export const BYTE_VOCAB_SIZE = 256;

/**
 * The token ids of a text (its UTF-8 bytes) or of raw bytes as read from a file. A file is never
 * decoded first: bytes that are not valid UTF-8 stay the bytes they are.
 */
export function encode(input: string | Uint8Array): Int32Array {
  return Int32Array.from(typeof input === "string" ? new TextEncoder().encode(input) : input);
}

/** Invalid UTF-8 (a sequence cut inside a character) decodes to U+FFFD rather than throwing. */
export function decode(tokens: ArrayLike<number>): string {
  return new TextDecoder().decode(Uint8Array.from(tokens as ArrayLike<number>));
}
