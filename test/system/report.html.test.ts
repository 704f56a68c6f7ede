/**
 * `pushloss report --format html --out FILE` as a user runs it, opened in a real browser: a week
 * of loss and statistics collected from the simulator by the real CLI, the page loaded from disk
 * in headless Chromium (Debian's, driven by playwright-core), every chart drawn, no console
 * error, no network request, on screen and in print. Screenshots go to test/output/ (ignored by
 * git) for a person to look at.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSimulator, type Simulator } from '../../src/simulator/index.ts';
import { simulatorApps, simulatorEnv } from '../helpers/config.ts';
import { runCli } from '../helpers/process.ts';

const CHROMIUM = '/usr/bin/chromium';
const haveChromium = existsSync(CHROMIUM);
const OUTPUT = new URL('../output/', import.meta.url);
const APP = 1400000401;

let sim: Simulator;
let dir: string;
let env: Record<string, string>;

beforeAll(async () => {
  sim = await startSimulator({ apps: simulatorApps([APP]), minIntervalMs: 25 });
  dir = mkdtempSync(join(tmpdir(), 'pushloss-html-'));
  env = simulatorEnv(sim.url, [APP], { PUSHLOSS_DATA_DIR: dir, STATS_HORIZON: '7d' });
});
afterAll(() => sim?.close());

describe('the HTML report', () => {
  it('is one self-contained file written by report --format html --out', async () => {
    const collected = await runCli(['collect'], env);
    expect(collected.stderr).toBe('');
    expect(collected.code).toBe(0);
    const file = join(dir, 'report.html');
    const result = await runCli(['report', '--format', 'html', '--out', file], env);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toBe(`wrote ${file}\n`);
    const html = readFileSync(file, 'utf8');
    expect(html).toMatch(/^<!doctype html>/);
    // Nothing to load: no external script, style, image or font.
    expect(html).not.toMatch(/<(script|link|img)\b[^>]*\b(src|href)=/i);
    expect(html).toContain(`App ${APP}`);
  });

  const browserTests = haveChromium
    ? `in headless Chromium (${CHROMIUM})`
    : `in headless Chromium: skipped, ${CHROMIUM} is missing (apt-get install -y chromium)`;
  describe.skipIf(!haveChromium)(browserTests, () => {
    let browser: Browser;
    beforeAll(async () => {
      browser = await chromium.launch({
        executablePath: CHROMIUM,
        args: [
          '--headless',
          '--no-sandbox',
          '--disable-gpu',
          '--disable-quic',
          '--no-first-run',
          '--disable-background-networking',
          '--disable-component-update',
          '--disable-sync',
        ],
      });
    });
    afterAll(() => browser?.close());

    /** Opens the report; returns the page, its console errors, and every request beyond the file. */
    async function open(media: 'screen' | 'print'): Promise<{ page: Page; errors: string[]; requests: string[] }> {
      const file = join(dir, 'report.html');
      const page = await browser.newPage({ viewport: { width: 1100, height: 900 } });
      const errors: string[] = [];
      const requests: string[] = [];
      page.on('console', (message) => {
        if (message.type() === 'error' || message.type() === 'warning') errors.push(message.text());
      });
      page.on('pageerror', (error) => errors.push(error.message));
      page.on('request', (request) => {
        if (request.url() !== pathToFileURL(file).href) requests.push(request.url());
      });
      await page.emulateMedia({ media });
      await page.goto(pathToFileURL(file).href);
      await page.waitForSelector('html[data-charts="drawn"]', { timeout: 10_000 });
      return { page, errors, requests };
    }

    /** The little of a browser canvas this test reads (the project's types have no DOM). */
    interface Canvas {
      id: string;
      width: number;
      height: number;
      getContext(kind: '2d'): { getImageData(x: number, y: number, w: number, h: number): { data: Uint8ClampedArray } };
    }

    /** Per canvas: its id, how many datasets with data Chart.js holds for it, its share of painted pixels. */
    function drawn(page: Page): Promise<Array<{ id: string; datasets: number; painted: number }>> {
      return page.$$eval('canvas', (elements: unknown[]) =>
        (elements as Canvas[]).map((canvas) => {
          const { data } = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height);
          let painted = 0;
          for (let i = 3; i < data.length; i += 4) if (data[i]! > 0) painted++;
          const { Chart } = globalThis as unknown as { Chart: { getChart(canvas: unknown): unknown } };
          const chart = Chart.getChart(canvas) as { data: { datasets: Array<{ data: unknown[] }> } } | undefined;
          return {
            id: canvas.id,
            datasets:
              chart?.data.datasets.filter((d) => d.data.some((v) => typeof v === 'number' && v > 0)).length ?? 0,
            painted: painted / (data.length / 4),
          };
        }),
      );
    }

    it('draws every chart, with no console error and no request', async () => {
      const { page, errors, requests } = await open('screen');
      try {
        const charts = await drawn(page);
        const ids = charts.map((c) => c.id);
        // Stages over time, channels over time (both stages lose pushes in the simulator's data),
        // the top codes of each stage, and the rates from the statistics.
        expect(ids).toEqual(
          expect.arrayContaining([
            `loss-stages-${APP}`,
            `loss-channels-${APP}-ready_to_send`,
            `codes-${APP}-ready_to_send`,
            `rates-${APP}`,
          ]),
        );
        for (const c of charts) {
          expect(c.datasets, `${c.id} has data`).toBeGreaterThan(0);
          // Axes and labels alone paint well under 1% of a chart's area; bars and lines more.
          expect(c.painted, `${c.id} is drawn`).toBeGreaterThan(0.01);
        }
        expect(errors).toEqual([]);
        expect(requests).toEqual([]);
        mkdirSync(OUTPUT, { recursive: true });
        await page.screenshot({ path: new URL('report-html.png', OUTPUT).pathname, fullPage: true });
      } finally {
        await page.close();
      }
    });

    it('prints: every chart drawn at the paper width', async () => {
      const { page, errors } = await open('print');
      try {
        const charts = await drawn(page);
        expect(charts.length).toBeGreaterThanOrEqual(4);
        for (const c of charts) expect(c.painted, `${c.id} is drawn in print`).toBeGreaterThan(0.01);
        expect(errors).toEqual([]);
        const pdf = await page.pdf({ format: 'A4' });
        expect(pdf.subarray(0, 5).toString()).toBe('%PDF-');
        mkdirSync(OUTPUT, { recursive: true });
        await page.screenshot({ path: new URL('report-html-print.png', OUTPUT).pathname, fullPage: true });
      } finally {
        await page.close();
      }
    });
  });
});
