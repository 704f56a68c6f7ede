import { inspect } from 'node:util';
import { rememberSecret } from './redact.ts';

/**
 * A value that must never be printed: logging, JSON-encoding or inspecting it shows
 * `[redacted]`. Only `reveal()` gives the value, and only the UserSig code calls it.
 */
export class Secret {
  readonly #value: string;
  constructor(value: string) {
    this.#value = value;
    // Also scrubbed by value from every log line, should some text ever quote it.
    rememberSecret(value);
  }
  reveal(): string {
    return this.#value;
  }
  toString(): string {
    return '[redacted]';
  }
  toJSON(): string {
    return '[redacted]';
  }
  [inspect.custom](): string {
    return '[redacted]';
  }
}
