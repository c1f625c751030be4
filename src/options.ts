/**
 * Validation of options passed to the library's entry points (undici's constructor guards):
 * a value that makes no sense is a `GantryError` with code `INVALID_OPTION` whose message names
 * the entry point, the option and the value, and says what is accepted. Checked at the
 * boundary, before any work starts, so a bad option never half-runs an operation.
 */
import { ErrorCode, GantryError } from './errors.js';

/** A library option with a value that makes no sense. */
export class InvalidOptionError extends GantryError {
  /** The option's name, dotted for nested ones (`retry.maxAttempts`). */
  readonly option: string;
  constructor(where: string, option: string, value: unknown, expected: string) {
    super(ErrorCode.INVALID_OPTION, `${where}: invalid option ${option}: ${show(value)} (expected ${expected})`);
    this.name = 'InvalidOptionError';
    this.option = option;
  }
}

function show(value: unknown): string {
  if (typeof value === 'number' || typeof value === 'boolean' || value === null || value === undefined) return String(value);
  if (typeof value === 'string') return JSON.stringify(value.length > 80 ? `${value.slice(0, 80)}…` : value);
  if (typeof value === 'function') return 'a function';
  if (Array.isArray(value)) return 'an array';
  return typeof value;
}

/** Checks a group of options of one entry point; each method throws InvalidOptionError. */
export class OptionCheck {
  constructor(
    private readonly where: string,
    private readonly options: object | undefined,
  ) {
    if (options !== undefined && (options === null || typeof options !== 'object' || Array.isArray(options))) {
      throw new InvalidOptionError(where, 'options', options, 'an object');
    }
  }

  private value(name: string): unknown {
    return (this.options as Record<string, unknown> | undefined)?.[name];
  }

  private fail(name: string, expected: string): never {
    throw new InvalidOptionError(this.where, name, this.value(name), expected);
  }

  /** An integer in [min, max], when present. */
  integer(name: string, min: number, max = Number.MAX_SAFE_INTEGER): this {
    const v = this.value(name);
    if (v !== undefined && (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max)) {
      this.fail(name, max === Number.MAX_SAFE_INTEGER ? `an integer ≥ ${min}` : `an integer from ${min} to ${max}`);
    }
    return this;
  }

  /** A finite number in [min, max], when present. */
  number(name: string, min: number, max = Number.MAX_VALUE): this {
    const v = this.value(name);
    if (v !== undefined && (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max)) {
      this.fail(name, max === Number.MAX_VALUE ? `a finite number ≥ ${min}` : `a number from ${min} to ${max}`);
    }
    return this;
  }

  boolean(name: string): this {
    const v = this.value(name);
    if (v !== undefined && typeof v !== 'boolean') this.fail(name, 'true or false');
    return this;
  }

  /** A non-empty string, when present. */
  string(name: string): this {
    const v = this.value(name);
    if (v !== undefined && (typeof v !== 'string' || v === '')) this.fail(name, 'a non-empty string');
    return this;
  }

  func(name: string): this {
    const v = this.value(name);
    if (v !== undefined && typeof v !== 'function') this.fail(name, 'a function');
    return this;
  }

  /** One of `allowed`, when present. */
  oneOf(name: string, allowed: readonly unknown[]): this {
    const v = this.value(name);
    if (v !== undefined && !allowed.includes(v)) this.fail(name, `one of ${allowed.map((a) => JSON.stringify(a)).join(', ')}`);
    return this;
  }

  /** A plain object (or absent). */
  object(name: string): this {
    const v = this.value(name);
    if (v !== undefined && (v === null || typeof v !== 'object' || Array.isArray(v))) this.fail(name, 'an object');
    return this;
  }

  /** An AbortSignal, when present. */
  signal(name: string): this {
    const v = this.value(name);
    if (v !== undefined && !(v instanceof AbortSignal)) this.fail(name, 'an AbortSignal');
    return this;
  }

  /** A custom rule: `ok` false fails with `expected`. */
  check(name: string, ok: (v: unknown) => boolean, expected: string): this {
    const v = this.value(name);
    if (v !== undefined && !ok(v)) this.fail(name, expected);
    return this;
  }
}

/** `new OptionCheck(where, options)`: the checks of one entry point, chained. */
export function checkOptions(where: string, options: object | undefined): OptionCheck {
  return new OptionCheck(where, options);
}
