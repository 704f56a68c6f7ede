/**
 * The loss report as one self-contained HTML page, a picture of the data without a BI tool.
 *
 * Everything is inside the file: the style, Chart.js (its UMD build, read from node_modules) and
 * the data. A Content-Security-Policy forbids every fetch, so the page works offline and from an
 * e-mail attachment, and cannot leak what it shows. The charts' configurations are built here,
 * typed against Chart.js, as plain JSON without callbacks, so the page's own script is a loop
 * that hands each canvas its configuration. Each chart has a table beside it with the numbers, and
 * a print style, so the page reads as well on paper as on screen.
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ChartConfiguration } from 'chart.js';
import type { DailyLoss } from './dailyLoss.ts';
import type { LossReport } from './lossReport.ts';
import { percent, rateCells } from './rates.ts';

/** A report with its over-time section, as `lossReport(db, { daily: true, ... })` returns it. */
export type LossReportWithDaily = LossReport & { daily: DailyLoss[] };

/**
 * Okabe and Ito's palette, told apart by colour-blind readers too (its yellow swapped for grey),
 * then four more so that the ten channels of a stage never share a colour.
 */
const PALETTE = [
  '#0072B2',
  '#E69F00',
  '#009E73',
  '#D55E00',
  '#CC79A7',
  '#56B4E9',
  '#999999',
  '#000000',
  '#8C564B',
  '#B8A000',
  '#17BECF',
  '#7F3C8D',
];
const colour = (index: number) => PALETTE[index % PALETTE.length]!;

