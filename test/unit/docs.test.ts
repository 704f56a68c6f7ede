import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

const read = (path: string) => readFileSync(new URL(`../../${path}`, import.meta.url), 'utf8');

/** Every variable loadConfig reads: `env.NAME` and the keys of its DEFAULTS table. */
function configVariables(): string[] {
  const source = read('src/config.ts');
  const direct = [...source.matchAll(/env\.([A-Z][A-Z0-9_]+)/g)].map((m) => m[1]!);
  const defaults = /const DEFAULTS = \{([\s\S]*?)\} as const;/.exec(source)![1]!;
  const keyed = [...defaults.matchAll(/^\s*([A-Z][A-Z0-9_]+):/gm)].map((m) => m[1]!);
  return [...new Set([...direct, ...keyed])].sort();
}

describe('documentation', () => {
  const variables = configVariables();

  it('finds the variables (the check itself works)', () => {
    expect(variables).toEqual(
      expect.arrayContaining([
        'TIM_SDKAPPID',
        'TIM_SECRET_KEY_FILE',
        'DATABASE_URL',
        'COLLECT_CRON',
        'MIN_CALL_INTERVAL',
      ]),
    );
    expect(variables.length).toBeGreaterThanOrEqual(20);
  });

  it('.env.example lists every configuration variable', () => {
    const example = read('.env.example');
    for (const name of variables) expect(example, name).toMatch(new RegExp(`^${name}=`, 'm'));
  });

  it('the README documents every configuration variable and every npm script', () => {
    const readme = read('README.md');
    for (const name of variables) expect(readme, name).toContain(`\`${name}`);
    const scripts = Object.keys(JSON.parse(read('package.json')).scripts as Record<string, string>);
    for (const script of scripts)
      expect(readme, script).toMatch(new RegExp(`npm (run )?${script.replace(':', '\\:')}\\b`));
  });

  it('the README test command is what CI runs', () => {
    expect(read('README.md')).toMatch(/^npm test\b/m);
    expect(read('.ci/run')).toMatch(/\bnpm test\b/);
  });
});
