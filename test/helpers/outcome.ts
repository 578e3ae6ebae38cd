import { expect } from 'vitest';

import { Batch } from '../../src/runtime/batch.js';
import { Model } from '../../src/runtime/model.js';

/**
 * Opens a (possibly corrupted) model file or directory: 'loaded' when it opens, and then it must
 * also decode without crashing (values may be garbage, a clean error is fine); otherwise the
 * error's code, which must be a JS Error with an ERR_ code.
 */
export async function loadOutcome(p: string): Promise<'loaded' | string> {
  try {
    const m = await Model.open(p);
    try {
      const ctx = await m.createContext({ nCtx: 16 });
      await ctx.decode(new Batch().addSequence([2, 7, 9], 0, 0, true));
    } catch (err) {
      expect(typeof (err as { code?: string }).code).toBe('string');
    } finally {
      await m.close();
    }
    return 'loaded';
  } catch (err) {
    const e = err as Error & { code?: string };
    expect(e).toBeInstanceOf(Error);
    expect(e.code, e.message).toMatch(/^ERR_/);
    return e.code!;
  }
}
