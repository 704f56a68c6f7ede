import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, normalize } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CONFIG_DEFAULTS, CONFIG_VARIABLES } from '../src/config/env.ts';

const read = (path: string) => readFileSync(new URL(`../${path}`, import.meta.url), 'utf8');
const exists = (path: string) => existsSync(new URL(`../${path}`, import.meta.url));

/** The README, docs/ by reader, and the changelog: every file a link may start from. */
const docs = readdirSync(new URL('../docs/', import.meta.url))
  .filter((name) => name.endsWith('.md'))
  .map((name) => `docs/${name}`);
const markdownFiles = ['README.md', 'CHANGELOG.md', ...docs];

/** Markdown without its fenced code blocks and inline code, where a `[x](y)` is not a link. */
const prose = (markdown: string) => markdown.replace(/^```[^\n]*\n[\s\S]*?^```$/gm, '').replace(/`[^`\n]*`/g, '');

/** The anchors GitHub gives a file's headings: lower case, punctuation dropped, spaces to hyphens, duplicates numbered. */
function anchors(markdown: string): Set<string> {
  const seen = new Map<string, number>();
  const result = new Set<string>();
  const withoutCode = markdown.replace(/^```[^\n]*\n[\s\S]*?^```$/gm, '');
  for (const [, heading] of withoutCode.matchAll(/^#{1,6} +(.+?) *#*$/gm)) {
    const text = heading!.replace(/\[([^\]]*)\]\([^)]*\)/g, '$1').replace(/[`*]/g, '');
    const base = text
      .toLowerCase()
      .replace(/[^\p{L}\p{M}\p{N}\p{Pc} -]/gu, '')
      .replace(/ /g, '-');
    const count = seen.get(base) ?? 0;
    seen.set(base, count + 1);
    result.add(count === 0 ? base : `${base}-${count}`);
  }
  return result;
}

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

  it("the configuration reference (docs/operating.md's table) documents every configuration variable", () => {
    const operating = read('docs/operating.md');
    const start = operating.indexOf('\n## Configuration\n');
    const end = operating.indexOf('\n## ', start + 1);
    const rows = operating
      .slice(start, end)
      .split('\n')
      .filter((line) => line.startsWith('| `'))
      .join('\n');
    expect(start, 'docs/operating.md has a "## Configuration" section').toBeGreaterThanOrEqual(0);
    for (const name of variables) expect(rows, name).toContain(`\`${name}\``);
  });

  it('the README or docs/ document every npm script', () => {
    const documentation = ['README.md', ...docs].map(read).join('\n');
    const scripts = Object.keys((JSON.parse(read('package.json')) as { scripts: Record<string, string> }).scripts);
    for (const script of scripts)
      expect(documentation, script).toMatch(new RegExp(`npm (run )?${script.replace(':', '\\:')}\\b`));
  });

  it('the README test command is what CI runs', () => {
    expect(read('README.md')).toMatch(/^npm test\b/m);
    expect(read('.ci/run')).toMatch(/\bnpm test\b/);
  });

  it('the README fits on a screen or two: at most 220 lines', () => {
    expect(read('README.md').split('\n').length).toBeLessThanOrEqual(220);
  });

  it('every relative link in the README, the changelog and docs/ points at a file that exists, and at a heading in it', () => {
    const broken: string[] = [];
    for (const file of markdownFiles) {
      for (const [, target] of prose(read(file)).matchAll(/\]\(([^)\s]+)(?: "[^"]*")?\)/g)) {
        if (/^[a-z]+:/i.test(target!)) continue; // https:, mailto:: not ours to check
        const [path, anchor] = target!.split('#') as [string, string | undefined];
        const linked = path === '' ? file : normalize(join(dirname(file), path));
        if (!exists(linked)) broken.push(`${file}: ${target} (no file ${linked})`);
        else if (anchor !== undefined && linked.endsWith('.md') && !anchors(read(linked)).has(anchor))
          broken.push(`${file}: ${target} (no heading #${anchor} in ${linked})`);
      }
    }
    expect(broken).toEqual([]);
  });

  it('the anchors follow GitHub: code and punctuation dropped, duplicates numbered', () => {
    expect([...anchors('# A `b_c`: d, e!\n## 10,000 apps\n```\n# not a heading\n```\n## Twice\n## Twice\n')]).toEqual([
      'a-b_c-d-e',
      '10000-apps',
      'twice',
      'twice-1',
    ]);
  });
});