/** The page. Pure but for reading Chart.js once: the same report always gives the same bytes. */
export function formatHtml(report: LossReport): string {
  if (report.daily === undefined)
    throw new Error('the HTML report needs the daily section: lossReport(db, { daily: true })');
  const withDaily = report as LossReportWithDaily;
  const who = report.sdkappid === null ? 'all apps' : `app ${report.sdkappid}`;
  const title = `Push loss report: ${who}, ${report.from} to ${report.to}`;
  const apps = [...new Set([...report.stages.map((s) => s.sdkappid), ...report.rates.map((r) => r.sdkappid)])];
  const body =
    apps.length === 0
      ? '<p class="empty">(no loss recorded)</p>'
      : apps.map((app) => appSection(withDaily, app)).join('\n');
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:">
<title>${escapeHtml(title)}</title>
<style>${STYLE}</style>
</head>
<body>
<h1>${escapeHtml(title)}</h1>
<p class="meta">${report.days} day${report.days === 1 ? '' : 's'}, local days in ${escapeHtml(report.timeZone)}; from the BI views of the pushloss warehouse.</p>
${body}
<script>${inlineScript(chartJsSource())}</script>
<script>${inlineScript(DRAW)}</script>
</body>
</html>
`;
}

function appSection(report: LossReportWithDaily, app: number): string {
  const days = daysOf(report.from, report.to);
  const stages = report.stages.filter((s) => s.sdkappid === app);
  const daily = report.daily.filter((d) => d.sdkappid === app);
  const parts = [`<section class="app"><h2>App ${app}</h2>`];

  const perStage = (stage: string) => daily.filter((d) => d.stage === stage && d.platform === null);
  parts.push(
    chart(`loss-stages-${app}`, 'Loss per stage over time', 260, {
      type: 'line',
      data: {
        labels: days,
        datasets: stages.map((s, i) => ({
          label: s.stageName,
          data: series(days, perStage(s.stage)),
          borderColor: colour(i),
          backgroundColor: colour(i),
        })),
      },
      options: { ...COMMON, scales: { y: { beginAtZero: true, title: { display: true, text: 'pushes lost' } } } },
    }),
  );

  for (const stage of stages) {
    const rows = daily.filter((d) => d.stage === stage.stage && d.platform !== null);
    if (rows.length === 0) continue;
    const channels = [...new Map(rows.map((r) => [r.platform!, r.platformName!])).entries()].sort(
      (a, b) => a[0] - b[0],
    );
    parts.push(
      chart(`loss-channels-${app}-${stage.stage}`, `Loss per channel over time: ${stage.stageName}`, 260, {
        type: 'bar',
        data: {
          labels: days,
          datasets: channels.map(([platform, name], i) => ({
            label: name,
            data: series(
              days,
              rows.filter((r) => r.platform === platform),
            ),
            backgroundColor: colour(i),
          })),
        },
        options: {
          ...COMMON,
          scales: {
            x: { stacked: true },
            y: { stacked: true, beginAtZero: true, title: { display: true, text: 'pushes lost' } },
          },
        },
      }),
    );
  }

  parts.push(`<h3>Top error codes per stage</h3>`);
  let anyCodes = false;
  for (const stage of stages) {
    const codes = report.topCodes.filter((c) => c.sdkappid === app && c.stage === stage.stage && c.platform === null);
    if (codes.length === 0 || stage.errCount === 0) continue;
    anyCodes = true;
    const share = (count: number) => count / stage.errCount;
    parts.push(
      chart(`codes-${app}-${stage.stage}`, `${stage.stageName}: ${stage.errCount} lost`, 60 + 30 * codes.length, {
        type: 'bar',
        data: {
          labels: codes.map((c) => `${c.errCode} (${percent(share(c.errCount))})`),
          datasets: [{ label: 'pushes lost', data: codes.map((c) => c.errCount), backgroundColor: colour(0) }],
        },
        options: { ...COMMON, indexAxis: 'y', plugins: { legend: { display: false } } },
      }),
      table(
        ['#', 'code', 'lost', 'share', 'description'],
        codes.map((c) => [String(c.rank), c.errCode, String(c.errCount), percent(share(c.errCount)), c.errInfo]),
        [false, false, true, true, false],
      ),
    );
  }
  if (!anyCodes) parts.push('<p class="empty">(no loss recorded)</p>');

  parts.push(`<h3>Loss rate per channel and stage</h3>`);
  const rates = report.rates.filter((r) => r.sdkappid === app);
  if (rates.length === 0) parts.push('<p class="empty">(no statistics collected)</p>');
  else {
    const label = (r: (typeof rates)[number]) => `${r.platformName ?? 'all channels'} · ${r.stageName}`;
    parts.push(
      chart(`rates-${app}`, 'Loss rate (loss / pushes that could be sent, or were sent)', 60 + 26 * rates.length, {
        type: 'bar',
        data: {
          labels: rates.map(label),
          datasets: [
            {
              label: 'loss rate, %',
              data: rates.map((r) => (r.lossRate === null ? null : round(r.lossRate * 100))),
              backgroundColor: colour(3),
            },
          ],
        },
        options: {
          ...COMMON,
          indexAxis: 'y',
          plugins: { legend: { display: false } },
          scales: { x: { beginAtZero: true, title: { display: true, text: 'loss rate, %' } } },
        },
      }),
      table(
        ['channel', 'stage', 'lost', 'of', 'loss rate', 'delivered', 'clicked', 'note'],
        rates.map((r) => [r.platformName ?? 'all channels', r.stageName, ...rateCells(r)]),
        [false, false, true, true, true, true, true, false],
      ),
    );
  }
  parts.push('</section>');
  return parts.join('\n');
}

/** No animation: a chart is complete as soon as it is drawn, for a screenshot or the printer. */
const COMMON = {
  animation: false,
  responsive: true,
  maintainAspectRatio: false,
  plugins: { legend: { position: 'bottom' } },
} as const;

function chart(id: string, title: string, height: number, config: ChartConfiguration): string {
  return `<figure class="chart"><figcaption>${escapeHtml(title)}</figcaption><div class="canvas-box" style="height:${height}px"><canvas id="${escapeHtml(id)}" role="img" aria-label="${escapeHtml(title)}" data-chart="${escapeHtml(JSON.stringify(config))}"></canvas></div></figure>`;
}

function table(headers: string[], rows: string[][], numeric: boolean[]): string {
  const cell = (tag: string, text: string, i: number) =>
    `<${tag}${numeric[i] ? ' class="num"' : ''}>${escapeHtml(text)}</${tag}>`;
  return `<table><thead><tr>${headers.map((h, i) => cell('th', h, i)).join('')}</tr></thead><tbody>${rows
    .map((r) => `<tr>${r.map((c, i) => cell('td', c, i)).join('')}</tr>`)
    .join('')}</tbody></table>`;
}

/** Every day from `from` to `to` (inclusive, `YYYY-MM-DD`), so a day without loss shows as 0. */
function daysOf(from: string, to: string): string[] {
  const days: string[] = [];
  for (let t = Date.parse(`${from}T00:00:00Z`); t <= Date.parse(`${to}T00:00:00Z`); t += 86_400_000)
    days.push(new Date(t).toISOString().slice(0, 10));
  return days;
}

function series(days: readonly string[], rows: readonly DailyLoss[]): number[] {
  const byDay = new Map(rows.map((r) => [r.day, r.errCount]));
  return days.map((day) => byDay.get(day) ?? 0);
}

const round = (value: number) => Math.round(value * 1000) / 1000;

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** A script's text, safe inside `<script>`: `<\/` means `</` in JavaScript strings and regexes. */
function inlineScript(source: string): string {
  return source.replace(/<\/(script)/gi, '<\\/$1');
}

let chartJs: string | undefined;

/** Chart.js's UMD build, which defines the global `Chart` (the package does not export its path). */
function chartJsSource(): string {
  chartJs ??= readFileSync(join(dirname(fileURLToPath(import.meta.resolve('chart.js'))), 'chart.umd.min.js'), 'utf8');
  return chartJs;
}

/**
 * The page's script: draws each canvas from its configuration, redraws at the paper's width when
 * printing, and marks the page once every chart is drawn (what the browser test waits for).
 */
const DRAW = `
for (const canvas of document.querySelectorAll('canvas[data-chart]')) new Chart(canvas, JSON.parse(canvas.dataset.chart));
const resizeAll = () => { for (const chart of Object.values(Chart.instances)) chart.resize(); };
addEventListener('beforeprint', resizeAll);
addEventListener('afterprint', resizeAll);
document.documentElement.dataset.charts = 'drawn';
`;

const STYLE = `
:root { color-scheme: light; font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1a1a1a; }
body { max-width: 1000px; margin: 24px auto; padding: 0 16px; line-height: 1.4; }
h1 { font-size: 1.5rem; margin-bottom: 0.2rem; }
h2 { font-size: 1.25rem; border-bottom: 1px solid #ccc; padding-bottom: 0.2rem; margin-top: 2rem; }
h3 { font-size: 1.05rem; margin: 1.5rem 0 0.5rem; }
.meta, .empty { color: #555; }
figure.chart { margin: 1rem 0; }
figcaption { font-weight: 600; margin-bottom: 0.3rem; }
.canvas-box { position: relative; width: 100%; }
table { border-collapse: collapse; margin: 0.5rem 0 1.2rem; font-size: 0.9rem; width: 100%; }
th, td { text-align: left; padding: 3px 8px; border-bottom: 1px solid #e2e2e2; vertical-align: top; }
th { border-bottom: 2px solid #bbb; }
.num { text-align: right; font-variant-numeric: tabular-nums; }
@page { margin: 14mm; }
@media print {
  :root { font-size: 10pt; }
  body { max-width: none; margin: 0; padding: 0; }
  figure.chart, table { break-inside: avoid; }
  h2, h3 { break-after: avoid; }
  section.app + section.app { break-before: page; }
}
`;
