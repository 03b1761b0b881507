/**
 * A seeded synthetic "language" with real structure at three levels, so a tiny model has
 * something to learn quickly and then more to learn slowly:
 * - letters: words are built from a small alphabet of syllables (low unigram entropy);
 * - words: each word is spelled the same way every time (byte bigrams within a word are learnable);
 * - grammar: a first-order Markov chain over words with a few likely successors each, sentences
 *   that start with a capital letter and end with punctuation.
 * Everything is a pure function of the seed.
 */
import { Random } from "../util/random.js";

const CONSONANTS = "tnrslmkdp";
const VOWELS = "aeiou";
const WORDS = 48;
const SUCCESSORS = 4;

function makeWord(rng: Random): string {
  const syllables = 1 + rng.int(3);
  let word = "";
  for (let i = 0; i < syllables; i++) word += CONSONANTS[rng.int(CONSONANTS.length)] + VOWELS[rng.int(VOWELS.length)];
  return word;
}

/** Generates about `bytes` characters of text from the seed. */
export function syntheticText(seed: number, bytes: number): string {
  const rng = new Random(seed, "synthetic-text");
  const words: string[] = [];
  const seen = new Set<string>();
  while (words.length < WORDS) {
    const w = makeWord(rng);
    if (!seen.has(w)) {
      seen.add(w);
      words.push(w);
    }
  }
  // Each word's successors, with Zipf-like weights 1, 1/2, 1/3, ... so some transitions dominate.
  const successors = words.map(() => Array.from({ length: SUCCESSORS }, () => rng.int(WORDS)));
  const weightSum = Array.from({ length: SUCCESSORS }, (_, k) => 1 / (k + 1)).reduce((a, b) => a + b, 0);
  const pickSuccessor = (w: number): number => {
    let u = rng.next() * weightSum;
    for (let k = 0; k < SUCCESSORS; k++) {
      u -= 1 / (k + 1);
      if (u < 0) return successors[w][k];
    }
    return successors[w][SUCCESSORS - 1];
  };

  const parts: string[] = [];
  let length = 0;
  let word = rng.int(WORDS);
  while (length < bytes) {
    const sentenceWords = 4 + rng.int(8);
    let sentence = "";
    for (let i = 0; i < sentenceWords; i++) {
      const w = words[word];
      sentence += i === 0 ? w[0].toUpperCase() + w.slice(1) : " " + w;
      word = pickSuccessor(word);
    }
    sentence += rng.next() < 0.8 ? ". " : "? ";
    parts.push(sentence);
    length += sentence.length;
  }
  return parts.join("").slice(0, bytes);
}
