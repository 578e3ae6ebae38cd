/**
 * Tokens of one or more sequences for one decode call: prefill chunks and single-token steps
 * can be mixed. Backed by typed arrays that grow as needed, so a scheduler can refill one Batch
 * every step without allocating.
 */
export class Batch {
  private tokens_ = new Int32Array(16);
  private pos_ = new Int32Array(16);
  private seq_ = new Int32Array(16);
  private output_ = new Uint8Array(16);
  private n = 0;
  private nOut = 0;

  get length(): number {
    return this.n;
  }

  /** How many positions will return logits. */
  get outputs(): number {
    return this.nOut;
  }

  /** Adds token `token` of sequence `seq` at position `pos`; `logits` asks for its next-token logits. */
  add(token: number, pos: number, seq: number, logits = false): this {
    if (this.n === this.tokens_.length) this.grow();
    this.tokens_[this.n] = token;
    this.pos_[this.n] = pos;
    this.seq_[this.n] = seq;
    this.output_[this.n] = logits ? 1 : 0;
    this.n++;
    if (logits) this.nOut++;
    return this;
  }

  /** Adds consecutive tokens of one sequence starting at `pos`; logits for the last one if asked. */
  addSequence(tokens: ArrayLike<number>, pos: number, seq: number, logitsForLast = true): this {
    for (let i = 0; i < tokens.length; i++) this.add(tokens[i]!, pos + i, seq, logitsForLast && i === tokens.length - 1);
    return this;
  }

  clear(): this {
    this.n = 0;
    this.nOut = 0;
    return this;
  }

  /** Views of the filled part, as the native decode takes them. */
  arrays(): { tokens: Int32Array; pos: Int32Array; seq: Int32Array; output: Uint8Array } {
    return {
      tokens: this.tokens_.subarray(0, this.n),
      pos: this.pos_.subarray(0, this.n),
      seq: this.seq_.subarray(0, this.n),
      output: this.output_.subarray(0, this.n),
    };
  }

  private grow(): void {
    const cap = this.tokens_.length * 2;
    const grow = <T extends Int32Array | Uint8Array>(a: T, make: (n: number) => T): T => {
      const b = make(cap);
      b.set(a);
      return b;
    };
    this.tokens_ = grow(this.tokens_, (c) => new Int32Array(c));
    this.pos_ = grow(this.pos_, (c) => new Int32Array(c));
    this.seq_ = grow(this.seq_, (c) => new Int32Array(c));
    this.output_ = grow(this.output_, (c) => new Uint8Array(c));
  }
}
