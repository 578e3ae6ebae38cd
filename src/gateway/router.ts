// Which replica takes a request: the least busy ready one (fewest outstanding requests), unless
// the replica holding the request's prefix is at most `slack` requests busier, which then takes
// it: recomputing a long prefix costs more than waiting behind a short queue.
import { AffinityTable } from './affinity.js';
import type { Replica } from './pool.js';

export interface Choice {
  replica: Replica;
  /** chosen for its cached prefix rather than for being least busy */
  affinity: boolean;
}

export class Router {
  private readonly table = new AffinityTable<Replica>();
  private turn = 0;

  constructor(private readonly slack = 2) {}

  /**
   * candidates: the ready replicas of the right kind, less those already tried; `model` narrows
   * them to replicas that serve it when any does (else the replica answers the 404 itself).
   */
  pick(candidates: readonly Replica[], model: string | undefined, keys: readonly string[]): Choice | null {
    const serving = model ? candidates.filter((r) => r.models.has(model)) : [];
    const pool = serving.length ? serving : candidates;
    if (!pool.length) return null;
    const least = Math.min(...pool.map((r) => r.outstanding));
    const held = this.table.lookup(keys, (r) => pool.includes(r));
    let choice: Choice;
    if (held && held.replica.outstanding <= least + this.slack) {
      choice = { replica: held.replica, affinity: true };
    } else {
      // ties go round in turn, so an idle pool still spreads its load
      const idle = pool.filter((r) => r.outstanding === least);
      choice = { replica: idle[this.turn++ % idle.length]!, affinity: false };
    }
    if (keys.length) this.table.record(keys, choice.replica);
    return choice;
  }
}
