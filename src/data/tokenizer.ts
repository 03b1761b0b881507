/** Byte-level tokenizer: a token is one UTF-8 byte, so the vocabulary is 256 and nothing is unknown. */

export const BYTE_VOCAB_SIZE = 256;

export function encode(text: string): Int32Array {
  return Int32Array.from(new TextEncoder().encode(text));
}

/** Invalid UTF-8 (a sequence cut inside a character) decodes to U+FFFD rather than throwing. */
export function decode(tokens: ArrayLike<number>): string {
  return new TextDecoder().decode(Uint8Array.from(tokens as ArrayLike<number>));
}
