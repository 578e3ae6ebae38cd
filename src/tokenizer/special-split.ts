// llama.cpp's tokenizer_st_partition, for the SentencePiece and WordPiece paths alike: control,
// user-defined and unknown tokens written in the text are cut out before any other processing, each such token in turn
// (the longest UTF-8 text first, ties by id), cutting every remaining stretch of raw text at all
// of its occurrences. The per-token LSTRIP/RSTRIP attributes llama.cpp sets for a few model names
// (phi-3, modern-bert, jina-v2 BPE vocabularies) apply to neither kind of vocabulary here.
import { TokenType } from './gguf-vocab.js';
import { type PackedVocab, tokenText } from './packed-vocab.js';

interface Node {
  next: Map<number, Node>;
  id: number; // splitting token ending here, -1 if none
}

const utf8 = new TextEncoder();

/** Raw text (a string) and tokens already split out (a number), in order. */
export type Fragment = string | number;

export class SpecialSplitter {
  private readonly root: Node = { next: new Map(), id: -1 };
  private readonly order = new Map<number, number>(); // id → place in the partition order
  private readonly text = new Map<number, string>();

  constructor(vocab: PackedVocab) {
    const ids: number[] = [];
    for (let id = 0; id < vocab.types.length; id++) {
      const t = vocab.types[id];
      if (t !== TokenType.CONTROL && t !== TokenType.USER_DEFINED && t !== TokenType.UNKNOWN) continue;
      const s = tokenText(vocab, id);
      if (s.length === 0) continue;
      this.text.set(id, s);
      ids.push(id);
    }
    const size = new Map(ids.map((id) => [id, utf8.encode(this.text.get(id)!).length]));
    ids.sort((a, b) => size.get(b)! - size.get(a)! || a - b);
    ids.forEach((id, k) => this.order.set(id, k));
    for (const id of ids) {
      let node = this.root;
      const s = this.text.get(id)!;
      for (let i = 0; i < s.length; i++) {
        const c = s.charCodeAt(i);
        let child = node.next.get(c);
        if (!child) node.next.set(c, (child = { next: new Map(), id: -1 }));
        node = child;
      }
      node.id = id;
    }
  }

  /** The splitting tokens that occur in the text, in partition order. */
  private present(text: string): number[] {
    const seen = new Set<number>();
    for (let i = 0; i < text.length; i++) {
      let node = this.root.next.get(text.charCodeAt(i));
      for (let j = i + 1; node !== undefined; j++) {
        if (node.id >= 0) seen.add(node.id);
        if (j === text.length) break;
        node = node.next.get(text.charCodeAt(j));
      }
    }
    return [...seen].sort((a, b) => this.order.get(a)! - this.order.get(b)!);
  }

  split(text: string): Fragment[] {
    let parts: Fragment[] = [text];
    for (const id of this.present(text)) {
      const needle = this.text.get(id)!;
      parts = parts.flatMap((part) => {
        if (typeof part === 'number' || !part.includes(needle)) return [part];
        const cut: Fragment[] = [];
        const pieces = part.split(needle);
        pieces.forEach((p, k) => {
          if (k > 0) cut.push(id);
          if (p.length > 0) cut.push(p);
        });
        return cut;
      });
    }
    return parts;
  }
}
