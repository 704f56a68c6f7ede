/**
 * Variables that look like a misspelt one of ours (`BUCKET_SIZ`, `BUKET_SIZE`): set by the
 * operator, silently ignored, and the default used instead. Warned about, never refused: the
 * environment is shared with everything else on the host. To keep false alarms low (PATH,
 * HTTP_PROXY, HOSTNAME must never warn), a name must be within two edits of one of ours and
 * share its first word (`BUCKET_`), or be within a single edit.
 */
import { CONFIG_VARIABLES } from './env.ts';

/** Edits (insert, delete, substitute, swap two neighbours) from `a` to `b`; stops counting past `max`. */
function editDistance(a: string, b: string, max: number): number {
  if (Math.abs(a.length - b.length) > max) return max + 1;
  let before: number[] = [];
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) best = Math.min(best, before[j - 2]! + 1);
      current.push(best);
    }
    [before, previous] = [previous, current];
  }
  return previous[b.length]!;
}

const firstWord = (name: string) => name.split('_')[0];

/** One line per variable of `env` that is probably a typo of ours, naming the right one. */
export function misspeltVariables(env: Record<string, string | undefined>): string[] {
  const ours = new Set<string>(CONFIG_VARIABLES);
  const lines: string[] = [];
  for (const name of Object.keys(env).sort()) {
    if (ours.has(name) || !/^[A-Z][A-Z0-9_]{3,}$/.test(name)) continue;
    const match = CONFIG_VARIABLES.find((variable) => {
      const distance = editDistance(name, variable, 2);
      return distance <= 1 || (distance === 2 && firstWord(name) === firstWord(variable));
    });
    if (match) lines.push(`${name} is not a pushloss variable and is ignored; did you mean ${match}?`);
  }
  return lines;
}
