/** A usage error: printed without a stack, exit code 1. */
export class UsageError extends Error {}

export function intOption(value: string | undefined, name: string, dflt: number | undefined, min = 1): number | undefined {
  if (value === undefined) return dflt;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min) throw new UsageError(`--${name} must be an integer >= ${min}, not '${value}'`);
  return n;
}

export function requireOption(value: string | undefined, name: string): string {
  if (!value) throw new UsageError(`--${name} is required`);
  return value;
}

export function kvTypeOption(value: string | undefined): 'f16' | 'f32' | undefined {
  if (value === undefined || value === 'f16' || value === 'f32') return value;
  throw new UsageError(`--kv-type must be f16 or f32, not '${value}'`);
}

export function boolOption(value: string | undefined, name: string): boolean | undefined {
  if (value === undefined) return undefined;
  if (value === 'on' || value === 'true' || value === '1') return true;
  if (value === 'off' || value === 'false' || value === '0') return false;
  throw new UsageError(`--${name} must be on or off, not '${value}'`);
}
