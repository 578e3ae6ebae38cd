// Which replica takes a request. Among the ready replicas at most `slack` requests busier than
// the least busy one: the replica that last served the request's longest known prefix (its KV
// cache holds it); else, for a conversation this gateway has not seen, the one its anchor key
// hashes to (rendezvous hashing, so every gateway instance places a conversation alike without
// sharing state); else the least busy, ties in turn. Recomputing a long prefix costs more than
// waiting behind a short queue; beyond the slack, load wins.
import crypto from 'node:crypto';

import { AffinityTable, type PrefixKeys } from './affinity.js';
import type { Replica } from './pool.js';

export interface Choice {
  replica: Replica;
  /** why: the prefix's replica, the anchor's hash, or the least busy */
  reason: 'affinity' | 'hash' | 'least_outstanding';
}

const score = (anchor: string, r: Replica) => crypto.createHash('sha256').update(anchor).update(r.url).digest().readUInt32BE(0);

export class Router {
  private readonly table = new AffinityTable<Replica>();
  private turn = 0;

  constructor(private readonly slack = 2) {}

  /**
   * candidates: the ready replicas of the right kind, less those already tried; `model` narrows
   * them to replicas that serve it when any does (else the replica answers the 404 itself).
   */
  pick(candidates: readonly Replica[], model: string | undefined, prefix: PrefixKeys = { keys: [], anchor: null }): Choice | null {
    const serving = model ? candidates.filter((r) => r.models.has(model)) : [];
    const pool = serving.length ? serving : candidates;
    if (!pool.length) return null;
    const least = Math.min(...pool.map((r) => r.outstanding));
    const near = pool.filter((r) => r.outstanding <= least + this.slack);
    const held = this.table.lookup(prefix.keys, (r) => near.includes(r));
    let choice: Choice;
    if (held) {
      choice = { replica: held, reason: 'affinity' };
    } else if (prefix.anchor) {
      const anchor = prefix.anchor;
      choice = { replica: near.reduce((best, r) => (score(anchor, r) > score(anchor, best) ? r : best)), reason: 'hash' };
    } else {
      // ties go round in turn, so an idle pool still spreads its load
      const idle = pool.filter((r) => r.outstanding === least);
      choice = { replica: idle[this.turn++ % idle.length]!, reason: 'least_outstanding' };
    }
    if (prefix.keys.length) this.table.record(prefix.keys, choice.replica);
    return choice;
  }
}
