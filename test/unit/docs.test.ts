import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { CONFIG_DEFAULTS, CONFIG_VARIABLES } from '../../src/config/env.ts';

const read = (path: string) => readFileSync(new URL(`../../${path}`, import.meta.url), 'utf8');

describe('documentation', () => {
  const variables = CONFIG_VARIABLES;

  it('.env.example lists every configuration variable, with its default', () => {
    const example = new Map(
      [...read('.env.example').matchAll(/^([A-Z][A-Z0-9_]*)=(.*)$/gm)].map((m) => [m[1]!, m[2]!]),
    );
    for (const name of variables) {
      const documented = name in CONFIG_DEFAULTS ? CONFIG_DEFAULTS[name as keyof typeof CONFIG_DEFAULTS] : '';
      expect(example.get(name), name).toBe(documented);
    }
  });

  it('the README documents every configuration variable and every npm script', () => {
    const readme = read('README.md');
    for (const name of variables) expect(readme, name).toContain(`\`${name}`);
    const scripts = Object.keys((JSON.parse(read('package.json')) as { scripts: Record<string, string> }).scripts);
    for (const script of scripts)
      expect(readme, script).toMatch(new RegExp(`npm (run )?${script.replace(':', '\\:')}\\b`));
  });

  it('the README test command is what CI runs', () => {
    expect(read('README.md')).toMatch(/^npm test\b/m);
    expect(read('.ci/run')).toMatch(/\bnpm test\b/);
  });
});
